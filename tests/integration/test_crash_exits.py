"""A crashed Faust app does not linger: the process exits non-zero so a supervisor can restart it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.support.crashing_service import INPUT
from tests.support.kafka_io import produce
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def _env(kafka: str, topic_prefix: str, tmp_path: Path, crash_in: str) -> dict[str, str]:
    return {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
            "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
            "FOREWARN_CRASH_IN": crash_in}


def _exit_code(service: ServiceProcess, timeout: float = 60.0) -> int:
    assert service.proc is not None
    try:
        return service.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        service.kill()
        raise AssertionError("the crashed service kept running:\n" + service.log()[-3000:]) from None


def test_a_crashed_timer_exits(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    service = ServiceProcess("tests.support.crashing_service", _env(kafka, topic_prefix, tmp_path, "timer"),
                             tmp_path, name="crasher").start()
    assert _exit_code(service) != 0, service.log()[-2000:]
    assert "a bug in a timer" in service.log()


def test_an_agent_killed_by_an_exception_ends_the_process(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    service = ServiceProcess("tests.support.crashing_service", _env(kafka, topic_prefix, tmp_path, "agent"),
                             tmp_path, name="crasher").start()
    assert service.proc is not None and service.proc.poll() is None  # ready, and alive until a message comes
    asyncio.run(produce(kafka, f"{topic_prefix}{INPUT}", [(b"k", b"boom")]))
    assert _exit_code(service) != 0, service.log()[-2000:]
    assert "a bug in an agent" in service.log()
