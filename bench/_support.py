"""What benchmarks share: the machine and commit, the local broker, a service as a process, consumer lag."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.processes import ServiceProcess

__all__ = [
    "RESULTS",
    "ROOT",
    "Service",
    "commit",
    "end_offsets",
    "group_lag",
    "in_process_main",
    "kafka_version",
    "local_broker",
    "machine",
]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BROKER_SH = ROOT / "deploy" / "kafka" / "broker.sh"


def in_process_main(doc: str, run: Callable[[int, int], dict[str, Any]]) -> None:
    """The command line of an in-process bench (`bench.rules`, `bench.steps`): `--events`, `--seed`, one JSON line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.seed)))


def kafka_version() -> str | None:
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", (ROOT / "deploy/kafka/pom.xml").read_text())
    return found.group(1) if found else None


def _meminfo_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_bytes": _meminfo_bytes(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kafka": kafka_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def commit() -> str | None:
    """HEAD's commit id, read from .git without running git (None outside a checkout)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except OSError:
        pass
    return None


@contextmanager
def local_broker(port: int, bootstrap: str | None = None) -> Iterator[str]:
    """A bootstrap address: `bootstrap` as given, else the local broker on `port` in a scratch home, wiped after."""
    if bootstrap:
        yield bootstrap
        return
    home = Path(tempfile.mkdtemp(prefix=f"forewarn-bench-kafka-{port}-"))
    env = {**os.environ, "KAFKA_PORT": str(port), "FOREWARN_KAFKA_HOME": str(home)}
    started = subprocess.run([str(BROKER_SH), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        raise RuntimeError(f"broker did not start on port {port}:\n{started.stdout}{started.stderr}")
    print(started.stdout.strip(), file=sys.stderr)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(BROKER_SH), "stop"], env=env, capture_output=True, text=True)
        shutil.rmtree(home, ignore_errors=True)


class Service(ServiceProcess):
    """A service as a process (see `tests.support.processes`), plus its resident memory for the figures."""

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (all its threads)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def end_offsets(bootstrap: str, topics: Iterable[str], partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def group_lag(admin: AIOKafkaAdminClient, group: str, ends: dict[TopicPartition, int]) -> int:
    """Messages up to `ends` the group has not committed yet."""
    committed = await admin.list_consumer_group_offsets(group)
    return sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in ends.items())
