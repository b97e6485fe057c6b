"""Events on the `orders` topic (keyed by order id): placed, cancelled, line backordered, fulfilled."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, NonNegativeInt, PositiveInt

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, CustomerRef, Id, Money, OrderLine

__all__ = [
    "OrderCancelled",
    "OrderCancelledData",
    "OrderFulfilled",
    "OrderFulfilledData",
    "OrderLineBackordered",
    "OrderLineBackorderedData",
    "OrderPlaced",
    "OrderPlacedData",
]


class OrderPlacedData(ContractModel):
    """A new order, with the promises the store made about it."""

    order_id: Id
    store_id: Id
    customer: CustomerRef
    lines: list[OrderLine] = Field(min_length=1)
    total: Money
    shipping_method: str = Field(description="e.g. standard, express")
    placed_at: AwareDatetime
    promised_ship_by: AwareDatetime
    promised_delivery_by: AwareDatetime
    customer_paid_orders_count: NonNegativeInt | None = Field(
        default=None, description="the customer's earlier paid orders at this store; None when unknown"
    )
    order_status_url: str | None = None
    order_name: str | None = Field(default=None, description="the order as the customer sees it, e.g. #1001")


class OrderCancelledData(ContractModel):
    """The order was cancelled (by the customer, the store, or for fraud or stock)."""

    order_id: Id
    reason: str | None = Field(default=None, description="Shopify cancel_reason: customer, fraud, inventory, ...")
    cancelled_at: AwareDatetime


class OrderLineBackorderedData(ContractModel):
    """A line of the order cannot be served from stock and waits for a restock."""

    order_id: Id
    sku: Id
    product_name: str
    quantity: PositiveInt
    restock_eta: AwareDatetime | None = None


class OrderFulfilledData(ContractModel):
    """Every line of the order has shipped."""

    order_id: Id
    fulfilled_at: AwareDatetime


class OrderPlaced(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["order.placed"] = "order.placed"
    data: OrderPlacedData


class OrderCancelled(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["order.cancelled"] = "order.cancelled"
    data: OrderCancelledData


class OrderLineBackordered(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["order.line_backordered"] = "order.line_backordered"
    data: OrderLineBackorderedData


class OrderFulfilled(CloudEvent):
    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["order.fulfilled"] = "order.fulfilled"
    data: OrderFulfilledData
