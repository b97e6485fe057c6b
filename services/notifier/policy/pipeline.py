"""The policy pipeline: channel and consent, coalescing, cap, quiet hours, staleness."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from .channel import choose_channel
from .coalescing import coalesce
from .frequency import frequency_cap
from .model import Channel, Decision, IncidentRef, OrderMessage, PolicySettings, Profile, Reason, require_aware
from .quiet_hours import quiet_hours
from .staleness import is_stale

__all__ = ["evaluate", "evaluate_follow_up"]


def evaluate(
    incident: IncidentRef,
    profile: Profile,
    *,
    now: datetime,
    settings: PolicySettings,
    messages_same_order: Sequence[OrderMessage] = (),
    sent_at: Sequence[datetime] = (),
    resolved_ids: Collection[str] = frozenset(),
) -> Decision:
    """Decide what to do with `incident` for `profile` at `now`.

    Steps, in order; the first that stops the message gives the reason:
    1. channel and consent (suppress: no_contact, opted_out, no_consent, ...);
    2. coalescing (suppress "coalesced" when already covered; join a pending message), on
       event time; deduplication of (incident, customer, channel) is the ledger's job, outside;
       an incident that overtakes a deferred message but would wait as long joins it instead;
    3. frequency cap, on the wall clock of sends (defer to when the cap allows, shifted out of
       quiet hours; or suppress when `settings.capped_action` is "suppress");
    4. quiet hours, on the customer's local wall clock now (defer to the next window start);
    5. staleness (suppress "resolved_before_send").
    A deferred message is evaluated again at `due_at`, leaving itself out of
    `messages_same_order`.
    """
    require_aware(now)
    choice = choose_channel(profile, settings)
    if choice.channel is None:
        return Decision("suppress", None, choice.reason, skipped_channels=choice.skipped)
    channel, skipped = choice.channel, choice.skipped

    merge = coalesce(messages_same_order, incident, now, settings)
    if merge.action == "suppress":
        return Decision("suppress", channel, Reason.COALESCED, skipped_channels=skipped)
    if merge.action == "join":
        return _join(incident, channel, merge.message_id, resolved_ids, skipped)

    decision = _own_message(incident, profile, channel, now, settings, sent_at, resolved_ids, skipped)
    behind = merge.overtakes_due_at
    if merge.overtakes is not None and decision.action == "defer" and behind is not None and (
            decision.due_at is None or decision.due_at >= behind):
        # It would wait at least as long as the message it overtook: one message, at that one's time.
        return _join(incident, channel, merge.overtakes, resolved_ids, skipped)
    return decision


def evaluate_follow_up(
    incident: IncidentRef,
    profile: Profile,
    *,
    now: datetime,
    settings: PolicySettings,
    sent_at: Sequence[datetime] = (),
    resolved_ids: Collection[str] = frozenset(),
) -> Decision:
    """Decide a follow-up that keeps a promise about `incident`: `evaluate` without coalescing.

    A follow-up is about trouble the customer was already told of, so the message that told
    them would cover it; every other step holds: channel and consent (the customer may have
    opted out since), the frequency cap (a follow-up counts like any message), quiet hours
    and staleness.
    """
    require_aware(now)
    choice = choose_channel(profile, settings)
    if choice.channel is None:
        return Decision("suppress", None, choice.reason, skipped_channels=choice.skipped)
    return _own_message(incident, profile, choice.channel, now, settings, sent_at, resolved_ids, choice.skipped)


def _join(
    incident: IncidentRef, channel: Channel, message_id: str | None, resolved_ids: Collection[str],
    skipped: tuple[tuple[str, Reason], ...],
) -> Decision:
    if is_stale(incident.incident_id, resolved_ids):
        return Decision("suppress", channel, Reason.RESOLVED_BEFORE_SEND, skipped_channels=skipped)
    return Decision("join", channel, Reason.COALESCED, join_message_id=message_id, skipped_channels=skipped)


def _own_message(
    incident: IncidentRef, profile: Profile, channel: Channel, now: datetime, settings: PolicySettings,
    sent_at: Sequence[datetime], resolved_ids: Collection[str], skipped: tuple[tuple[str, Reason], ...],
) -> Decision:
    """Steps 3 to 5 for an incident that gets a message of its own."""
    cap = frequency_cap(sent_at, incident.severity, now, settings)
    if not cap.allowed:
        if cap.retry_at is None or settings.capped_action == "suppress":
            return Decision("suppress", channel, Reason.FREQUENCY_CAP, skipped_channels=skipped)
        due = quiet_hours(channel, profile.timezone, cap.retry_at, settings) or cap.retry_at
        return Decision("defer", channel, Reason.FREQUENCY_CAP, due_at=due, skipped_channels=skipped)

    quiet_until = quiet_hours(channel, profile.timezone, now, settings)
    if quiet_until is not None:
        return Decision("defer", channel, Reason.QUIET_HOURS, due_at=quiet_until, skipped_channels=skipped)

    if is_stale(incident.incident_id, resolved_ids):
        return Decision("suppress", channel, Reason.RESOLVED_BEFORE_SEND, skipped_channels=skipped)
    return Decision("send", channel, skipped_channels=skipped)
