#!/usr/bin/env bash
# The local Apache Kafka broker: one KRaft node (broker + controller) from Maven Central jars.
#
#   deploy/kafka/broker.sh start|stop|status|logs|fetch|bootstrap
#
# Settings (environment):
#   KAFKA_PORT          client port on 127.0.0.1                 (default 9092)
#   KAFKA_CONTROLLER_PORT controller port on 127.0.0.1           (default KAFKA_PORT + 1)
#   FOREWARN_KAFKA_HOME state, logs and pid file                  (default deploy/kafka/.run/<port>)
#   FOREWARN_KAFKA_CACHE where the jars are cached once           (default deploy/kafka/.cache)
#   KAFKA_HEAP          JVM heap                                  (default 1g)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
CACHE="${FOREWARN_KAFKA_CACHE:-$HERE/.cache}"
HOME_DIR="${FOREWARN_KAFKA_HOME:-$HERE/.run/$PORT}"
HEAP="${KAFKA_HEAP:-1g}"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
LIBS="$CACHE/libs-$VERSION"
PIDFILE="$HOME_DIR/broker.pid"
LOGFILE="$HOME_DIR/logs/broker.log"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"

die() { echo "broker.sh: $*" >&2; exit 1; }

need_tools() {
    command -v java >/dev/null 2>&1 || die "java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
    local major
    major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "Kafka $VERSION needs Java 17 or newer; found ${major:-unknown}"
}

fetch() {
    need_tools
    if [ -f "$LIBS/.complete" ]; then return 0; fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (Debian: apt-get install maven) to fetch the Kafka jars once"
    echo "broker.sh: fetching Apache Kafka $VERSION jars from Maven Central into $LIBS" >&2
    rm -rf "$LIBS.tmp" && mkdir -p "$LIBS.tmp"
    mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 \
        || die "mvn could not fetch the Kafka jars (is Maven Central reachable?)"
    touch "$LIBS.tmp/.complete"
    rm -rf "$LIBS" && mv "$LIBS.tmp" "$LIBS"
}

java_run() {
    # shellcheck disable=SC2086
    java -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
        -Dkafka.logs.dir="$HOME_DIR/logs" \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        -cp "$LIBS/*" "$@"
}

running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
    mkdir -p "$HOME_DIR/data" "$HOME_DIR/logs"
    cat >"$HOME_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$HOME_DIR/data
num.partitions=1
# Topics are created by the services (services/common/kafka.py) with the partition count co-partitioning
# needs; a client asking for a topic that does not exist must not create it with the default of 1.
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=67108864
message.max.bytes=8388608
EOF
}

# Ready means: a client can fetch metadata. We ask with the project's own Python client when
# available, else we accept an open client port plus the broker's own "started" log line.
wait_ready() {
    local pid="$1" deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$pid" 2>/dev/null || { tail -30 "$LOGFILE" >&2 || true; die "broker exited during start; log: $LOGFILE"; }
        if port_open "$PORT" && grep -q "Kafka Server started\|\[KafkaRaftServer nodeId=1\] Kafka Server started" "$LOGFILE" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    die "broker not ready after ${READY_TIMEOUT}s; log: $LOGFILE"
}

start() {
    local t0=$SECONDS pid
    if pid="$(running_pid)"; then
        echo "broker.sh: already running (pid $pid) on 127.0.0.1:$PORT"
        return 0
    fi
    if port_open "$PORT"; then die "port $PORT is taken by another process; set KAFKA_PORT"; fi
    fetch
    write_config
    if [ ! -f "$HOME_DIR/data/meta.properties" ]; then
        local cluster_id
        cluster_id="$(java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
        java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$HOME_DIR/server.properties" >"$HOME_DIR/logs/format.log" 2>&1 \
            || { cat "$HOME_DIR/logs/format.log" >&2; die "could not format KRaft storage in $HOME_DIR/data"; }
    fi
    : >"$LOGFILE"
    nohup java -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
        -Dkafka.logs.dir="$HOME_DIR/logs" \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        -cp "$LIBS/*" kafka.Kafka "$HOME_DIR/server.properties" \
        >"$HOME_DIR/logs/stdout.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
    wait_ready "$pid"
    echo "broker.sh: Apache Kafka $VERSION (KRaft) ready on 127.0.0.1:$PORT, pid $pid, in $((SECONDS - t0))s; log: $LOGFILE"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        echo "broker.sh: not running"
        rm -f "$PIDFILE"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "broker.sh: broker did not stop in 30s; killing" >&2
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    echo "broker.sh: stopped"
}

status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running pid=$pid bootstrap=127.0.0.1:$PORT version=$VERSION"
    else
        echo "stopped"
        return 3
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    logs) tail -n "${LINES:-100}" -f "$LOGFILE" ;;
    fetch) fetch ;;
    bootstrap) echo "127.0.0.1:$PORT" ;;
    wipe) stop; rm -rf "$HOME_DIR" ;;
    *) echo "usage: $0 start|stop|restart|status|logs|fetch|bootstrap|wipe" >&2; exit 2 ;;
esac
