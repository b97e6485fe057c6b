"""Repeated trouble: a customer's second bad experience within the window goes to a person.

Every detector's incidents come here in order per customer (orders, stock and returns alike), so a
late parcel followed by an overdue refund is a second bad experience. This is the one place that
opens cases: a detector that wants a person for one incident on its own (a refund long overdue, a
return asked for after the window) sends its `escalation.opened` through here too, and an incident
has at most one open case: one already escalated for repeated trouble is not opened again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas import EscalationOpenedData, IncidentDetectedData, Money
from schemas.kinds import escalation_class
from schemas.values import Tier
from services.common.ids import stable_id
from services.order_watcher.rules.settings import WatchSettings

__all__ = [
    "EscalationOutcome",
    "Trouble",
    "TroubleHistory",
    "escalation_id",
    "on_escalation",
    "on_incident",
]

class Trouble(BaseModel):
    """One bad-experience incident the customer had."""

    model_config = ConfigDict(extra="forbid")

    incident_id: str
    kind: str
    order_id: str | None = None
    detected_at: AwareDatetime
    complex: bool = False
    tier: Tier | None = Field(default=None, description="the tier it escalated at; None when it did not")


class TroubleHistory(BaseModel):
    """A customer's recent bad experiences, newest last, bounded in count and by the window."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str
    troubles: list[Trouble] = Field(default_factory=list)


@dataclass(frozen=True)
class EscalationOutcome:
    """The new history and the decision for this incident (with the incident marked accordingly)."""

    history: TroubleHistory
    incident: IncidentDetectedData
    escalate: bool = False
    tier: Tier | None = None
    escalation: EscalationOpenedData | None = None


def escalation_id(customer_id: str, incident_id: str) -> str:
    """`esc-` + 24 hex of sha256(customer, incident): replaying an incident opens the same case."""
    return stable_id("esc", customer_id, incident_id)


def _experience(trouble: Trouble) -> str:
    """Incidents on one order are one experience (a late parcel may stall, slip and miss its date)."""
    return trouble.order_id or trouble.incident_id


def _near(a: datetime, b: datetime, settings: WatchSettings) -> bool:
    return abs(a - b) <= settings.escalation_window


def _decide(
    trouble: Trouble, others: list[Trouble], value: Money | None, settings: WatchSettings, requested: Tier | None
) -> tuple[Tier | None, list[Trouble]]:
    """The tier to escalate at (None: do not), and the earlier troubles that justify it.

    Refund or lost-parcel trouble anywhere in the mix makes the case complex (at least tier 2); a
    tier the detector asked for (`requested`) is never lowered."""
    related = [t for t in others if _near(t.detected_at, trouble.detected_at, settings)]
    experiences = {_experience(t) for t in related}
    if _experience(trouble) in experiences or not experiences:
        return None, related  # first experience, or more of one already counted
    count = len(experiences) + 1
    tier: Tier = requested or 1
    if trouble.complex or any(t.complex for t in related):
        tier = max(tier, 2)
    if value is not None and value.amount >= settings.high_value_threshold:
        tier = max(tier, 2)
    if count >= 3:
        tier = 3
    return tier, related


def on_incident(
    history: TroubleHistory | None,
    incident: IncidentDetectedData,
    order_value: Money | None,
    settings: WatchSettings,
) -> EscalationOutcome:
    """Record an incident for its customer and decide whether it escalates (and at which tier).

    Windows are by event time (detected_at). The same incident id again yields the same
    decision (so a redelivered incident re-sends the same escalation id) without counting twice.
    """
    settings = settings.for_store(incident.store_id)
    customer_id = incident.customer.id
    current = history if history is not None else TroubleHistory(customer_id=customer_id)
    counts_as = escalation_class(incident.kind, incident.facts.exception_reason)
    if counts_as == "journey":  # an update on the customer's own journey is no bad experience
        return EscalationOutcome(history=current, incident=incident)
    value = order_value or incident.facts.order_total
    requested = incident.escalation_tier if incident.escalate else None
    known = next((t for t in current.troubles if t.incident_id == incident.incident_id), None)
    if known is not None:
        others = [t for t in current.troubles if t.detected_at < known.detected_at]
        _, related = _decide(known, others, value, settings, requested)
        return _outcome(current, incident, known.tier, related)
    trouble = Trouble(
        incident_id=incident.incident_id,
        kind=incident.kind,
        order_id=incident.order_id,
        detected_at=incident.detected_at,
        complex=counts_as == "complex",
    )
    tier, related = _decide(trouble, current.troubles, value, settings, requested)
    trouble.tier = tier
    newest = max([trouble.detected_at, *(t.detected_at for t in current.troubles)])
    kept = [t for t in [*current.troubles, trouble] if newest - t.detected_at <= settings.escalation_window]
    kept.sort(key=lambda t: (t.detected_at, t.incident_id))
    history_out = TroubleHistory(customer_id=customer_id, troubles=kept[-settings.escalation_history_limit :])
    return _outcome(history_out, incident, tier, related)


def _outcome(
    history: TroubleHistory, incident: IncidentDetectedData, tier: Tier | None, related: list[Trouble]
) -> EscalationOutcome:
    if tier is None:
        return EscalationOutcome(history=history, incident=incident)
    escalation = EscalationOpenedData(
        escalation_id=escalation_id(incident.customer.id, incident.incident_id),
        customer_id=incident.customer.id,
        incident_id=incident.incident_id,
        kind=incident.kind,
        tier=tier,
        reason="repeated_trouble",
        order_id=incident.order_id,
        store_id=incident.store_id,
        related_incident_ids=[t.incident_id for t in related],
        opened_at=incident.detected_at,
    )
    marked = incident.model_copy(update={"escalate": True, "escalation_tier": tier})
    return EscalationOutcome(history=history, incident=marked, escalate=True, tier=tier, escalation=escalation)


def on_escalation(history: TroubleHistory | None, case: EscalationOpenedData) -> bool:
    """Whether a detector's own case for a person about one incident is opened (published).

    Not when that incident was already escalated here as repeated trouble: a person has it, at a
    tier at least as high as the detector asked for (see `_decide`); one incident, one case."""
    if history is None:
        return True
    known = next((t for t in history.troubles if t.incident_id == case.incident_id), None)
    return known is None or known.tier is None
