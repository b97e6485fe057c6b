"""Deterministic incident ids and the incident payload every per-order rule emits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from schemas import CustomerRef, IncidentDetectedData, IncidentFacts
from schemas.choices import choices_for
from schemas.kinds import severity_for
from schemas.values import IncidentKind, Tier
from services.common.ids import stable_id

__all__ = ["ESCALATION_TIER", "build_incident", "incident_id"]

ESCALATION_TIER: Final[Tier] = 2
"""An incident a rule escalates at once (money, or a decision outside policy) goes to tier 2."""


def incident_id(kind: str, order_id: str, *cause: str) -> str:
    """`inc-` + 24 hex of sha256(kind, order, *cause): the same cause always yields the same id.

    order_watcher's cause is one part; returns' is (return id, cause)."""
    return stable_id("inc", kind, order_id, *cause)


def build_incident(
    *,
    incident_id: str,
    kind: IncidentKind,
    order_id: str,
    store_id: str,
    customer: CustomerRef,
    facts: IncidentFacts,
    cause_event_ids: Iterable[str],
    detected_at: datetime,
    order_number: str | None = None,
    escalate: bool = False,
) -> IncidentDetectedData:
    """An incident as a rule emits it: its severity and the choices the customer may make are the catalogue's
    (schemas/kinds.py), unless the rule named the choices; an escalated one carries tier 2, otherwise
    escalation is decided later, per customer. Cause event ids are kept once each, in order."""
    if facts.choices is None and (choices := choices_for(kind, facts.exception_reason)):
        facts = facts.model_copy(update={"choices": list(choices)})
    return IncidentDetectedData(
        incident_id=incident_id,
        kind=kind,
        order_id=order_id,
        order_number=order_number,
        store_id=store_id,
        customer=customer,
        facts=facts,
        severity=severity_for(kind, facts.exception_reason),
        escalate=escalate,
        escalation_tier=ESCALATION_TIER if escalate else None,
        cause_event_ids=list(dict.fromkeys(cause_event_ids)),
        detected_at=detected_at,
    )
