"""Events on the `returns` topic (keyed by order id): the return and refund lifecycle."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, Id, Money, ReturnLine

__all__ = [
    "RefundIssued",
    "RefundIssuedData",
    "ReturnLabelScanned",
    "ReturnLabelScannedData",
    "ReturnReceived",
    "ReturnReceivedData",
    "ReturnRejected",
    "ReturnRejectedData",
    "ReturnRequested",
    "ReturnRequestedData",
]


class ReturnRequestedData(ContractModel):
    """The customer asked to send items back."""

    return_id: Id
    order_id: Id
    customer_id: Id
    lines: list[ReturnLine] = Field(min_length=1)
    reason: str = Field(description="return reason code, e.g. size_too_small, defective, not_as_described")
    refund_amount: Money | None = Field(default=None, description="the refund expected if the return is accepted")
    requested_at: AwareDatetime
    order_delivered_at: AwareDatetime | None = None
    return_window_ends_at: AwareDatetime | None = None
    label_url: str | None = None


class ReturnLabelScannedData(ContractModel):
    """The carrier's first scan of the return parcel: it is on its way back."""

    return_id: Id
    order_id: Id
    customer_id: Id | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    scanned_at: AwareDatetime


class ReturnReceivedData(ContractModel):
    """The return parcel arrived at the store's warehouse; the refund SLA starts now."""

    return_id: Id
    order_id: Id
    customer_id: Id
    lines: list[ReturnLine] = Field(default_factory=list, description="what arrived; empty means as requested")
    refund_amount: Money | None = None
    received_at: AwareDatetime


class RefundIssuedData(ContractModel):
    """Money went back to the customer."""

    refund_id: Id
    return_id: Id | None = Field(default=None, description="None for a refund without a return (a cancellation)")
    order_id: Id
    customer_id: Id
    amount: Money
    method: str = Field(description="original_payment, store_credit, ...")
    issued_at: AwareDatetime
    expected_by: AwareDatetime | None = Field(default=None, description="when the money should reach the customer")


class ReturnRejectedData(ContractModel):
    """The store refused the return."""

    return_id: Id
    order_id: Id
    customer_id: Id
    reason: str | None = Field(default=None, description="rejection code, e.g. outside_window, used_item")
    reason_text: str = Field(description="the store's explanation, fit to show the customer")
    rejected_at: AwareDatetime


class ReturnRequested(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["return.requested"] = "return.requested"
    data: ReturnRequestedData


class ReturnLabelScanned(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["return.label_scanned"] = "return.label_scanned"
    data: ReturnLabelScannedData


class ReturnReceived(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["return.received"] = "return.received"
    data: ReturnReceivedData


class RefundIssued(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["refund.issued"] = "refund.issued"
    data: RefundIssuedData


class ReturnRejected(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["return.rejected"] = "return.rejected"
    data: ReturnRejectedData
