"""The promise of the next update (promise_for) and the follow-up that keeps it (follow_up_due, evaluate_follow_up)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.policy import (
    PROMISE_SPANS,
    IncidentRef,
    PolicySettings,
    Profile,
    Promise,
    PromiseSettings,
    Reason,
    evaluate_follow_up,
    follow_up_due,
    promise_for,
    resolve_zone,
)

pytestmark = pytest.mark.unit

SETTINGS = PromiseSettings()
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_2PM_BERLIN = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
FRIDAY_2PM_BERLIN = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
KINDS = sorted({*PROMISE_SPANS, "refund_issued", "return_received", "return_rejected", "return_window_exceeded",
                "return_stalled"})
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "Pacific/Kiritimati",
         "America/St_Johns", None, "Not/AZone"]


def test_a_delay_promises_the_next_business_morning_in_the_customers_zone() -> None:
    promised = promise_for("not_shipped", MONDAY_2PM_BERLIN, "Europe/Berlin", SETTINGS)
    assert promised == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Berlin


def test_a_friday_promise_skips_the_weekend() -> None:
    promised = promise_for("tracking_stalled", FRIDAY_2PM_BERLIN, "Europe/Berlin", SETTINGS)
    assert promised is not None and promised.astimezone(BERLIN) == datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN)


def test_stock_waits_two_spans() -> None:
    promised = promise_for("stockout", MONDAY_2PM_BERLIN, "Europe/Berlin", SETTINGS)
    assert promised is not None and promised.astimezone(BERLIN) == datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)


@pytest.mark.parametrize("kind", ["refund_issued", "return_rejected", "return_window_exceeded", "return_received",
                                  "return_stalled"])
def test_final_and_acknowledging_messages_promise_nothing(kind: str) -> None:
    assert promise_for(kind, MONDAY_2PM_BERLIN, "Europe/Berlin", SETTINGS) is None


def test_the_last_follow_up_promises_nothing() -> None:
    assert promise_for("not_shipped", MONDAY_2PM_BERLIN, "UTC", SETTINGS, follow_up=1) is not None
    assert promise_for("not_shipped", MONDAY_2PM_BERLIN, "UTC", SETTINGS, follow_up=2) is None
    assert promise_for("not_shipped", MONDAY_2PM_BERLIN, "UTC", replace(SETTINGS, max_follow_ups=0)) is None


def test_without_business_mornings_the_promise_is_the_interval() -> None:
    quick = PromiseSettings(after=timedelta(seconds=6), business_mornings=False)
    assert promise_for("not_shipped", MONDAY_2PM_BERLIN, "UTC", quick) == MONDAY_2PM_BERLIN + timedelta(seconds=6)


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    kind=st.sampled_from(KINDS),
    zone=st.sampled_from(ZONES),
    hours=st.integers(min_value=1, max_value=96),
    morning=st.times(min_value=time(6, 0), max_value=time(12, 0)),
)
def test_a_promise_is_a_business_morning_at_least_the_span_away(
    now: datetime, kind: str, zone: str | None, hours: int, morning: time,
) -> None:
    settings = PromiseSettings(after=timedelta(hours=hours), morning=morning)
    promised = promise_for(kind, now, zone, settings)
    if kind not in PROMISE_SPANS:
        assert promised is None
        return
    assert promised is not None and promised.tzinfo is not None
    earliest = now + settings.after * PROMISE_SPANS[kind]
    assert promised >= earliest
    local = promised.astimezone(resolve_zone(zone, settings.store_timezone))
    assert local.weekday() < 5
    assert local.time().replace(tzinfo=None) >= morning or _in_gap(promised, local.tzinfo, morning)
    # The earliest such morning: a business morning a day earlier would be too soon.
    assert promised - earliest < timedelta(days=4)


def _in_gap(at: datetime, zone: object, morning: time) -> bool:
    """A morning that a spring-forward jump skipped: the promise is the instant the clocks jumped."""
    before = (at - timedelta(seconds=1)).astimezone(zone)  # type: ignore[arg-type]
    return before.time() < morning and before.utcoffset() != at.astimezone(zone).utcoffset()  # type: ignore[arg-type]


PROMISE = Promise(message_id="ntf-1", follow_up=0, due_at=MONDAY_2PM_BERLIN)


@pytest.mark.parametrize(("now", "open_incidents", "newer", "follow_up", "expected"), [
    (MONDAY_2PM_BERLIN - timedelta(seconds=1), 1, False, 0, ("wait", None, None)),
    (MONDAY_2PM_BERLIN, 1, False, 0, ("follow_up", 1, None)),
    (MONDAY_2PM_BERLIN, 2, False, 1, ("follow_up", 2, None)),
    (MONDAY_2PM_BERLIN, 0, False, 0, ("end", None, "resolved")),
    (MONDAY_2PM_BERLIN - timedelta(hours=1), 0, False, 0, ("end", None, "resolved")),
    (MONDAY_2PM_BERLIN, 1, True, 0, ("end", None, "superseded")),
    (MONDAY_2PM_BERLIN, 1, False, 2, ("end", None, "limit")),
])
def test_follow_up_decision(
    now: datetime, open_incidents: int, newer: bool, follow_up: int, expected: tuple[object, ...],
) -> None:
    decision = follow_up_due(replace(PROMISE, follow_up=follow_up), now=now, open_incidents=open_incidents,
                             newer_message=newer, settings=SETTINGS)
    assert (decision.action, decision.follow_up, decision.reason) == expected


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(
    steps=st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.booleans()), min_size=1, max_size=8),
    limit=st.integers(min_value=0, max_value=3),
)
def test_a_chain_never_exceeds_its_limit_nor_outlives_its_incidents(
    steps: list[tuple[int, bool]], limit: int,
) -> None:
    """However the order's state moves, a chain of promises gets at most `max_follow_ups` follow-ups, none once
    its incidents are resolved or a newer message went out."""
    settings = replace(SETTINGS, max_follow_ups=limit, business_mornings=False)
    now = MONDAY_2PM_BERLIN
    due = promise_for("not_shipped", now, "UTC", settings)
    place, sent = 0, 0
    for open_incidents, newer in steps:
        if due is None:
            break
        now = due
        decision = follow_up_due(Promise("m", place, due), now=now, open_incidents=open_incidents,
                                 newer_message=newer, settings=settings)
        if open_incidents == 0 or newer:
            assert decision.action == "end"
            break
        assert decision.action == "follow_up" and decision.follow_up == place + 1
        sent, place = sent + 1, place + 1
        due = promise_for("not_shipped", now, "UTC", settings, follow_up=place)
    assert sent <= limit


PROFILE = Profile(customer_id="c1", store_id="acme", first_name="Ana", email="ana@example.com",
                  phone="+14155550123", timezone="America/New_York")
POLICY = PolicySettings()
NOON_NY = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
INCIDENT = IncidentRef(incident_id="inc-1", order_id="ord-1", kind="not_shipped", severity="normal",
                       detected_at=NOON_NY - timedelta(days=1))


def test_a_follow_up_is_not_covered_by_the_message_it_follows() -> None:
    decision = evaluate_follow_up(INCIDENT, PROFILE, now=NOON_NY, settings=POLICY,
                                  sent_at=[NOON_NY - timedelta(days=1)])
    assert (decision.action, decision.channel) == ("send", "sms")


def test_a_follow_up_keeps_consent_caps_and_quiet_hours() -> None:
    opted_out = replace(PROFILE, opted_out=frozenset({"all"}))
    assert evaluate_follow_up(INCIDENT, opted_out, now=NOON_NY, settings=POLICY).reason == Reason.OPTED_OUT
    capped = evaluate_follow_up(INCIDENT, PROFILE, now=NOON_NY, settings=POLICY,
                                sent_at=[NOON_NY - timedelta(hours=h) for h in (1, 2, 3)])
    assert (capped.action, capped.reason, capped.due_at) == ("defer", Reason.FREQUENCY_CAP,
                                                             NOON_NY + timedelta(hours=21))
    night = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    quiet = evaluate_follow_up(INCIDENT, PROFILE, now=night, settings=POLICY)
    assert (quiet.action, quiet.reason, quiet.due_at) == ("defer", Reason.QUIET_HOURS,
                                                          datetime(2026, 6, 2, 12, 0, tzinfo=UTC))
    resolved = evaluate_follow_up(INCIDENT, PROFILE, now=NOON_NY, settings=POLICY, resolved_ids={"inc-1"})
    assert (resolved.action, resolved.reason) == ("suppress", Reason.RESOLVED_BEFORE_SEND)
