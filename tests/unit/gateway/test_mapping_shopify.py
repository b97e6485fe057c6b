"""Shopify order webhooks -> orders events: realistic payloads, guests, promises, unknown topics, malformed bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from schemas import OrderCancelled, OrderFulfilled, OrderPlaced, parse_event
from services.gateway.mapping import Ignored, MappingError, Promises, Publish, map_shopify, store_id_from_domain
from services.gateway.mapping.base import Version
from tests.unit.gateway.fixtures import payload, payload_bytes

pytestmark = pytest.mark.unit

PROMISES = Promises(ship_within=timedelta(days=2), deliver_within=timedelta(days=7),
                    express_deliver_within=timedelta(days=3))
DOMAIN = "acme.myshopify.com"


def _map(topic: str, body: bytes, webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043") -> Publish:
    result = map_shopify(topic, body, webhook_id=webhook_id, shop_domain=DOMAIN, promises=PROMISES)
    assert isinstance(result, list) and len(result) == 1
    item = result[0]
    assert parse_event(item.event.to_bytes(), topic=item.topic) == item.event  # what goes on the wire parses back
    return item


def _with(**changes: Any) -> bytes:
    order = payload("shopify_orders_create")
    order.update(changes)
    return json.dumps(order).encode()


def test_orders_create_becomes_order_placed() -> None:
    item = _map("orders/create", payload_bytes("shopify_orders_create"))
    event = item.event
    assert isinstance(event, OrderPlaced)
    assert item.topic == "orders"
    assert item.delivery_id == "acme:820982911946154508:orders/create:2026-03-02T14:14:27+00:00"
    assert item.version == Version("order:acme:820982911946154508:orders/create",
                                   datetime(2026, 3, 2, 14, 14, 27, tzinfo=UTC))
    assert event.key() == b"820982911946154508" and event.source == "shopify/acme"
    data = event.data
    assert data.store_id == "acme" and data.order_name == "#9999"
    assert data.customer.id == "115310627314723954" and data.customer.first_name == "John"
    assert data.customer.email == "jon@example.com"  # the order's own address wins over the profile's
    assert data.customer.phone == "+14155550123"  # "+1 (415) 555-0123", read as E.164
    assert data.customer.locale == "en" and data.customer.timezone is None
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in data.lines] == [
        ("IPOD2008PINK", 1, Decimal("199.00")), ("variant-808950810", 1, Decimal("199.00"))]
    assert data.total.amount == Decimal("403.00") and data.total.currency == "USD"
    assert data.shipping_method == "Generic Shipping"
    placed = datetime(2026, 3, 2, 14, 14, 27, tzinfo=UTC)
    assert data.placed_at == placed and event.time == placed
    assert data.promised_ship_by == placed + timedelta(days=2)
    assert data.promised_delivery_by == placed + timedelta(days=7)
    assert data.customer_paid_orders_count == 2  # orders_count counts this order too


def test_the_dedupe_key_and_event_id_come_from_the_signed_body_not_the_webhook_id() -> None:
    """Shopify signs only the body: a captured body replayed under a fresh X-Shopify-Webhook-Id is the same
    delivery. Checked to fail before the fix: the old mapping keyed both on the webhook id."""
    first = _map("orders/create", payload_bytes("shopify_orders_create"), "wh-1")
    replayed = _map("orders/create", payload_bytes("shopify_orders_create"), "wh-2")
    updated = _map("orders/create", _with(updated_at="2026-03-02T09:15:00-05:00"), "wh-1")
    assert (first.delivery_id, first.event.id) == (replayed.delivery_id, replayed.event.id)
    assert first.delivery_id != updated.delivery_id and first.event.id != updated.event.id
    same_instant = _map("orders/create", _with(updated_at="2026-03-02T14:14:27Z"), "wh-3")
    assert same_instant.delivery_id == first.delivery_id


@pytest.mark.parametrize(("topic", "body", "reason"), [
    ("orders/fulfilled", payload_bytes("shopify_orders_create"), "not fulfilled"),
    ("orders/fulfilled", _with(fulfillment_status="partial"), "not fulfilled"),
    ("orders/cancelled", payload_bytes("shopify_orders_create"), "cancelled_at"),
    ("orders/create", payload_bytes("shopify_orders_cancelled"), "already cancelled"),
])
def test_a_body_replayed_under_another_topic_is_refused(topic: str, body: bytes, reason: str) -> None:
    """The topic header is not signed: the body's own state must match it. Checked to fail before the fix: the old
    mapping turned an orders/create body posted as orders/fulfilled into order.fulfilled (its updated_at)."""
    with pytest.raises(MappingError) as caught:
        map_shopify(topic, body, webhook_id="wh-replay", shop_domain=DOMAIN, promises=PROMISES)
    assert reason in caught.value.reason


def test_express_shipping_and_store_promises_in_note_attributes() -> None:
    express = _map("orders/create", _with(shipping_lines=[{"title": "UPS Next Day Air", "code": "01"}])).event
    assert isinstance(express, OrderPlaced)
    assert express.data.promised_delivery_by == express.data.placed_at + timedelta(days=3)
    noted = _map("orders/create", _with(note_attributes=[
        {"name": "promised_ship_by", "value": "2026-03-03T17:00:00-05:00"},
        {"name": "gift_wrap", "value": "yes"}])).event
    assert isinstance(noted, OrderPlaced)
    assert noted.data.promised_ship_by == datetime(2026, 3, 3, 22, 0, tzinfo=UTC)


def test_guest_checkout_gets_a_stable_customer_id_and_the_billing_name() -> None:
    guest = _with(customer=None, email="guest@example.com", phone="+49 30 1234567")
    first = _map("orders/create", guest).event
    again = _map("orders/create", guest).event
    assert isinstance(first, OrderPlaced) and isinstance(again, OrderPlaced)
    assert first.data.customer.id == again.data.customer.id
    assert first.data.customer.id.startswith("guest-")
    assert first.data.customer.first_name == "Steve"
    assert first.data.customer.phone == "+49301234567"
    assert first.data.customer_paid_orders_count is None


def test_unicode_digits_are_not_a_phone_number() -> None:
    """Fullwidth and Arabic-Indic digits matched `\\d` before (checked on the old code: '+1 (415) 555-０１２３' became
    the customer's phone); now only 0-9 make a phone number, in the gateway and in the contract's E.164 pattern."""
    for phone in ("+١٤١٥٥٥٥٠١٢٣", "+1415555٠123", "+1 (415) 555-０１２３"):
        event = _map("orders/create", _with(phone=phone, customer=None, billing_address={},
                                            shipping_address={})).event
        assert isinstance(event, OrderPlaced)
        assert event.data.customer.phone is None, phone


def test_unreadable_contact_details_are_left_out_not_fatal() -> None:
    body = _with(email="not an email", contact_email=None, customer={"id": 7, "first_name": "Ana", "phone": "12"},
                 customer_locale="??")
    event = _map("orders/create", body).event
    assert isinstance(event, OrderPlaced)
    assert event.data.customer.email is None and event.data.customer.phone is None
    assert event.data.customer.locale == "en"


def test_orders_cancelled_and_fulfilled() -> None:
    cancelled = _map("orders/cancelled", payload_bytes("shopify_orders_cancelled")).event
    assert isinstance(cancelled, OrderCancelled)
    assert cancelled.data.reason == "customer"
    assert cancelled.data.cancelled_at == datetime(2026, 3, 2, 16, 2, 10, tzinfo=UTC)
    fulfilled = _map("orders/fulfilled", payload_bytes("shopify_orders_fulfilled")).event
    assert isinstance(fulfilled, OrderFulfilled)
    assert fulfilled.data.fulfilled_at == datetime(2026, 3, 3, 21, 38, 12, tzinfo=UTC)
    assert cancelled.key() == fulfilled.key() == b"820982911946154508"


@pytest.mark.parametrize("topic", ["orders/updated", "orders/paid", "fulfillments/create", "customers/redact",
                                   "app/uninstalled", None])
def test_unmapped_topics_are_ignored(topic: str | None) -> None:
    result = map_shopify(topic, b"not even json", webhook_id="wh", shop_domain=DOMAIN, promises=PROMISES)
    assert isinstance(result, Ignored) and result.kind == "shopify_topic"


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (json.dumps({"created_at": "2026-03-02T09:14:27-05:00"}).encode(), "order.id is missing"),
    (_with(line_items=[]), "line_items"),
    (_with(line_items=[{"title": "Mug", "price": "9.00", "quantity": "two", "sku": "M"}]), "quantity"),
    (_with(line_items=[{"title": "Mug", "price": "cheap", "quantity": 1, "sku": "M"}]), "price"),
    (_with(created_at="2026-03-02T09:14:27"), "no UTC offset"),
    (_with(currency="dollars"), "currency"),
    (_with(note_attributes=[{"name": "promised_ship_by", "value": "soon"}]), "promised_ship_by"),
    # Run on the old code (a `git worktree` of the parent commit): year 9999 raised OverflowError, deep nesting
    # RecursionError and the 5,000-digit id ValueError (each a 500 at the gateway); the Arabic-Indic price and the
    # missing updated_at mapped without complaint.
    (_with(created_at="9999-12-31T23:59:59+00:00"), "order.created_at is out of range"),
    (_with(updated_at=None), "order.updated_at is missing"),
    (_with(total_price="١٢٣.٠٠"), "order.total_price is not a number"),
    (_with(total_price="1e999999"), "order.total_price is not a finite number"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b'{"id": ' + b"7" * 5000 + b"}", "not valid JSON"),
])
def test_malformed_orders_raise_a_clear_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_shopify("orders/create", body, webhook_id="wh", shop_domain=DOMAIN, promises=PROMISES)
    assert reason in caught.value.reason
    assert "jon@example.com" not in caught.value.reason


def test_headers_that_must_be_there() -> None:
    body = payload_bytes("shopify_orders_create")
    with pytest.raises(MappingError, match="X-Shopify-Webhook-Id"):
        map_shopify("orders/create", body, webhook_id=None, shop_domain=DOMAIN, promises=PROMISES)
    with pytest.raises(MappingError, match="X-Shopify-Shop-Domain"):
        map_shopify("orders/create", body, webhook_id="wh", shop_domain="", promises=PROMISES)


def test_store_id_from_domain() -> None:
    assert store_id_from_domain("Acme.myshopify.com") == "acme"
    assert store_id_from_domain("shop.acme.example") == "shop.acme.example"
