"""The refund SLA: overdue once, withdrawn when the money goes out late, escalated when very late."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.returns.rules import (
    REFUND_ESCALATE,
    REFUND_SLA,
    ReturnSettings,
    escalation_id,
    incident_id,
    pending_deadlines,
)
from tests.unit.returns.factories import T0, Desk, order_placed, received, refunded, rejected, requested

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
D = timedelta(days=1)
OVERDUE_ID = incident_id("refund_overdue", "o-1", "r-1", "sla")


def _received() -> Desk:
    return Desk().feed(order_placed(), requested(T0 - D), received(T0))


def test_no_refund_within_the_sla_is_one_refund_overdue() -> None:
    desk = _received().run(T0 + 2 * D)
    overdue = desk.of("refund_overdue")
    assert len(overdue) == 1
    incident = overdue[0]
    assert incident.incident_id == OVERDUE_ID
    assert incident.detected_at == T0 + D  # event time: the moment it became overdue, not the tick
    assert incident.severity == "high"
    assert incident.escalate is False
    assert incident.facts.refund_amount is not None
    assert incident.facts.product_name == "Trail boots"
    assert desk.escalations == []


def test_nothing_is_overdue_a_moment_before_the_sla() -> None:
    desk = _received().tick(T0 + D - timedelta(seconds=1))
    assert desk.of("refund_overdue") == []
    desk.tick(T0 + D)
    assert len(desk.of("refund_overdue")) == 1


def test_refund_at_three_hours_is_no_incident() -> None:
    desk = _received().tick(T0 + 2 * H).feed(refunded(T0 + 3 * H)).run(T0 + 10 * D)
    assert desk.kinds() == ["return_received"]
    # The receipt's "refund by" is moot now: withdrawn, in case its message has not gone out yet.
    assert [(r.kind, r.reason) for r in desk.resolutions] == [("return_received", "refund_issued")]
    assert desk.escalations == []


def test_refund_after_the_sla_withdraws_the_overdue_incident() -> None:
    desk = _received().run(T0 + 30 * H).feed(refunded(T0 + 30 * H))
    assert sorted(r.kind for r in desk.resolutions) == ["refund_overdue", "return_received"]
    [resolution] = [r for r in desk.resolutions if r.kind == "refund_overdue"]
    assert resolution.incident_id == OVERDUE_ID
    assert resolution.kind == "refund_overdue"
    assert resolution.reason == "refund_issued"
    assert resolution.customer_id == "cus-1"
    assert resolution.resolved_at == T0 + 30 * H
    desk.run(T0 + 10 * D, start=T0 + 31 * H)
    assert desk.escalations == []


def test_refund_issued_late_but_seen_before_the_tick_publishes_nothing() -> None:
    desk = _received().feed(refunded(T0 + 25 * H)).run(T0 + 10 * D)
    assert desk.of("refund_overdue") == []
    assert desk.resolutions == []


def test_overdue_beyond_the_escalation_threshold_opens_a_tier_two_case() -> None:
    desk = _received().run(T0 + 5 * D)
    assert len(desk.of("refund_overdue")) == 1
    [case] = desk.escalations
    assert case.tier == 2
    assert case.reason == "refund_overdue"
    assert case.kind == "refund_overdue"
    assert case.incident_id == OVERDUE_ID
    assert case.customer_id == "cus-1"
    assert case.store_id == "acme"
    assert case.order_id == "o-1"
    assert case.opened_at == T0 + D + 3 * D  # overdue by more than 72 h
    assert case.escalation_id == escalation_id(OVERDUE_ID, "refund_overdue")


def test_no_escalation_a_moment_before_the_threshold() -> None:
    desk = _received().run(T0 + 4 * D - timedelta(minutes=1), every=timedelta(minutes=30))
    assert desk.escalations == []


def test_found_overdue_only_after_the_threshold_it_is_reported_escalated() -> None:
    desk = _received().tick(T0 + 6 * D)  # the service was down for days
    [incident] = desk.of("refund_overdue")
    assert incident.escalate is True
    assert incident.escalation_tier == 2
    assert incident.detected_at == T0 + D
    assert len(desk.escalations) == 1


def test_escalation_threshold_is_a_store_setting() -> None:
    desk = Desk(ReturnSettings(overrides={"acme": {"refund_escalate_after": "PT6H"}}))
    desk.feed(order_placed(), received(T0)).run(T0 + 31 * H)
    assert [e.opened_at for e in desk.escalations] == [T0 + 30 * H]


def test_rejection_means_no_refund_is_owed() -> None:
    desk = _received().feed(rejected(T0 + 2 * H)).run(T0 + 10 * D)
    assert desk.of("refund_overdue") == []


def test_rejection_after_the_sla_withdraws_the_overdue_incident() -> None:
    desk = _received().run(T0 + 2 * D).feed(rejected(T0 + 2 * D))
    assert sorted((r.kind, r.reason) for r in desk.resolutions) == [
        ("refund_overdue", "return_rejected"), ("return_received", "return_rejected")
    ]
    desk.run(T0 + 10 * D, start=T0 + 2 * D)
    assert desk.escalations == []


def test_each_return_of_an_order_has_its_own_sla() -> None:
    desk = Desk().feed(order_placed(), received(T0, return_id="r-1"), received(T0 + 6 * H, return_id="r-2"))
    desk.run(T0 + 26 * H)
    assert [i.detected_at for i in desk.of("refund_overdue")] == [T0 + D]
    desk.run(T0 + 31 * H, start=T0 + 27 * H)
    assert [i.detected_at for i in desk.of("refund_overdue")] == [T0 + D, T0 + 30 * H]


def test_deadlines_follow_the_state() -> None:
    desk = _received()
    state = desk.state()
    assert state is not None
    kinds = {d.kind: d.due for d in pending_deadlines(state, ReturnSettings())}
    assert kinds[REFUND_SLA] == T0 + D
    assert kinds[REFUND_ESCALATE] == T0 + 4 * D
    desk.feed(refunded(T0 + H))
    state = desk.state()
    assert state is not None
    assert {d.kind for d in pending_deadlines(state, ReturnSettings())} == {"forget"}


def test_a_replayed_receipt_after_the_overdue_does_not_report_it_again() -> None:
    desk = _received().run(T0 + 2 * D)
    desk.feed(received(T0, event_id="a-second-copy")).run(T0 + 3 * D, start=T0 + 2 * D)
    assert len(desk.of("refund_overdue")) == 1
