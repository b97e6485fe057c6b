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
    """(topic, event) pairs: a late order per customer, one on time, one shipped in time, a stockout,
    a probably-false card decline, and a return that reached the warehouse."""
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
    events.extend(_stockout(now))
    events.extend(_false_decline(now))
    events.extend(_return_received(now))
    return events


def _stockout(now: datetime) -> list[tuple[str, CloudEvent]]:
    """Two customers ordered the last jacket in stock; the warehouse counts one. The later order waits."""
    events: list[tuple[str, CloudEvent]] = []
    for i, customer in enumerate(CUSTOMERS[:2]):
        order = _order(f"ord-demo-40{i}", customer, PRODUCTS[0], now - timedelta(hours=3 - i), timedelta(days=2))
        events.append(("orders", order))
    events.append(("inventory", make_event("stock.changed", {
        "sku": PRODUCTS[0][0], "available": 1, "restock_eta": now + timedelta(days=9), "changed_at": now,
        "store_id": "acme", "product_name": PRODUCTS[0][1],
    }, source=SOURCE, subject=PRODUCTS[0][0], time=now, id="evt-stock-adj-1")))
    return events


def _false_decline(now: datetime) -> list[tuple[str, CloudEvent]]:
    """A loyal customer's card was declined with a soft code 20 minutes ago, and no retry succeeded."""
    customer = CUSTOMERS[2]
    placed = now - timedelta(minutes=25)
    order = _order("ord-demo-500", customer, PRODUCTS[1], placed, timedelta(days=2))
    declined = make_event("payment.declined", {
        "order_id": "ord-demo-500", "payment_id": "pay-demo-500", "amount": {"amount": PRODUCTS[1][2],
                                                                               "currency": "USD"},
        "attempt": 1, "decline_code": "do_not_honor", "outcome_type": "issuer_declined",
        "network_status": "declined_by_network", "risk_level": "normal", "customer_id": customer["id"],
        "declined_at": now - timedelta(minutes=20),
    }, source="payments/stripe", subject="ord-demo-500", time=now - timedelta(minutes=20), id="evt-decline-500")
    return [("orders", order), ("payments", declined)]


def _return_received(now: datetime) -> list[tuple[str, CloudEvent]]:
    """Grace's return arrived at the warehouse an hour ago: she hears when to expect her money."""
    customer = CUSTOMERS[0]
    placed = now - timedelta(days=12)
    order = _order("ord-demo-600", customer, PRODUCTS[1], placed, timedelta(days=1))
    received = make_event("return.received", {
        "return_id": "ret-demo-600", "order_id": "ord-demo-600", "customer_id": customer["id"],
        "lines": [{"sku": PRODUCTS[1][0], "product_name": PRODUCTS[1][1], "quantity": 1}],
        "refund_amount": {"amount": PRODUCTS[1][2], "currency": "USD"}, "received_at": now - timedelta(hours=1),
    }, source=SOURCE, subject="ord-demo-600", time=now - timedelta(hours=1), id="evt-return-600")
    shipped = make_event("shipment.updated", {
        "order_id": "ord-demo-600", "shipment_id": "shp-600", "carrier": "UPS", "tracking_number": "1Z999AA10123456600",
        "status": "delivered", "checkpoint_time": placed + timedelta(days=2), "checkpoint_location": "Los Angeles, CA",
    }, source="carrier/ups", subject="ord-demo-600", time=placed + timedelta(days=2), id="evt-shp-600")
    return [("orders", order), ("shipments", shipped), ("returns", received)]
