"""OrderState: the compact, serialisable record order_watcher keeps per order."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

from schemas import (
    Money,
    OrderCancelled,
    OrderFulfilled,
    OrderLineBackordered,
    PaymentDeclined,
    PaymentSucceeded,
    ShipmentUpdated,
)
from services.common.order_rules import IncidentMarkBase, OrderRecord, Part

__all__ = [
    "EarlyEvent",
    "IncidentMark",
    "OrderState",
    "PendingDecline",
    "ShipmentFacts",
]

EarlyEvent = Annotated[
    OrderCancelled | OrderFulfilled | OrderLineBackordered | PaymentDeclined | PaymentSucceeded | ShipmentUpdated,
    Field(discriminator="type"),
]
"""An event that may arrive before its order.placed, and is held until the order is known."""

POSSESSION = frozenset(
    {"in_transit", "out_for_delivery", "delivered", "attempt_failed", "exception", "returned_to_sender"}
)
"""Statuses that show the carrier has the parcel (so the order has shipped)."""


class ShipmentFacts(Part):
    """One shipment of the order as the latest carrier checkpoint describes it."""

    shipment_id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None = None
    status: str = Field(description="status of the latest checkpoint (by checkpoint time)")
    checkpoint_time: AwareDatetime = Field(description="latest checkpoint time seen")
    event_id: str = Field(description="the event that carried the latest checkpoint")
    eta: AwareDatetime | None = Field(default=None, description="estimated delivery of the latest update carrying one")
    eta_checkpoint: AwareDatetime | None = Field(default=None, description="checkpoint time of that update")
    eta_date: date | None = Field(default=None, description="the estimate's date when the carrier gave a date alone")
    shipped: bool = Field(default=False, description="some checkpoint showed the carrier holding the parcel")
    delivered_at: AwareDatetime | None = None


class PendingDecline(Part):
    """A likely-false decline waiting out decline_window for a successful payment."""

    payment_id: str
    declined_at: AwareDatetime
    amount: Money
    event_id: str
    retry_url: str | None = None


class IncidentMark(IncidentMarkBase):
    """An incident this order emitted: enough to withdraw it, and never to emit it twice."""

    at: AwareDatetime | None = Field(default=None, description="the checkpoint or ETA it was about, where one")
    shipment_id: str | None = None


class OrderState(OrderRecord[IncidentMark, EarlyEvent]):
    """Everything the rules remember about one order. Small on purpose (see tests for the bound).

    Who the order is for, its incident marks, the ids seen and the events held are the core's (`OrderRecord`)."""

    product_name: str | None = Field(default=None, description="first line's product")
    skus: dict[str, int] = Field(default_factory=dict, description="sku -> quantity, first line first")
    total: Money | None = None
    placed_at: AwareDatetime | None = None
    promised_ship_by: AwareDatetime | None = None
    promised_delivery_by: AwareDatetime | None = None
    paid_orders_count: int | None = None
    order_status_url: str | None = None
    shipments: list[ShipmentFacts] = Field(default_factory=list)
    declines: list[PendingDecline] = Field(default_factory=list)
    paid_at: AwareDatetime | None = Field(default=None, description="earliest successful payment seen")
    fulfilled_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None

    def replace_shipment(self, shipment: ShipmentFacts) -> None:
        """Put `shipment` where the shipment with its id is."""
        self.shipments = [shipment if s.shipment_id == shipment.shipment_id else s for s in self.shipments]

    @property
    def shipped(self) -> bool:
        """The carrier holds (or held) the parcel, or the store marked the order fulfilled."""
        return self.fulfilled_at is not None or any(s.shipped for s in self.shipments)

    @property
    def delivered_at(self) -> datetime | None:
        """When the last known shipment was delivered, once every known shipment is."""
        if not self.shipments or any(s.delivered_at is None for s in self.shipments):
            return None
        return max(s.delivered_at for s in self.shipments if s.delivered_at is not None)

    @property
    def closed_at(self) -> datetime | None:
        """Cancelled or delivered: no incident can come of this order any more."""
        return self.cancelled_at or self.delivered_at

    @property
    def first_sku(self) -> str | None:
        return next(iter(self.skus), None)

    def live(self, kind: str | None = None) -> list[IncidentMark]:
        """Emitted incidents not resolved yet, optionally of one kind."""
        return [m for m in self.incidents if not m.resolved and (kind is None or m.kind == kind)]

    def shipment(self, shipment_id: str) -> ShipmentFacts | None:
        return next((s for s in self.shipments if s.shipment_id == shipment_id), None)
