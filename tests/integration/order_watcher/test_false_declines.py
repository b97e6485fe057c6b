"""A likely-false decline gets a gentle retry offer only when no payment went through within the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.order_watcher.support import declined, events_on, send, start_watcher, succeeded
from tests.support.events import order_placed

pytestmark = pytest.mark.integration

WINDOW_S = 4


def test_decline_then_success_within_window_is_quiet_and_decline_alone_is_not(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    placed = [order_placed(oid, placed_at=now - timedelta(minutes=1), ship_in=timedelta(days=2),
                           customer_id=f"cus-{oid}") for oid in ("ord-paid", "ord-unpaid")]
    payments = [
        declined("ord-paid", now), succeeded("ord-paid", now + timedelta(seconds=1)),
        declined("ord-unpaid", now),
    ]
    watcher = start_watcher(kafka, topic_prefix, tmp_path, decline_window=str(WINDOW_S))
    try:
        send(kafka, f"{topic_prefix}orders", placed)
        send(kafka, f"{topic_prefix}payments", payments)
        # Long enough after the window for a wrong incident on ord-paid to show up.
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=1, settle=WINDOW_S + 2.0)
    finally:
        watcher.stop()

    log = watcher.log()[-3000:]
    assert [(e.type, e.data.kind, e.data.order_id) for e in incidents] == [
        ("incident.detected", "false_decline", "ord-unpaid")
    ], log
    facts = incidents[0].data.facts
    assert facts.retry_url and "ord-unpaid" in facts.retry_url
    assert incidents[0].data.detected_at == now + timedelta(seconds=WINDOW_S)
