"""A crashed Faust app does not linger: the process exits non-zero so a supervisor can restart it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def test_a_crashed_service_exits(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
           "FOREWARN_PARTITIONS": "1", "FOREWARN_DATA_DIR": str(tmp_path / "data")}
    service = ServiceProcess("tests.support.crashing_service", env, tmp_path, name="crasher").start()
    assert service.proc is not None
    try:
        code = service.proc.wait(60)
    except subprocess.TimeoutExpired:
        service.kill()
        raise AssertionError("the crashed service kept running:\n" + service.log()[-2000:]) from None
    assert code != 0, service.log()[-2000:]
    assert "a bug in a timer" in service.log()
