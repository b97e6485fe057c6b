"""Coalescing: one message per order per incident burst, the burst measured in event time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .model import CoalesceDecision, IncidentRef, OrderMessage, PolicySettings, Reason, require_aware, severity_rank

__all__ = ["coalesce", "is_news"]

CRITICAL = severity_rank("critical")


def _same_burst(message: OrderMessage, incident: IncidentRef, settings: PolicySettings) -> bool:
    """Event time against event time: the incident happened within `coalesce_window` of the message's first."""
    first = require_aware(message.first_incident_at, "first_incident_at")
    return abs(require_aware(incident.detected_at, "detected_at") - first) <= settings.coalesce_window


def is_news(message: OrderMessage, incident: IncidentRef) -> bool:
    """A critical incident (a lost or damaged parcel) is news after a message that was not critical.

    Anything less is not: a carrier exception and the ETA slip it causes, or a later, more
    severe turn of the same trouble, are one story for the customer, told once.
    """
    return severity_rank(incident.severity) >= CRITICAL > severity_rank(message.severity)


def coalesce(
    messages_same_order: Sequence[OrderMessage],
    incoming: IncidentRef,
    now: datetime,
    settings: PolicySettings,
) -> CoalesceDecision:
    """Decide whether `incoming` gets a new message, joins a pending one, or is covered.

    `messages_same_order` are the order's pending and sent messages (leave out the message
    being re-evaluated). A burst is every incident whose event time (`detected_at`) lies
    within `coalesce_window` of a message's first incident: arrival order, delay (incidents
    hours old) and redelivery do not change it. `now` (wall clock) is only compared with
    `due_at` (wall clock), to tell whether a pending message is still waiting for its time.

    Covered (suppress "coalesced"): a sent message already carries the incident, or was
    about the same burst and the incident is not news (`is_news`). Join: a pending message
    that carries it, a pending message of the same burst, or one still waiting for its time
    (deferred), unless the incoming incident is more severe than that deferred message: then
    it is "new" and names the message it overtakes, so the pipeline can still join it when the
    new message would not go out any sooner.
    """
    require_aware(now)
    if incoming.order_id is None:
        return CoalesceDecision("new")
    same = sorted(
        (m for m in messages_same_order if m.order_id == incoming.order_id),
        key=lambda m: m.first_incident_at,
    )
    for message in same:
        if message.pending:
            continue
        covered = incoming.incident_id in message.incident_ids or (
            _same_burst(message, incoming, settings) and not is_news(message, incoming)
        )
        if covered:
            return CoalesceDecision("suppress", message.message_id, Reason.COALESCED)
    overtaken: OrderMessage | None = None
    for message in same:
        if not message.pending:
            continue
        if incoming.incident_id in message.incident_ids:
            return CoalesceDecision("join", message.message_id, Reason.COALESCED)
        waiting = message.due_at is not None and message.due_at > now
        if waiting and severity_rank(incoming.severity) > severity_rank(message.severity):
            overtaken = overtaken or message
            continue
        if waiting or _same_burst(message, incoming, settings):
            return CoalesceDecision("join", message.message_id, Reason.COALESCED)
    if overtaken is not None:
        return CoalesceDecision("new", overtakes=overtaken.message_id, overtakes_due_at=overtaken.due_at)
    return CoalesceDecision("new")
