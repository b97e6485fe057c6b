"""Events on the `shipments` topic (keyed by order id): carrier tracking updates."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, ValidationInfo, field_validator

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, ExceptionReason, Id

__all__ = ["ShipmentStatus", "ShipmentUpdated", "ShipmentUpdatedData"]

ShipmentStatus = Literal[
    "label_created", "in_transit", "out_for_delivery", "delivered", "attempt_failed", "exception", "returned_to_sender"
]


class ShipmentUpdatedData(ContractModel):
    """A carrier checkpoint for one shipment of an order (AfterShip / EasyPost style)."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"status": {"const": "exception"}}, "required": ["status"]},
            "then": {"properties": {"exception_reason": {"type": "string"}}, "required": ["exception_reason"]},
        }
    )

    order_id: Id
    shipment_id: Id
    carrier: str = Field(description="carrier slug, e.g. ups, dhl, usps")
    tracking_number: str
    tracking_url: str | None = None
    status: ShipmentStatus
    exception_reason: ExceptionReason | None = Field(
        default=None, validate_default=True, description="required when status is exception"
    )
    estimated_delivery: AwareDatetime | None = None
    estimated_delivery_date: date | None = Field(
        default=None, description="the carrier gave a date alone: that calendar date wherever the customer is "
        "(estimated_delivery is then the end of that day, UTC)")
    checkpoint_time: AwareDatetime
    checkpoint_location: str | None = None

    @field_validator("exception_reason")
    @classmethod
    def _reason_for_exception(cls, value: ExceptionReason | None, info: ValidationInfo) -> ExceptionReason | None:
        if value is None and info.data.get("status") == "exception":
            raise ValueError("exception_reason is required when status is exception")
        return value


class ShipmentUpdated(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["shipment.updated"] = "shipment.updated"
    data: ShipmentUpdatedData
