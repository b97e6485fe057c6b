"""Coalescing: one message per order per burst; staleness of incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.policy import (
    IncidentRef,
    OrderMessage,
    PolicySettings,
    Reason,
    coalesce,
    is_stale,
    withdraw_resolved,
)

pytestmark = pytest.mark.unit

SETTINGS = PolicySettings()
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def incident(
    at: datetime, *, severity: str = "normal", incident_id: str = "inc-2", order_id: str | None = "ord-1"
) -> IncidentRef:
    return IncidentRef(
        incident_id=incident_id, order_id=order_id, kind="eta_slipped", severity=severity, detected_at=at
    )


def message(**fields: object) -> OrderMessage:
    base: dict[str, object] = {
        "message_id": "msg-1",
        "order_id": "ord-1",
        "incident_ids": frozenset({"inc-1"}),
        "first_incident_at": T0,
        "severity": "normal",
    }
    base.update(fields)
    return OrderMessage(**base)  # type: ignore[arg-type]


def test_no_messages_means_a_new_one() -> None:
    assert coalesce([], incident(T0), T0, SETTINGS).action == "new"


def test_joins_a_pending_message_of_the_same_burst() -> None:
    decision = coalesce([message(due_at=T0)], incident(T0 + 9 * M), T0 + 9 * M, SETTINGS)
    assert (decision.action, decision.message_id, decision.reason) == ("join", "msg-1", Reason.COALESCED)


def test_a_deferred_message_takes_later_incidents_too() -> None:
    pending = message(due_at=T0 + 20 * 60 * M)  # held for quiet hours until tomorrow morning
    assert coalesce([pending], incident(T0 + 3 * 60 * M), T0 + 3 * 60 * M, SETTINGS).action == "join"


def test_a_more_severe_incident_does_not_wait_behind_a_deferred_message() -> None:
    pending = message(due_at=T0 + 20 * 60 * M)
    now = T0 + 2 * M
    assert coalesce([pending], incident(now, severity="critical"), now, SETTINGS).action == "new"


def test_a_pending_message_due_now_and_outside_the_window_is_left_alone() -> None:
    now = T0 + 30 * M
    assert coalesce([message(due_at=T0)], incident(now), now, SETTINGS).action == "new"


def test_covered_by_a_message_sent_in_the_same_burst() -> None:
    sent = message(sent_at=T0 + M)
    decision = coalesce([sent], incident(T0 + 5 * M), T0 + 5 * M, SETTINGS)
    assert (decision.action, decision.reason) == ("suppress", Reason.COALESCED)


def test_a_sent_message_outside_the_window_does_not_cover() -> None:
    sent = message(sent_at=T0 + M)
    assert coalesce([sent], incident(T0 + 11 * M), T0 + 11 * M, SETTINGS).action == "new"


def test_a_more_severe_turn_of_the_same_burst_is_not_news_once_a_message_went_out() -> None:
    # An ETA slip went out first (a restart split them); the carrier exception that caused it follows.
    sent = message(sent_at=T0 + M)
    assert coalesce([sent], incident(T0, severity="high"), T0 + 2 * M, SETTINGS).action == "suppress"
    assert coalesce([sent], incident(T0 + 2 * M, severity="high"), T0 + 2 * M, SETTINGS).action == "suppress"


def test_a_critical_incident_is_news_after_a_message_that_was_not() -> None:
    sent = message(sent_at=T0 + M, severity="high")
    assert coalesce([sent], incident(T0 + 2 * M, severity="critical"), T0 + 2 * M, SETTINGS).action == "new"
    told = message(sent_at=T0 + M, severity="critical")
    assert coalesce([told], incident(T0 + 2 * M, severity="critical"), T0 + 2 * M, SETTINGS).action == "suppress"


def test_the_burst_is_event_time_however_late_the_incidents_arrive() -> None:
    # Both incidents happened two days ago; the first message went out just now.
    then = T0 - 48 * 60 * M
    sent = message(first_incident_at=then, sent_at=T0)
    assert coalesce([sent], incident(then + 9 * M), T0 + M, SETTINGS).action == "suppress"
    assert coalesce([sent], incident(then - 9 * M), T0 + M, SETTINGS).action == "suppress"  # arrived out of order
    assert coalesce([sent], incident(then + 11 * M), T0 + M, SETTINGS).action == "new"  # another burst


def test_a_more_severe_incident_names_the_deferred_message_it_overtakes() -> None:
    pending = message(due_at=T0 + 20 * 60 * M)
    decision = coalesce([pending], incident(T0 + 2 * M, severity="high"), T0 + 2 * M, SETTINGS)
    assert (decision.action, decision.overtakes, decision.overtakes_due_at) == ("new", "msg-1", T0 + 20 * 60 * M)


def test_an_incident_already_in_a_sent_message_is_covered_whenever_it_comes_back() -> None:
    sent = message(sent_at=T0 + M, incident_ids=frozenset({"inc-2"}))
    later = T0 + 5 * 60 * M
    assert coalesce([sent], incident(later, severity="critical"), later, SETTINGS).action == "suppress"


def test_other_orders_and_orderless_incidents_never_coalesce() -> None:
    other = message(order_id="ord-9", sent_at=T0)
    assert coalesce([other], incident(T0 + M), T0 + M, SETTINGS).action == "new"
    assert coalesce([message(sent_at=T0)], incident(T0 + M, order_id=None), T0 + M, SETTINGS).action == "new"


def test_an_incident_already_in_a_pending_message_rejoins_it() -> None:
    pending = message(incident_ids=frozenset({"inc-2"}), due_at=T0 + 30 * M)
    assert coalesce([pending], incident(T0 + 60 * M, severity="critical"), T0, SETTINGS).action == "join"


def test_staleness() -> None:
    assert is_stale("inc-1", {"inc-1", "inc-7"})
    assert not is_stale("inc-2", {"inc-1"})
    assert withdraw_resolved(["a", "b", "c"], {"b"}) == (("a", "c"), ("b",))


def test_incident_ref_reads_contract_objects() -> None:
    from enum import StrEnum
    from types import SimpleNamespace

    class Severity(StrEnum):
        HIGH = "high"

    raw = SimpleNamespace(
        incident_id="i", order_id="o", kind="stockout", severity=Severity.HIGH, detected_at=T0, escalate=True
    )
    ref = IncidentRef.of(raw)
    assert (ref.severity, ref.order_id, ref.escalate) == ("high", "o", True)
    with pytest.raises(ValueError):
        IncidentRef.of(SimpleNamespace(incident_id="i", order_id=None, kind="k", detected_at=datetime(2026, 1, 1)))
