"""Events on the `escalations` topic (keyed by customer id): cases handed to a person; and on `cases` (keyed by
customer id too): the cases care opened at the help desk."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, Id, IncidentKind, Tier

__all__ = ["CaseOpened", "CaseOpenedData", "EscalationOpened", "EscalationOpenedData"]


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


class CaseOpenedData(ContractModel):
    """care opened a case at the help desk: a person will get in touch with the customer by `contact_by`.

    The notifier tells the customer so, in their language and within quiet hours. One event per case (its id
    derives from `case_id`); a later escalation or reply that adds to the same case publishes nothing."""

    case_id: Id = Field(description="care's id of the case (the ticket's external id at the desk)")
    customer_id: Id
    store_id: Id
    reason: str = Field(description="what opened it: repeated_trouble, customer_replied, low_feedback, ...")
    skill: str
    language: str
    priority: str
    contact_by: AwareDatetime = Field(description="a person gets in touch by then, from the store's support hours")
    opened_at: AwareDatetime


class CaseOpened(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["case.opened"] = "case.opened"
    data: CaseOpenedData
