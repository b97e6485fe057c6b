"""The demo store and its customers answering back (pure; no Kafka, no HTTP here).

The store acts on what customers chose (`choice.made` on `customer-actions`): a cancellation
cancels the order and refunds it, a refund of an item we could not send refunds it and cancels
the order (the demo's orders have one line), a refund on a lost parcel refunds it, waiting needs
nothing, and the rest is for a person at the store (logged). A demo customer who is offered
choices by SMS answers the way people do, in their own language: the stockout customer asks for
their money back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import ChoiceMadeData, CloudEvent, make_event
from schemas.choices import Choice
from services.common.ids import stable_id

__all__ = ["DEMO_REPLIES", "OrderBook", "customer_reply", "store_actions"]

SOURCE = "store/acme"

DEMO_REPLIES: dict[str, dict[str, str]] = {
    "stockout": {"en": "refund please", "de": "Erstattung bitte", "es": "reembolso, por favor"},
    "backordered": {"en": "I'll wait", "de": "ich warte lieber", "es": "prefiero esperar"},
}
"""What a demo customer texts back, per incident kind and language (words, not numbers, to show they work)."""
_ITEM_KINDS = frozenset({"stockout", "backordered"})


@dataclass(frozen=True)
class OrderBook:
    """What the store knows of an order that a refund needs."""

    order_id: str
    customer_id: str
    total_amount: str
    currency: str


def customer_reply(kind: str, locale: str | None, offered: tuple[str, ...]) -> str | None:
    """The demo customer's answer to an SMS offering `offered` for an incident of `kind`, if they answer."""
    if not offered:
        return None
    replies = DEMO_REPLIES.get(kind)
    if replies is None:
        return None
    language = (locale or "en").split("-", 1)[0].split("_", 1)[0].lower()
    return replies.get(language, replies["en"])


def store_actions(choice: ChoiceMadeData, order: OrderBook | None, now: datetime) -> list[tuple[str, CloudEvent]]:
    """(topic, event) the store publishes for a choice; empty when nothing is published (wait, or a person acts)."""
    order_id = choice.order_id
    if order_id is None:
        return []
    made: Choice = choice.choice
    cancel = made == "cancel" or (made == "refund" and choice.kind in _ITEM_KINDS)
    refund = made in ("cancel", "refund") and order is not None
    events: list[tuple[str, CloudEvent]] = []
    if cancel:
        reason = "inventory" if made == "refund" else "customer"
        events.append(("orders", make_event(
            "order.cancelled", {"order_id": order_id, "reason": reason, "cancelled_at": now}, source=SOURCE,
            subject=order_id, time=now, id=stable_id("evt-cancel", choice.incident_id, made))))
    if refund and order is not None:
        events.append(("returns", make_event(
            "refund.issued", {
                "refund_id": stable_id("rf", choice.incident_id, made), "order_id": order_id,
                "customer_id": choice.customer_id, "amount": {"amount": order.total_amount, "currency": order.currency},
                "method": "original_payment", "issued_at": now,
            }, source=SOURCE, subject=order_id, time=now, id=stable_id("evt-refund", choice.incident_id, made))))
    return events
