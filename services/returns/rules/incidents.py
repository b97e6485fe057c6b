"""Return incident ids (order, return, cause) and the tier-2 cases the return rules open."""

from __future__ import annotations

from datetime import datetime

from schemas import EscalationOpenedData
from schemas.values import IncidentKind
from services.common import order_rules
from services.common.ids import stable_id
from services.common.order_rules.incidents import ESCALATION_TIER

__all__ = ["ESCALATION_TIER", "build_escalation", "escalation_id", "incident_id"]

def incident_id(kind: str, order_id: str, return_id: str, cause: str) -> str:
    """`inc-` + 24 hex of sha256(kind, order, return, cause): the same cause always yields the same id."""
    return order_rules.incident_id(kind, order_id, return_id, cause)


def escalation_id(incident_id: str, reason: str) -> str:
    """`esc-` + 24 hex of sha256(incident, reason): replaying the cause opens the same case."""
    return stable_id("esc", incident_id, reason)


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
