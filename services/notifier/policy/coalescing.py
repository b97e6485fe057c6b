"""Coalescing: one message per order per incident burst."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .model import CoalesceDecision, IncidentRef, OrderMessage, PolicySettings, Reason, require_aware, severity_rank

__all__ = ["coalesce"]


def _same_burst(message: OrderMessage, incident: IncidentRef, settings: PolicySettings) -> bool:
    return abs(incident.detected_at - message.first_incident_at) <= settings.coalesce_window


def coalesce(
    messages_same_order: Sequence[OrderMessage],
    incoming: IncidentRef,
    now: datetime,
    settings: PolicySettings,
) -> CoalesceDecision:
    """Decide whether `incoming` gets a new message, joins a pending one, or is covered.

    `messages_same_order` are the order's pending and recently sent messages (leave out the
    message being re-evaluated). Covered (suppress "coalesced"): a sent message already
    carries the incident, or was about the same burst (its first incident within
    `coalesce_window` of this one) and was at least as severe; a more severe incident is
    news and gets its own message. Join: a pending message of the same burst, or one still
    waiting for its time (deferred), unless the incoming incident is more severe than a
    deferred message (it should not wait behind it).
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
            _same_burst(message, incoming, settings)
            and severity_rank(incoming.severity) <= severity_rank(message.severity)
        )
        if covered:
            return CoalesceDecision("suppress", message.message_id, Reason.COALESCED)
    for message in same:
        if not message.pending:
            continue
        if incoming.incident_id in message.incident_ids:
            return CoalesceDecision("join", message.message_id, Reason.COALESCED)
        waiting = message.due_at is not None and message.due_at > now
        if waiting and severity_rank(incoming.severity) > severity_rank(message.severity):
            continue
        if waiting or _same_burst(message, incoming, settings):
            return CoalesceDecision("join", message.message_id, Reason.COALESCED)
    return CoalesceDecision("new")
