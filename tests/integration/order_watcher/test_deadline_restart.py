"""A deadline survives a SIGKILL of the worker between the order and its due time, and fires exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.order_watcher.support import events_on, send, start_watcher, wait_consumed
from tests.support.events import order_placed

pytestmark = pytest.mark.integration


def test_ship_by_deadline_fires_once_after_kill_and_restart(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    watcher = start_watcher(kafka, topic_prefix, tmp_path, ship_grace="0")
    try:
        placed_at = datetime.now(UTC) - timedelta(minutes=5)
        due = datetime.now(UTC) + timedelta(seconds=10)
        order = order_placed("ord-kill-1", placed_at=placed_at, ship_in=due - placed_at)
        send(kafka, f"{topic_prefix}orders", [order])
        wait_consumed(kafka, topic_prefix, ["orders"])  # its state and deadline are in the changelogs
        watcher.kill()
        killed_at = datetime.now(UTC)
        watcher.start()
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=1, settle=4.0, timeout=60)
    finally:
        watcher.stop()
    log = watcher.log()

    assert killed_at < due, "the worker must die before the deadline, or this proves nothing"
    first_run = log.split("----- start #2 -----")[0]
    assert "incident not_shipped" not in first_run, first_run[-3000:]
    assert [(e.type, e.data.kind, e.data.order_id) for e in incidents] == [
        ("incident.detected", "not_shipped", "ord-kill-1")
    ], log[-3000:]
    assert incidents[0].data.detected_at == due  # event time: the due time, not when the tick came
    assert time.time() >= due.timestamp()
