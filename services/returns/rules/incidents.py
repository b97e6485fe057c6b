"""Deterministic incident and escalation ids, and the builders for their payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from schemas import CustomerRef, EscalationOpenedData, IncidentDetectedData, IncidentFacts
from schemas.kinds import severity_for
from schemas.values import IncidentKind, Tier
from services.common.ids import stable_id

__all__ = [
    "ESCALATION_TIER",
    "build_escalation",
    "build_incident",
    "escalation_id",
    "incident_id",
]

ESCALATION_TIER: Final[Tier] = 2
"""Returns that need a person (money, or a decision outside policy) go to tier 2."""


def incident_id(kind: str, order_id: str, return_id: str, cause: str) -> str:
    """`inc-` + 24 hex of sha256(kind, order, return, cause): the same cause always yields the same id."""
    return stable_id("inc", kind, order_id, return_id, cause)


def escalation_id(incident_id: str, reason: str) -> str:
    """`esc-` + 24 hex of sha256(incident, reason): replaying the cause opens the same case."""
    return stable_id("esc", incident_id, reason)


def build_incident(
    *,
    incident_id: str,
    kind: IncidentKind,
    order_id: str,
    store_id: str,
    customer: CustomerRef,
    facts: IncidentFacts,
    cause_event_ids: list[str],
    detected_at: datetime,
    escalate: bool = False,
    order_number: str | None = None,
) -> IncidentDetectedData:
    """An incident as the return rules emit it, at the catalogue's severity (schemas/kinds.py); an escalated one
    carries tier 2."""
    return IncidentDetectedData(
        incident_id=incident_id,
        kind=kind,
        order_id=order_id,
        order_number=order_number,
        store_id=store_id,
        customer=customer,
        facts=facts,
        severity=severity_for(kind),
        escalate=escalate,
        escalation_tier=ESCALATION_TIER if escalate else None,
        cause_event_ids=list(dict.fromkeys(cause_event_ids)),
        detected_at=detected_at,
    )


def build_escalation(
    *, incident_id: str, kind: IncidentKind, reason: str, order_id: str, store_id: str, customer_id: str,
    opened_at: datetime,
) -> EscalationOpenedData:
    """A case for a person at tier 2, named after the incident it is about."""
    return EscalationOpenedData(
        escalation_id=escalation_id(incident_id, reason),
        customer_id=customer_id,
        incident_id=incident_id,
        kind=kind,
        tier=ESCALATION_TIER,
        reason=reason,
        order_id=order_id,
        store_id=store_id,
        opened_at=opened_at,
    )
