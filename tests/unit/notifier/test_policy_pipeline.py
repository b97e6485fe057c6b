"""evaluate(): the pipeline order and every decision it can return."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.policy import Decision, IncidentRef, OrderMessage, PolicySettings, Profile, Reason, evaluate

pytestmark = pytest.mark.unit

SETTINGS = PolicySettings()
NOON_NY = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 12:00 EDT
NIGHT_NY = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)  # 23:00 EDT
H = timedelta(hours=1)
PROFILE = Profile(
    customer_id="c1",
    store_id="acme",
    first_name="Ana",
    email="ana@example.com",
    phone="+14155550123",
    timezone="America/New_York",
)


def incident(at: datetime = NOON_NY, severity: str = "normal", incident_id: str = "inc-1") -> IncidentRef:
    return IncidentRef(incident_id=incident_id, order_id="ord-1", kind="stockout", severity=severity, detected_at=at)


def run(now: datetime = NOON_NY, **kwargs: object) -> Decision:
    args: dict[str, object] = {"incident": incident(now), "profile": PROFILE, "now": now, "settings": SETTINGS}
    args.update(kwargs)
    return evaluate(**args)  # type: ignore[arg-type]


def test_sends_now_by_sms() -> None:
    decision = run()
    assert (decision.action, decision.channel, decision.reason, decision.due_at) == ("send", "sms", None, None)


def test_no_usable_channel_is_suppressed_with_its_reason() -> None:
    profile = replace(PROFILE, opted_out=frozenset({"all"}))
    decision = run(profile=profile)
    assert (decision.action, decision.reason) == ("suppress", Reason.OPTED_OUT)
    assert run(profile=replace(PROFILE, phone=None, email=None)).reason == Reason.NO_CONTACT
    strict = replace(SETTINGS, require_explicit_consent=True)
    assert run(settings=strict).reason == Reason.NO_CONSENT


def test_fallback_to_email_is_not_held_by_quiet_hours() -> None:
    decision = run(NIGHT_NY, profile=replace(PROFILE, sms_permanently_failed=True))
    assert (decision.action, decision.channel) == ("send", "email")
    assert decision.skipped_channels == (("sms", Reason.SMS_PERMANENTLY_FAILED),)


def test_covered_by_a_sent_message_is_suppressed_as_coalesced() -> None:
    sent = OrderMessage("msg-1", "ord-1", frozenset({"inc-0"}), NOON_NY - 5 * timedelta(minutes=1), sent_at=NOON_NY)
    decision = run(messages_same_order=[sent])
    assert (decision.action, decision.reason) == ("suppress", Reason.COALESCED)


def test_joins_a_pending_message() -> None:
    pending = OrderMessage("msg-1", "ord-1", frozenset({"inc-0"}), NOON_NY, due_at=NOON_NY + 10 * H)
    decision = run(messages_same_order=[pending])
    assert (decision.action, decision.join_message_id, decision.reason) == ("join", "msg-1", Reason.COALESCED)


def test_a_resolved_incident_does_not_join() -> None:
    pending = OrderMessage("msg-1", "ord-1", frozenset({"inc-0"}), NOON_NY, due_at=NOON_NY + 10 * H)
    decision = run(messages_same_order=[pending], resolved_ids={"inc-1"})
    assert (decision.action, decision.reason) == ("suppress", Reason.RESOLVED_BEFORE_SEND)


def test_a_more_severe_incident_that_would_wait_as_long_joins_the_deferred_message() -> None:
    # Night: the first incident waits for 08:00; the more severe one would wait for 08:00 too.
    pending = OrderMessage("msg-1", "ord-1", frozenset({"inc-0"}), NIGHT_NY, due_at=datetime(2026, 6, 2, 12, 0,
                                                                                               tzinfo=UTC))
    decision = run(NIGHT_NY, incident=incident(NIGHT_NY, severity="high"), messages_same_order=[pending])
    assert (decision.action, decision.join_message_id) == ("join", "msg-1")


def test_a_critical_incident_does_not_wait_behind_a_capped_message() -> None:
    sent = [NOON_NY - 3 * H, NOON_NY - 2 * H, NOON_NY - H]
    pending = OrderMessage("msg-1", "ord-1", frozenset({"inc-0"}), NOON_NY, due_at=NOON_NY + 21 * H)
    decision = run(incident=incident(severity="critical"), sent_at=sent, messages_same_order=[pending])
    assert decision.action == "send"


def test_capped_message_is_deferred_until_the_cap_allows() -> None:
    sent = [NOON_NY - 10 * H, NOON_NY - 5 * H, NOON_NY - H]
    by_email = replace(PROFILE, channel_preferences=("email",))
    decision = run(sent_at=sent, profile=by_email)
    assert (decision.action, decision.channel, decision.reason) == ("defer", "email", Reason.FREQUENCY_CAP)
    assert decision.due_at == NOON_NY + 14 * H  # when the oldest of the three leaves the window


def test_capped_message_due_at_is_moved_out_of_quiet_hours() -> None:
    sent = [NOON_NY - 10 * H, NOON_NY - 5 * H, NOON_NY - H]
    decision = run(sent_at=sent)
    # the oldest leaves at 02:00 EDT on June 2; SMS then waits for 08:00 EDT = 12:00 UTC
    assert decision.due_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def test_capped_message_can_be_suppressed_by_setting() -> None:
    sent = [NOON_NY - 3 * H, NOON_NY - 2 * H, NOON_NY - H]
    decision = run(sent_at=sent, settings=replace(SETTINGS, capped_action="suppress"))
    assert (decision.action, decision.reason) == ("suppress", Reason.FREQUENCY_CAP)


def test_critical_passes_the_cap() -> None:
    sent = [NOON_NY - 3 * H, NOON_NY - 2 * H, NOON_NY - H]
    decision = run(incident=incident(severity="critical"), sent_at=sent)
    assert decision.action == "send"


def test_quiet_hours_defer_sms_to_the_next_morning() -> None:
    decision = run(NIGHT_NY, incident=incident(NIGHT_NY))
    assert (decision.action, decision.channel, decision.reason) == ("defer", "sms", Reason.QUIET_HOURS)
    assert decision.due_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def test_critical_sms_still_respects_quiet_hours() -> None:
    decision = run(NIGHT_NY, incident=incident(NIGHT_NY, severity="critical"))
    assert decision.action == "defer"


def test_resolved_before_send_is_withdrawn() -> None:
    decision = run(resolved_ids={"inc-1"})
    assert (decision.action, decision.reason) == ("suppress", Reason.RESOLVED_BEFORE_SEND)


def test_order_of_steps_decides_the_reason() -> None:
    # Opted out and resolved and at night: the first step (channel) gives the reason.
    decision = run(NIGHT_NY, profile=replace(PROFILE, opted_out=frozenset({"all"})), resolved_ids={"inc-1"})
    assert decision.reason == Reason.OPTED_OUT
    # At night and resolved: quiet hours come before staleness; re-evaluation at due time withdraws it.
    night = run(NIGHT_NY, incident=incident(NIGHT_NY), resolved_ids={"inc-1"})
    assert night.reason == Reason.QUIET_HOURS
    assert night.due_at is not None
    later = run(night.due_at, incident=incident(NIGHT_NY), resolved_ids={"inc-1"})
    assert later.reason == Reason.RESOLVED_BEFORE_SEND


def test_unknown_customer_zone_uses_the_store_zone() -> None:
    profile = replace(PROFILE, timezone="Not/AZone")
    settings = replace(SETTINGS, store_timezone="Europe/Berlin")
    at = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 22:00 in Berlin, 16:00 in New York
    decision = run(at, profile=profile, settings=settings, incident=incident(at))
    assert decision.action == "defer"
    assert decision.due_at == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)
