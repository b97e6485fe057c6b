"""Pick the Kafka broker for tests: KAFKA_BOOTSTRAP_SERVERS, else testcontainers with Docker, else the local broker."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["docker_answers", "kafka_bootstrap"]

ROOT = Path(__file__).resolve().parents[2]
BROKER_SH = ROOT / "deploy" / "kafka" / "broker.sh"


def docker_answers() -> bool:
    """True only when a Docker daemon answers a ping (the client alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextmanager
def kafka_bootstrap() -> Iterator[str]:
    """Yield a bootstrap address; stop whatever this context started."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    port = os.environ.get("FOREWARN_TEST_KAFKA_PORT", "19092")
    env = {**os.environ, "KAFKA_PORT": port,
           "FOREWARN_KAFKA_HOME": str(ROOT / "deploy" / "kafka" / ".run" / f"test-{port}")}
    status = subprocess.run([str(BROKER_SH), "status"], env=env, capture_output=True, text=True)
    already_running = status.returncode == 0
    started = subprocess.run([str(BROKER_SH), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise RuntimeError(
            "the local Apache Kafka broker could not start (deploy/kafka/broker.sh start):\n"
            + started.stdout + started.stderr)
    print(started.stdout.strip())
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if not already_running:
            subprocess.run([str(BROKER_SH), "wipe"], env=env, capture_output=True, text=True)
