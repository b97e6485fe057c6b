"""Events on the `payments` topic (keyed by order id): Stripe-style payment outcomes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, PositiveInt

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, Id, Money

__all__ = ["PaymentDeclined", "PaymentDeclinedData", "PaymentSucceeded", "PaymentSucceededData", "RiskLevel"]

RiskLevel = Literal["normal", "elevated", "highest", "not_assessed", "unknown"]


class PaymentSucceededData(ContractModel):
    """A payment for the order went through."""

    order_id: Id
    payment_id: Id
    amount: Money
    customer_id: Id
    succeeded_at: AwareDatetime


class PaymentDeclinedData(ContractModel):
    """A payment attempt was declined, with Stripe's charge outcome."""

    order_id: Id
    payment_id: Id
    amount: Money
    attempt: PositiveInt = Field(description="1 for the first attempt on this order")
    decline_code: str = Field(description="Stripe decline_code: do_not_honor, generic_decline, fraudulent, ...")
    outcome_type: str = Field(description="Stripe outcome.type: issuer_declined, blocked, invalid, ...")
    network_status: str | None = Field(default=None, description="Stripe outcome.network_status")
    risk_level: RiskLevel = "unknown"
    risk_score: int | None = Field(default=None, ge=0, le=100)
    rule: str | None = Field(default=None, description="our risk rule that blocked the payment, if any")
    customer_id: Id
    retry_url: str | None = Field(default=None, description="where the customer can pay again")
    declined_at: AwareDatetime


class PaymentSucceeded(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["payment.succeeded"] = "payment.succeeded"
    data: PaymentSucceededData


class PaymentDeclined(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["payment.declined"] = "payment.declined"
    data: PaymentDeclinedData
