"""One escalation path for all trouble: a late order, then an overdue refund for the same customer, is one case.

order_watcher and returns run as processes on the real broker. Both send what they find to
`incident-candidates`, keyed by customer id, and order_watcher's repeated-trouble step is the one
place that publishes `incidents` and `escalations`: the refund trouble is the customer's second
bad experience, and delivery plus refund trouble is complex (tier 2). The refund is overdue long
enough that returns also asks for a person about it; the incident already escalated, so that is
not a second case.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import make_event
from tests.integration.order_watcher.support import start_watcher
from tests.integration.returns.support import create_topics, events_on, received, send, start_returns
from tests.support.events import order_placed

pytestmark = pytest.mark.integration

CUSTOMER = "cus-mixed"


def test_a_late_order_then_an_overdue_refund_is_one_complex_escalation(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    late = order_placed("ord-late", placed_at=now - timedelta(days=2), customer_id=CUSTOMER)
    returned = order_placed("ord-returned", placed_at=now - timedelta(days=30), ship_in=timedelta(days=1),
                            deliver_in=timedelta(days=4), customer_id=CUSTOMER)
    delivered = make_event("shipment.updated", {
        "order_id": "ord-returned", "shipment_id": "sh-returned", "carrier": "dhl", "tracking_number": "JD1",
        "status": "delivered", "checkpoint_time": now - timedelta(days=27),
    }, source="carrier/dhl", subject="ord-returned", time=now - timedelta(days=27))
    # Received five days ago: overdue after the 24 h SLA, and past returns' own 72 h escalation too.
    receipt = received("ord-returned", now - timedelta(days=5), customer_id=CUSTOMER)
    create_topics(kafka, topic_prefix)
    watcher = start_watcher(kafka, topic_prefix, tmp_path)
    returns = start_returns(kafka, topic_prefix, tmp_path)
    try:
        send(kafka, f"{topic_prefix}shipments", [delivered])
        send(kafka, f"{topic_prefix}orders", [late, returned])
        [not_shipped] = events_on(kafka, f"{topic_prefix}incidents", expect=1, settle=2.0)
        send(kafka, f"{topic_prefix}returns", [receipt])
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=3, settle=4.0)
        escalations = events_on(kafka, f"{topic_prefix}escalations", expect=1, settle=4.0)
    finally:
        returns.stop()
        watcher.stop()
    logs = watcher.log()[-3000:] + returns.log()[-3000:]

    assert (not_shipped.data.kind, not_shipped.data.order_id) == ("not_shipped", "ord-late"), logs
    kinds = [(e.data.kind, e.data.order_id, e.source) for e in incidents if e.type == "incident.detected"]
    assert sorted(kinds) == [
        ("not_shipped", "ord-late", "forewarn/order-watcher"),
        ("refund_overdue", "ord-returned", "forewarn/returns"),
        ("return_received", "ord-returned", "forewarn/returns"),
    ], logs
    overdue = next(e for e in incidents if e.type == "incident.detected" and e.data.kind == "refund_overdue")
    assert overdue.data.escalate and overdue.data.escalation_tier == 2
    assert [(e.type, e.subject, e.data.incident_id, e.data.reason, e.data.tier, e.data.related_incident_ids)
            for e in escalations] == [
        ("escalation.opened", CUSTOMER, overdue.data.incident_id, "repeated_trouble", 2,
         [not_shipped.data.incident_id]),
    ], logs
