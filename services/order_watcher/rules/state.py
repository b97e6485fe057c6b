"""OrderState: the compact, serialisable record order_watcher keeps per order."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from schemas import (
    CustomerRef,
    IncidentKind,
    Money,
    OrderCancelled,
    OrderFulfilled,
    OrderLineBackordered,
    PaymentDeclined,
    PaymentSucceeded,
    ShipmentUpdated,
)
from services.common.drafts import draft

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


class _Compact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Part(_Compact):
    """A part of the state: never changed in place, replaced by a changed copy (so a step can share it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ShipmentFacts(_Part):
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


class PendingDecline(_Part):
    """A likely-false decline waiting out decline_window for a successful payment."""

    payment_id: str
    declined_at: AwareDatetime
    amount: Money
    event_id: str
    retry_url: str | None = None


class IncidentMark(_Part):
    """An incident this order emitted: enough to withdraw it, and never to emit it twice."""

    id: str
    kind: IncidentKind
    at: AwareDatetime | None = Field(default=None, description="the checkpoint or ETA it was about, where one")
    shipment_id: str | None = None
    resolved: bool = False


class OrderState(_Compact):
    """Everything the rules remember about one order. Small on purpose (see tests for the bound)."""

    order_id: str
    order_number: str | None = Field(default=None, description="the store's own number, e.g. #1001")
    placed_event_id: str | None = Field(default=None, description="None until order.placed arrived")
    store_id: str | None = None
    customer: CustomerRef | None = None
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
    incidents: list[IncidentMark] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list, description="digests of recent event ids, oldest first")
    early: list[EarlyEvent] = Field(default_factory=list, description="events held until order.placed")

    @field_serializer("early")
    def _early_in_full(self, early: list[EarlyEvent]) -> list[dict[str, Any]]:
        """Held events are dumped whole (even with exclude_defaults), so they parse back as the same events."""
        return [event.model_dump(mode="json") for event in early]

    def draft(self) -> OrderState:
        """A copy a step may change without touching this state: its collections are new, their parts shared.

        The parts (shipments, declines, incident marks, held events, the customer) are immutable; a
        rule replaces one in its list instead of changing it, so no step needs a deep copy.
        """
        return draft(self)

    def replace_mark(self, mark: IncidentMark) -> None:
        """Put `mark` where the mark with its id is."""
        self.incidents = [mark if m.id == mark.id else m for m in self.incidents]

    def replace_shipment(self, shipment: ShipmentFacts) -> None:
        """Put `shipment` where the shipment with its id is."""
        self.shipments = [shipment if s.shipment_id == shipment.shipment_id else s for s in self.shipments]

    @property
    def placed(self) -> bool:
        """order.placed has arrived."""
        return self.placed_event_id is not None

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

    def mark(self, incident_id: str) -> IncidentMark | None:
        """The record of an emitted incident, if this order emitted it."""
        return next((m for m in self.incidents if m.id == incident_id), None)

    def live(self, kind: str | None = None) -> list[IncidentMark]:
        """Emitted incidents not resolved yet, optionally of one kind."""
        return [m for m in self.incidents if not m.resolved and (kind is None or m.kind == kind)]

    def shipment(self, shipment_id: str) -> ShipmentFacts | None:
        return next((s for s in self.shipments if s.shipment_id == shipment_id), None)
