"""A customer's second bad experience is escalated: the incident says so and an escalation is opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.order_watcher.support import events_on, send, start_watcher
from tests.support.events import order_placed

pytestmark = pytest.mark.integration


def test_second_late_order_of_a_customer_is_escalated(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    placed_at = datetime.now(UTC) - timedelta(days=2)
    orders = [order_placed(oid, placed_at=placed_at, customer_id="cus-twice", total={"amount": "89.00",
                                                                                     "currency": "USD"})
              for oid in ("ord-late-1", "ord-late-2")]
    watcher = start_watcher(kafka, topic_prefix, tmp_path)
    try:
        send(kafka, f"{topic_prefix}orders", orders)
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=2, settle=2.0)
        escalations = events_on(kafka, f"{topic_prefix}escalations", expect=1, settle=1.0)
    finally:
        watcher.stop()

    log = watcher.log()[-3000:]
    assert sorted((e.data.kind, e.data.order_id) for e in incidents) == [
        ("not_shipped", "ord-late-1"), ("not_shipped", "ord-late-2")
    ], log
    first, second = incidents  # per customer, in the order the escalation step saw them
    assert not first.data.escalate
    assert second.data.escalate and second.data.escalation_tier == 1
    assert [(e.type, e.data.incident_id, e.data.tier, e.data.related_incident_ids) for e in escalations] == [
        ("escalation.opened", second.data.incident_id, 1, [first.data.incident_id])
    ], log
