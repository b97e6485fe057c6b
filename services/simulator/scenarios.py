"""Demo scenarios as plain events: each tells one customer's story (pure; no Kafka here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas import CloudEvent, make_event

__all__ = ["demo_events"]

SOURCE = "store/acme"

CUSTOMERS = [
    {"id": "cus_grace", "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com",
     "phone": "+14155550101", "locale": "en", "timezone": "America/Los_Angeles"},
    {"id": "cus_lena", "first_name": "Lena", "last_name": "Schmidt", "email": "lena@example.com",
     "phone": "+4915123456789", "locale": "de", "timezone": "Europe/Berlin"},
    {"id": "cus_lucia", "first_name": "Lucía", "last_name": "García", "email": "lucia@example.com",
     "phone": "+34612345678", "locale": "es", "timezone": "Europe/Madrid"},
]

PRODUCTS = [("ADJ-M", "Alpine Down Jacket", "189.00"), ("TR2-42", "Trail Runner 2", "89.00"),
            ("WB-1L", "Insulated Water Bottle", "24.00")]


def _order(order_id: str, customer: dict[str, Any], product: tuple[str, str, str], placed_at: datetime,
           ship_in: timedelta) -> CloudEvent:
    sku, name, price = product
    data = {
        "order_id": order_id, "store_id": "acme", "customer": customer,
        "lines": [{"sku": sku, "product_name": name, "quantity": 1,
                   "unit_price": {"amount": price, "currency": "USD"}}],
        "total": {"amount": price, "currency": "USD"}, "shipping_method": "standard", "placed_at": placed_at,
        "promised_ship_by": placed_at + ship_in, "promised_delivery_by": placed_at + ship_in + timedelta(days=3),
        "customer_paid_orders_count": 3, "order_status_url": f"https://acme.example/orders/{order_id}",
    }
    return make_event("order.placed", data, source=SOURCE, subject=order_id, time=placed_at, id=f"evt-{order_id}")


def demo_events(now: datetime) -> list[tuple[str, CloudEvent]]:
    """(topic, event) pairs: a late order per customer, one on time, and one shipped in time."""
    events: list[tuple[str, CloudEvent]] = []
    for i, customer in enumerate(CUSTOMERS):
        placed = now - timedelta(days=2, hours=i)
        events.append(("orders", _order(f"ord-demo-{100 + i}", customer, PRODUCTS[i % len(PRODUCTS)], placed,
                                        timedelta(days=1))))
    on_time = _order("ord-demo-200", CUSTOMERS[0], PRODUCTS[2], now, timedelta(days=2))
    events.append(("orders", on_time))
    shipped_placed = now - timedelta(days=1)
    shipped = _order("ord-demo-300", CUSTOMERS[1], PRODUCTS[1], shipped_placed, timedelta(hours=12))
    events.append(("orders", shipped))
    events.append(("shipments", make_event("shipment.updated", {
        "order_id": "ord-demo-300", "shipment_id": "shp-300", "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://track.example/1Z999AA10123456784", "status": "in_transit",
        "checkpoint_time": shipped_placed + timedelta(hours=6), "checkpoint_location": "Louisville, KY",
        "estimated_delivery": shipped_placed + timedelta(days=2),
    }, source="carrier/ups", subject="ord-demo-300", time=shipped_placed + timedelta(hours=6), id="evt-shp-300-1")))
    return events
