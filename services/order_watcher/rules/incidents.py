"""Deterministic incident ids and the builders for incident and resolution payloads."""

from __future__ import annotations

from datetime import datetime

from schemas import CustomerRef, IncidentDetectedData, IncidentFacts
from schemas.choices import choices_for
from schemas.kinds import severity_for
from schemas.values import IncidentKind
from services.common.ids import stable_id

__all__ = ["build_incident", "incident_id"]


def incident_id(kind: str, order_id: str, cause: str) -> str:
    """`inc-` + 24 hex of sha256(kind, order, cause): the same cause always yields the same id."""
    return stable_id("inc", kind, order_id, cause)


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
    order_number: str | None = None,
) -> IncidentDetectedData:
    """An incident as the rules emit it: escalation is decided later, per customer; its severity and the
    choices the customer may make are the catalogue's (schemas/kinds.py), unless the rule named the choices."""
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
        cause_event_ids=list(dict.fromkeys(cause_event_ids)),
        detected_at=detected_at,
    )
