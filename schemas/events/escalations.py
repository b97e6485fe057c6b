"""Events on the `escalations` topic (keyed by customer id): cases handed to a person."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, Id, IncidentKind, Tier

__all__ = ["EscalationOpened", "EscalationOpenedData"]


class EscalationOpenedData(ContractModel):
    """A case for a human agent, routed by tier (1 simple .. 3 complex)."""

    escalation_id: Id
    customer_id: Id
    incident_id: Id
    kind: IncidentKind
    tier: Tier
    reason: str = Field(description="why a person should look, e.g. repeated_trouble, customer_replied")
    order_id: Id | None = None
    store_id: Id
    related_incident_ids: list[Id] = Field(default_factory=list, description="the customer's earlier incidents")
    opened_at: AwareDatetime


class EscalationOpened(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["escalation.opened"] = "escalation.opened"
    data: EscalationOpenedData
