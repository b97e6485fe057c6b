"""The demo's Shopify webhook is one the gateway accepts, and maps to an order that is already late."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import OrderPlaced, parse_event
from services.gateway.mapping.shopify import Promises, map_shopify
from services.gateway.signatures import SignatureError, verify_shopify
from services.simulator.webhooks import encode, shopify_late_order, shopify_signature

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_the_gateway_verifies_the_demo_signature_and_refuses_another_secret() -> None:
    body = encode(shopify_late_order(NOW))
    verify_shopify(body, shopify_signature(body, "demo-secret"), "demo-secret")
    with pytest.raises(SignatureError):
        verify_shopify(body, shopify_signature(body, "demo-secret"), "another-secret")


def test_the_demo_order_maps_to_an_order_placed_past_its_ship_by() -> None:
    result = map_shopify("orders/create", encode(shopify_late_order(NOW)), webhook_id="demo-1",
                         shop_domain="acme.myshopify.com", promises=Promises())
    assert isinstance(result, list) and len(result) == 1
    event = parse_event(result[0].event.to_bytes(), topic=result[0].topic)
    assert isinstance(event, OrderPlaced)
    assert event.data.customer.first_name == "Noor"
    assert event.data.lines[0].product_name == "Arc floor lamp"
    assert event.data.promised_ship_by < NOW < event.data.promised_delivery_by
