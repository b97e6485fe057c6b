"""The refund SLA on the real broker: overdue exactly once, never for a refund in time, and across a SIGKILL.

The returns service sends what it finds to `incident-candidates` (order_watcher's escalation step
publishes it on); these tests read the returns service's own output there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import CloudEvent
from tests.integration.returns.support import (
    events_on,
    received,
    refunded,
    requested,
    send,
    start_returns,
    wait_consumed,
)
from tests.support.events import order_placed
from tests.support.kafka_io import produce, read_topic

pytestmark = pytest.mark.integration

SLA = timedelta(hours=24)


def _kinds(events: list[CloudEvent], order_id: str) -> list[str]:
    return [e.data.kind for e in events if e.type == "incident.detected" and e.data.order_id == order_id]


def test_no_refund_within_the_sla_is_one_overdue_and_a_refund_at_three_hours_is_none(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    service = start_returns(kafka, topic_prefix, tmp_path)
    try:
        now = datetime.now(UTC)
        received_at = now - SLA + timedelta(seconds=8)  # the 24 h SLA runs out 8 s from now
        orders = [order_placed(oid, placed_at=now - timedelta(days=60), customer_id=f"cus-{oid}")
                  for oid in ("ord-late", "ord-prompt", "ord-window")]
        send(kafka, f"{topic_prefix}orders", orders)
        send(kafka, f"{topic_prefix}returns", [
            received("ord-late", received_at, customer_id="cus-ord-late"),
            received("ord-prompt", received_at, customer_id="cus-ord-prompt"),
            refunded("ord-prompt", received_at + timedelta(hours=3), customer_id="cus-ord-prompt"),
            requested("ord-window", now, delivered_at=now - timedelta(days=40), customer_id="cus-ord-window"),
        ])
        asyncio.run(produce(kafka, f"{topic_prefix}returns", [(b"ord-bad", b"{not json")]))
        # One receipt, one overdue and one case for a person; the settle covers several ticks past both deadlines.
        candidates = events_on(kafka, f"{topic_prefix}incident-candidates", expect=3, settle=4.0, timeout=60)
        dead = asyncio.run(read_topic(kafka, f"{topic_prefix}returns.dlq", expect=1, timeout=10))
    finally:
        service.stop()
    log = service.log()[-4000:]
    events = [e for e in candidates if e.type.startswith("incident.")]
    escalations = [e for e in candidates if e.type == "escalation.opened"]

    assert datetime.now(UTC) > received_at + SLA + timedelta(seconds=3), "the deadline must have passed"
    # The receipt is held a moment (a refund may be on its way) and the SLA ends 8 s after the start: the
    # two may come in either order (a fresh-clone run gave the overdue first); each exactly once.
    assert sorted(_kinds(events, "ord-late")) == ["refund_overdue", "return_received"], log
    assert _kinds(events, "ord-prompt") == [], log  # refunded before "refund by" could go out: not said
    overdue = next(e for e in events if e.type == "incident.detected" and e.data.kind == "refund_overdue")
    assert overdue.subject == "cus-ord-late"
    assert overdue.id == overdue.data.incident_id
    assert overdue.data.detected_at == received_at + SLA  # event time, not the tick's
    assert overdue.data.customer.phone == "+14155550123"  # from order.placed
    assert len(events) == 2, log
    # A request 40 days after delivery (window 30 days) goes to a person, and is not refused.
    assert [(e.type, e.subject, e.data.reason, e.data.tier) for e in escalations] == [
        ("escalation.opened", "cus-ord-window", "return_window_exceeded", 2)
    ], log
    assert [r.value for r in dead] == [b"{not json"]


def test_a_worker_killed_between_receipt_and_deadline_still_reports_one_overdue(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    service = start_returns(kafka, topic_prefix, tmp_path)
    try:
        now = datetime.now(UTC)
        received_at = now - SLA + timedelta(seconds=6)
        due = received_at + SLA
        send(kafka, f"{topic_prefix}orders", [order_placed("ord-kill", placed_at=now - timedelta(days=6))])
        send(kafka, f"{topic_prefix}returns", [received("ord-kill", received_at)])
        wait_consumed(kafka, topic_prefix, ["orders", "returns"])  # its state and deadline are in the changelogs
        service.kill()
        killed_at = datetime.now(UTC)
        service.start()
        events = events_on(kafka, f"{topic_prefix}incident-candidates", expect=2, settle=4.0, timeout=60)
    finally:
        service.stop()
    log = service.log()

    assert killed_at < due, "the worker must die before the deadline, or this proves nothing"
    first_run = log.split("----- start #2 -----")[0]
    assert "incident refund_overdue" not in first_run, first_run[-3000:]
    # The receipt (its deadline born overdue: held FOREWARN_OVERDUE_HOLD_S) and the overdue refund (due 6 s after
    # the start) may come in either order here; each exactly once.
    assert sorted(_kinds(events, "ord-kill")) == ["refund_overdue", "return_received"], log[-4000:]
    overdue = [e for e in events if e.data.kind == "refund_overdue"]
    assert len(overdue) == 1
    assert overdue[0].data.detected_at == due
