"""Events on the `incidents` topic (keyed by customer id): problems detected and cleared."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, PositiveInt, ValidationInfo, field_validator

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, CustomerRef, ExceptionReason, Id, IncidentKind, Money, Severity, Tier

__all__ = ["IncidentDetected", "IncidentDetectedData", "IncidentFacts", "IncidentResolved", "IncidentResolvedData"]


class IncidentFacts(ContractModel):
    """What the message needs to say: every field optional, the ones that apply to the kind set."""

    product_name: str | None = None
    sku: str | None = None
    quantity: PositiveInt | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    exception_reason: ExceptionReason | None = None
    promised_ship_by: AwareDatetime | None = None
    promised_delivery_by: AwareDatetime | None = None
    new_estimated_delivery: AwareDatetime | None = None
    new_estimated_delivery_date: date | None = Field(
        default=None, description="set when the estimate is a date alone: say that calendar date, in any zone")
    restock_eta: AwareDatetime | None = None
    choices: list[str] | None = Field(
        default=None, description="what the customer may choose, in order: the kind's list in schemas/choices.py")
    retry_url: str | None = None
    amount: Money | None = None
    refund_amount: Money | None = None
    refund_method: str | None = None
    refund_expected_by: AwareDatetime | None = None
    reason_text: str | None = None
    label_url: str | None = None
    order_total: Money | None = None
    order_status_url: str | None = None


class IncidentDetectedData(ContractModel):
    """A problem with a customer's order, with what caused it and what to tell them."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"escalate": {"const": True}}, "required": ["escalate"]},
            "then": {"properties": {"escalation_tier": {"type": "integer"}}, "required": ["escalation_tier"]},
        }
    )

    incident_id: Id = Field(description="deterministic: derived by the producer from what caused it")
    kind: IncidentKind
    order_id: Id | None = None
    order_number: str | None = Field(
        default=None, description="the store's own order number as the customer knows it (order.placed order_name, "
        "e.g. #1001); messages name it, and the order id only when there is none")
    store_id: Id
    customer: CustomerRef
    facts: IncidentFacts = Field(default_factory=IncidentFacts)
    severity: Severity = "normal"
    escalate: bool = False
    escalation_tier: Tier | None = Field(default=None, validate_default=True, description="required when escalating")
    cause_event_ids: list[Id] = Field(min_length=1, description="ids of the events that caused it")
    detected_at: AwareDatetime

    @field_validator("escalation_tier")
    @classmethod
    def _tier_when_escalating(cls, value: Tier | None, info: ValidationInfo) -> Tier | None:
        if value is None and info.data.get("escalate") is True:
            raise ValueError("escalation_tier is required when escalate is true")
        return value


class IncidentResolvedData(ContractModel):
    """The incident's condition cleared (delivered, paid, restocked, refunded): withdraw its message."""

    incident_id: Id
    kind: IncidentKind
    order_id: Id | None = None
    customer_id: Id
    reason: str = Field(description="delivered, payment_succeeded, stock_restored, refund_issued, ...")
    resolved_at: AwareDatetime


class IncidentDetected(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer.id"
    type: Literal["incident.detected"] = "incident.detected"
    data: IncidentDetectedData


class IncidentResolved(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["incident.resolved"] = "incident.resolved"
    data: IncidentResolvedData
