"""The demo's webhook story: a store on Shopify reports a late order through the gateway, twice.

Shopify retries a webhook it thinks failed, with the same `X-Shopify-Webhook-Id`; the gateway
verifies the signature, publishes the first delivery as `order.placed` and answers the second
"ok (duplicate)". The order promised to ship yesterday, so the order watcher finds it late at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

__all__ = ["encode", "shopify_late_order", "shopify_signature"]


def shopify_late_order(now: datetime) -> dict[str, Any]:
    """An `orders/create` payload (the fields the gateway reads) for an order placed 3 days ago."""
    placed = now - timedelta(days=3)
    return {
        "id": 5550001, "name": "#1042", "created_at": placed.isoformat(), "updated_at": now.isoformat(),
        "currency": "USD",
        "total_price": "129.00", "email": "noor@example.com", "phone": "+14155550187", "customer_locale": "en",
        "shipping_lines": [{"title": "Standard"}],
        "note_attributes": [{"name": "promised_ship_by", "value": (now - timedelta(days=1)).isoformat()},
                            {"name": "promised_delivery_by", "value": (now + timedelta(days=3)).isoformat()}],
        "customer": {"id": 7770042, "first_name": "Noor", "last_name": "Haddad", "email": "noor@example.com",
                     "phone": "+14155550187", "orders_count": 3},
        "line_items": [{"sku": "LAMP-ARC", "title": "Arc floor lamp", "quantity": 1, "price": "129.00"}],
        "order_status_url": "https://acme.example/orders/1042",
    }


def shopify_signature(body: bytes, secret: str) -> str:
    """`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body, as Shopify signs it."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
