"""Build valid contract events for tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas import CloudEvent, make_event

__all__ = ["order_placed"]


def order_placed(
    order_id: str, *, placed_at: datetime, ship_in: timedelta = timedelta(hours=-1),
    deliver_in: timedelta = timedelta(days=3), first_name: str = "Ada", product: str = "Trail Runner 2 shoes",
    phone: str | None = "+14155550123", email: str | None = "ada@example.com", timezone: str | None = "UTC",
    locale: str = "en", event_id: str | None = None, customer_id: str = "cus_1", **extra: Any,
) -> CloudEvent:
    """An order whose promised ship-by is `ship_in` after it was placed (negative: already late)."""
    data = {
        "order_id": order_id,
        "store_id": "acme",
        "customer": {"id": customer_id, "first_name": first_name, "last_name": "Lovelace", "email": email,
                     "phone": phone, "locale": locale, "timezone": timezone},
        "lines": [{"sku": "TR2-42", "product_name": product, "quantity": 1,
                   "unit_price": {"amount": "89.00", "currency": "USD"}}],
        "total": {"amount": "89.00", "currency": "USD"},
        "shipping_method": "standard",
        "placed_at": placed_at,
        "promised_ship_by": placed_at + ship_in,
        "promised_delivery_by": placed_at + deliver_in,
        "customer_paid_orders_count": 2,
        **extra,
    }
    return make_event("order.placed", data, source="store/acme", subject=order_id, time=placed_at, id=event_id)
