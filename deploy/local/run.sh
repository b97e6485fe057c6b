#!/usr/bin/env bash
# `make run`: the local broker, every service as its own process, demo traffic, and where to look.
# Ctrl-C stops everything this script started.   `deploy/local/run.sh stop` stops a detached run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
VAR="$ROOT/var"
LOGS="$VAR/logs"
PIDS="$VAR/pids"
SERVICES=(order_watcher notifier returns care gateway dashboard simulator.play)
HELPERS=(tail)

stop_all() {
    local pids=()
    for name in "${SERVICES[@]}" "${HELPERS[@]}"; do
        if [ -f "$PIDS/$name.pid" ]; then
            pids+=("$(cat "$PIDS/$name.pid")")
            kill "${pids[-1]}" 2>/dev/null || true
            rm -f "$PIDS/$name.pid"
        fi
    done
    # Let the services leave their consumer groups before the broker goes away.
    for _ in $(seq 1 60); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.5
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done  # none may outlive the broker
    if [ -f "$VAR/broker.started" ]; then
        deploy/kafka/broker.sh stop || true
        rm -f "$VAR/broker.started"
    fi
}

if [ "${1:-}" = "stop" ]; then stop_all; exit 0; fi

mkdir -p "$LOGS" "$PIDS"
if ! deploy/kafka/broker.sh status >/dev/null 2>&1; then
    deploy/kafka/broker.sh start
    touch "$VAR/broker.started"
fi
trap 'echo; echo "stopping..."; stop_all; exit 0' INT TERM

export FOREWARN_DATABASE_URL="${FOREWARN_DATABASE_URL:-sqlite+aiosqlite:///$VAR/forewarn.db}"
export FOREWARN_NOTIFIER_OUTBOX_PATH="${FOREWARN_NOTIFIER_OUTBOX_PATH:-$VAR/outbox.jsonl}"
export FOREWARN_DATA_DIR="${FOREWARN_DATA_DIR:-$VAR/data}"
# The gateway keeps its dedupe table in its own SQLite file, off the notifier's single connection.
export FOREWARN_GATEWAY_DATABASE_URL="${FOREWARN_GATEWAY_DATABASE_URL:-sqlite+aiosqlite:///$VAR/gateway.db}"
export FOREWARN_GATEWAY_PUBLIC_BASE_URL="${FOREWARN_GATEWAY_PUBLIC_BASE_URL:-http://127.0.0.1:8080}"
export FOREWARN_NOTIFIER_PUBLIC_BASE_URL="${FOREWARN_NOTIFIER_PUBLIC_BASE_URL:-$FOREWARN_GATEWAY_PUBLIC_BASE_URL}"
# A Shopify webhook secret for this run only, shared with the simulator's signed demo webhook.
if [ -z "${FOREWARN_GATEWAY_SHOPIFY_SECRET:-}" ]; then
    FOREWARN_GATEWAY_SHOPIFY_SECRET="$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
    export FOREWARN_GATEWAY_SHOPIFY_SECRET
fi
# Care keeps its cases in its own SQLite file too, and reads the notifier's ledger read-only; tickets go to a
# local file unless a help desk is configured (FOREWARN_CARE_DESK=zendesk|webhook).
export FOREWARN_CARE_DATABASE_URL="${FOREWARN_CARE_DATABASE_URL:-sqlite+aiosqlite:///$VAR/care.db}"
export FOREWARN_CARE_OUTBOX_PATH="${FOREWARN_CARE_OUTBOX_PATH:-$VAR/care-desk.jsonl}"
export FOREWARN_SIMULATOR_GATEWAY_URL="http://127.0.0.1:${FOREWARN_GATEWAY_PORT:-8080}"
export FOREWARN_SIMULATOR_SHOPIFY_SECRET="$FOREWARN_GATEWAY_SHOPIFY_SECRET"
# A Twilio auth token for this run only: the demo customers' SMS replies reach the gateway signed, as Twilio's do.
if [ -z "${FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN:-}" ]; then
    FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN="$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
    export FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN
fi
export FOREWARN_SIMULATOR_TWILIO_AUTH_TOKEN="$FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN"

for name in "${SERVICES[@]}"; do
    # A fresh log per run (the last one is kept as .1): the readiness wait below must not find an old " ready".
    [ -f "$LOGS/$name.log" ] && mv "$LOGS/$name.log" "$LOGS/$name.log.1"
    "$PY" -m "services.$name" >"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
done
for name in "${SERVICES[@]}"; do
    for _ in $(seq 1 120); do
        grep -q " ready" "$LOGS/$name.log" 2>/dev/null && break
        kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null || { tail -30 "$LOGS/$name.log"; stop_all; exit 1; }
        sleep 0.5
    done
done
"$PY" -m services.simulator || { echo "the demo traffic could not be sent; stopping"; stop_all; exit 1; }

cat <<EOM

Forewarn is running.
  broker          127.0.0.1:9092 (Apache Kafka, KRaft)   log: deploy/kafka/.run/9092/logs/broker.log
  outbox          $FOREWARN_NOTIFIER_OUTBOX_PATH   (every SMS and email, as the customer would see it)
  ledger          ${FOREWARN_DATABASE_URL#*///}
  gateway         $FOREWARN_SIMULATOR_GATEWAY_URL   (webhooks, unsubscribe links; /healthz, /metrics)
  dashboard       http://127.0.0.1:${FOREWARN_DASHBOARD_PORT:-8090}   (topics, lag, incidents, messages, dead letters)
  care desk       $FOREWARN_CARE_OUTBOX_PATH   (help-desk tickets for customers a person should help)
  the store       $LOGS/simulator.play.log   (demo customers answer their SMS; the store acts on their choices)
  service logs    $LOGS/{order_watcher,notifier,returns,care,gateway,dashboard,simulator.play}.log
SMS outside 08:00-21:00 in the customer's own time zone wait in the ledger until morning (state "deferred").
Press Ctrl-C to stop everything. Messages as they go out:
EOM
touch "$FOREWARN_NOTIFIER_OUTBOX_PATH"
tail -n +1 -F "$FOREWARN_NOTIFIER_OUTBOX_PATH" &
echo $! >"$PIDS/tail.pid"
while true; do sleep 1; done
