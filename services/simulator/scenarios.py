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
        "order_id": order_id, "order_name": "#" + order_id.rsplit("-", 1)[-1], "store_id": "acme", "customer": customer,
        "lines": [{"sku": sku, "product_name": name, "quantity": 1,
                   "unit_price": {"amount": price, "currency": "USD"}}],
        "total": {"amount": price, "currency": "USD"}, "shipping_method": "standard", "placed_at": placed_at,
        "promised_ship_by": placed_at + ship_in, "promised_delivery_by": placed_at + ship_in + timedelta(days=3),
        "customer_paid_orders_count": 3, "order_status_url": f"https://acme.example/orders/{order_id}",
    }
    return make_event("order.placed", data, source=SOURCE, subject=order_id, time=placed_at, id=f"evt-{order_id}")


def _customers(run: str) -> list[dict[str, Any]]:
    """The demo's customers; another run's are other customers (caps and dedupe are per customer)."""
    return [c if run == "demo" else {**c, "id": f"{c['id']}_{run}"} for c in CUSTOMERS]


def _products(run: str) -> list[tuple[str, str, str]]:
    """The demo's products; another run's have SKUs of their own (stock is known per SKU)."""
    return [p if run == "demo" else (f"{p[0]}-{run}", p[1], p[2]) for p in PRODUCTS]


def demo_events(now: datetime, run: str = "demo") -> list[tuple[str, CloudEvent]]:
    """(topic, event) pairs: a late order per customer, one on time, one shipped in time, a stockout,
    a probably-false card decline, and a return that reached the warehouse.

    Every id carries `run`, so each `make run` tells the stories anew: with the same ids the
    services would rightly recognise them as seen and stay silent."""
    events: list[tuple[str, CloudEvent]] = []
    customers, products = _customers(run), _products(run)
    for i, customer in enumerate(customers):
        placed = now - timedelta(days=2, hours=i)
        events.append(("orders", _order(f"ord-{run}-{100 + i}", customer, products[i % len(products)], placed,
                                        timedelta(days=1))))
    on_time = _order(f"ord-{run}-200", customers[0], products[2], now, timedelta(days=2))
    events.append(("orders", on_time))
    shipped_placed = now - timedelta(days=1)
    shipped = _order(f"ord-{run}-300", customers[1], products[1], shipped_placed, timedelta(hours=12))
    events.append(("orders", shipped))
    events.append(("shipments", make_event("shipment.updated", {
        "order_id": f"ord-{run}-300", "shipment_id": f"shp-{run}-300", "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://track.example/1Z999AA10123456784", "status": "in_transit",
        "checkpoint_time": shipped_placed + timedelta(hours=6), "checkpoint_location": "Louisville, KY",
        "estimated_delivery": shipped_placed + timedelta(days=2),
    }, source="carrier/ups", subject=f"ord-{run}-300", time=shipped_placed + timedelta(hours=6),
        id=f"evt-{run}-shp-300-1")))
    events.extend(_stockout(now, run, customers, products))
    events.extend(_false_decline(now, run, customers, products))
    events.extend(_return_received(now, run, customers, products))
    return events


def _stockout(now: datetime, run: str, customers: list[dict[str, Any]],
              products: list[tuple[str, str, str]]) -> list[tuple[str, CloudEvent]]:
    """Two customers ordered the last jacket in stock; the warehouse counts one. The later order waits."""
    events: list[tuple[str, CloudEvent]] = []
    sku, name, price = products[0]
    for i, customer in enumerate(customers[:2]):
        placed = now - timedelta(hours=3 - i)
        order = _order(f"ord-{run}-40{i}", customer, (sku, name, price), placed, timedelta(days=2))
        events.append(("orders", order))
    events.append(("inventory", make_event("stock.changed", {
        "sku": sku, "available": 1, "restock_eta": now + timedelta(days=9), "changed_at": now,
        "store_id": "acme", "product_name": name,
    }, source=SOURCE, subject=sku, time=now, id=f"evt-{run}-stock-adj-1")))
    return events


def _false_decline(now: datetime, run: str, customers: list[dict[str, Any]],
                   products: list[tuple[str, str, str]]) -> list[tuple[str, CloudEvent]]:
    """A loyal customer's card was declined with a soft code 20 minutes ago, and no retry succeeded."""
    customer = customers[2]
    placed = now - timedelta(minutes=25)
    order = _order(f"ord-{run}-500", customer, products[1], placed, timedelta(days=2))
    declined = make_event("payment.declined", {
        "order_id": f"ord-{run}-500", "payment_id": f"pay-{run}-500", "amount": {"amount": products[1][2],
                                                                               "currency": "USD"},
        "attempt": 1, "decline_code": "do_not_honor", "outcome_type": "issuer_declined",
        "network_status": "declined_by_network", "risk_level": "normal", "customer_id": customer["id"],
        "declined_at": now - timedelta(minutes=20),
    }, source="payments/stripe", subject=f"ord-{run}-500", time=now - timedelta(minutes=20),
        id=f"evt-{run}-decline-500")
    return [("orders", order), ("payments", declined)]


def _return_received(now: datetime, run: str, customers: list[dict[str, Any]],
                     products: list[tuple[str, str, str]]) -> list[tuple[str, CloudEvent]]:
    """Grace's return arrived at the warehouse an hour ago: she hears when to expect her money."""
    customer = customers[0]
    placed = now - timedelta(days=12)
    order = _order(f"ord-{run}-600", customer, products[1], placed, timedelta(days=1))
    received = make_event("return.received", {
        "return_id": f"ret-{run}-600", "order_id": f"ord-{run}-600", "customer_id": customer["id"],
        "lines": [{"sku": products[1][0], "product_name": products[1][1], "quantity": 1}],
        "refund_amount": {"amount": products[1][2], "currency": "USD"}, "received_at": now - timedelta(hours=1),
    }, source=SOURCE, subject=f"ord-{run}-600", time=now - timedelta(hours=1), id=f"evt-{run}-return-600")
    shipped = make_event("shipment.updated", {
        "order_id": f"ord-{run}-600", "shipment_id": f"shp-{run}-600", "carrier": "UPS",
        "tracking_number": "1Z999AA10123456600",
        "status": "delivered", "checkpoint_time": placed + timedelta(days=2), "checkpoint_location": "Los Angeles, CA",
    }, source="carrier/ups", subject=f"ord-{run}-600", time=placed + timedelta(days=2), id=f"evt-{run}-shp-600")
    return [("orders", order), ("shipments", shipped), ("returns", received)]
