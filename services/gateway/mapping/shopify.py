"""Shopify order webhooks -> `orders` events.

| X-Shopify-Topic | event |
|---|---|
| `orders/create` | `order.placed` |
| `orders/cancelled` | `order.cancelled` |
| `orders/fulfilled` | `order.fulfilled` (Shopify sends it once every line has shipped) |
| anything else | ignored, counted |

`fulfillments/*` are ignored on purpose: one fulfillment does not say whether the whole order
shipped (the contract's `order.fulfilled`), and carrier progress comes from the tracking
webhook, keyed by the same order id. Shopify orders carry no delivery promises, so
`promised_ship_by` and `promised_delivery_by` come from the order's note attributes of those
names when the store sets them, else from the gateway's defaults (`Promises`).

Shopify signs the body only: `X-Shopify-Webhook-Id` and `X-Shopify-Topic` can be swapped on a
captured body. So the dedupe key and the CloudEvent id come from the signed body (shop, order
id, topic, `updated_at`), a body must be in the state its topic claims (`orders/fulfilled`
needs `fulfillment_status: fulfilled`, `orders/cancelled` a `cancelled_at`, `orders/create` none),
and its `Version` (the order and topic, at `updated_at`) lets the gateway refuse old and
superseded bodies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.ids import stable_id
from services.gateway.mapping.base import (
    Ignored,
    MappingError,
    Publish,
    Result,
    Version,
    aware_time,
    build_event,
    decimal,
    email_or_none,
    in_range,
    json_body,
    locale_or_default,
    mapping,
    nested,
    optional_text,
    phone_or_none,
    required,
    text,
)

__all__ = ["MAPPED_TOPICS", "Promises", "map_shopify", "store_id_from_domain"]

MAPPED_TOPICS = ("orders/create", "orders/cancelled", "orders/fulfilled")
EXPRESS_WORDS = ("express", "expedited", "overnight", "next day", "next-day", "priority")
_SHOP_SUFFIX = ".myshopify.com"
_SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9.\-]{0,254}")


@dataclass(frozen=True)
class Promises:
    """What the store promises when an order does not say: ship within, deliver within (standard, express)."""

    ship_within: timedelta = timedelta(days=2)
    deliver_within: timedelta = timedelta(days=7)
    express_deliver_within: timedelta = timedelta(days=3)


def store_id_from_domain(domain: str | None) -> str:
    """`acme.myshopify.com` -> `acme`; a custom domain is kept whole."""
    value = (domain or "").strip().lower()
    if not value:
        raise MappingError("missing X-Shopify-Shop-Domain header")
    if not value.isascii() or not _SHOP_DOMAIN.fullmatch(value):
        raise MappingError("X-Shopify-Shop-Domain is not a domain name")
    return value.removesuffix(_SHOP_SUFFIX) or value


def map_shopify(
    topic: str | None, body: bytes, *, webhook_id: str | None, shop_domain: str | None, promises: Promises
) -> Result:
    """One Shopify webhook -> at most one `orders` event, keyed by what the body says, not by its headers.

    The delivery id and the CloudEvent id are (shop, order id, topic, `updated_at`): a retry and a
    replay under a fresh `X-Shopify-Webhook-Id` are the same delivery. The webhook id must still be
    there (Shopify always sends it) and goes into dead letters for tracing.
    """
    if topic not in MAPPED_TOPICS:
        return Ignored("Shopify topic is not mapped", kind="shopify_topic")
    if not webhook_id or not webhook_id.strip():
        raise MappingError("missing X-Shopify-Webhook-Id header")
    store_id = store_id_from_domain(shop_domain)
    order = mapping(json_body(body), "order")
    order_id = text(order, "id", "order")
    updated_at = aware_time(required(order, "updated_at", "order"), "order.updated_at")
    delivery_id = f"{store_id}:{order_id}:{topic}:{updated_at.astimezone(UTC).isoformat()}"
    event_id = stable_id("shopify", delivery_id)
    source = f"shopify/{store_id}"
    _check_state(topic, order)
    if topic == "orders/create":
        data = _placed(order, order_id, store_id, promises)
        event = build_event("order.placed", data, source=source, subject=order_id, time=data["placed_at"],
                            id=event_id)
    elif topic == "orders/cancelled":
        cancelled_at = aware_time(required(order, "cancelled_at", "order"), "order.cancelled_at")
        event = build_event("order.cancelled", {"order_id": order_id, "reason": optional_text(order, "cancel_reason"),
                                                "cancelled_at": cancelled_at},
                            source=source, subject=order_id, time=cancelled_at, id=event_id)
    else:
        fulfilled_at = _fulfilled_at(order)
        event = build_event("order.fulfilled", {"order_id": order_id, "fulfilled_at": fulfilled_at},
                            source=source, subject=order_id, time=fulfilled_at, id=event_id)
    return [Publish(delivery_id, event, Version(f"order:{store_id}:{order_id}:{topic}", updated_at))]


def _check_state(topic: str, order: Mapping[str, Any]) -> None:
    """The body must be in the state its (unsigned) topic claims, so a body cannot be replayed as another topic."""
    if topic == "orders/fulfilled" and order.get("fulfillment_status") != "fulfilled":
        raise MappingError("orders/fulfilled body is not fulfilled (fulfillment_status)")
    if topic == "orders/cancelled" and order.get("cancelled_at") in (None, ""):
        raise MappingError("orders/cancelled body is not cancelled (cancelled_at)")
    if topic == "orders/create" and order.get("cancelled_at") not in (None, ""):
        raise MappingError("orders/create body is already cancelled (cancelled_at)")


def _placed(order: Mapping[str, Any], order_id: str, store_id: str, promises: Promises) -> dict[str, Any]:
    placed_at = aware_time(required(order, "created_at", "order"), "order.created_at")
    currency = text(order, "currency", "order")
    shipping_method = _shipping_method(order)
    notes = _note_attributes(order)
    express = any(word in shipping_method.lower() for word in EXPRESS_WORDS)
    deliver_within = promises.express_deliver_within if express else promises.deliver_within
    return {
        "order_id": order_id,
        "store_id": store_id,
        "customer": _customer(order, store_id, order_id),
        "lines": _lines(order, currency),
        "total": {"amount": decimal(required(order, "total_price", "order"), "order.total_price"),
                  "currency": currency},
        "shipping_method": shipping_method,
        "placed_at": placed_at,
        "promised_ship_by": _note_time(notes, "promised_ship_by")
        or in_range(placed_at + promises.ship_within, "order.promised_ship_by"),
        "promised_delivery_by": _note_time(notes, "promised_delivery_by")
        or in_range(placed_at + deliver_within, "order.promised_delivery_by"),
        "customer_paid_orders_count": _earlier_orders(order),
        "order_status_url": optional_text(order, "order_status_url"),
        "order_name": optional_text(order, "name"),
    }


def _customer(order: Mapping[str, Any], store_id: str, order_id: str) -> dict[str, Any]:
    """The buyer; a guest checkout (no customer object) gets an id stable per store and address."""
    raw = order.get("customer")
    customer = mapping(raw, "order.customer") if raw is not None else {}
    billing = nested(order, "billing_address")
    shipping = nested(order, "shipping_address")
    email = email_or_none(order.get("email")) or email_or_none(customer.get("email")) \
        or email_or_none(order.get("contact_email"))
    phone = next((p for p in (phone_or_none(order.get("phone")), phone_or_none(customer.get("phone")),
                              phone_or_none(shipping.get("phone")), phone_or_none(billing.get("phone"))) if p), None)
    customer_id = optional_text(customer, "id") or stable_id("guest", store_id, email or phone or f"order:{order_id}")
    first_name = next((str(n) for n in (customer.get("first_name"), billing.get("first_name"),
                                        shipping.get("first_name")) if isinstance(n, str) and n.strip()), "")
    last_name = next((str(n) for n in (customer.get("last_name"), billing.get("last_name"),
                                       shipping.get("last_name")) if isinstance(n, str) and n.strip()), None)
    return {
        "id": customer_id, "first_name": first_name.strip(), "last_name": last_name, "email": email, "phone": phone,
        "locale": locale_or_default(order.get("customer_locale")), "timezone": None,
    }


def _lines(order: Mapping[str, Any], currency: str) -> list[dict[str, Any]]:
    items = order.get("line_items")
    if not isinstance(items, list) or not items:
        raise MappingError("order.line_items must be a non-empty list")
    lines = []
    for index, raw in enumerate(items):
        path = f"order.line_items[{index}]"
        item = mapping(raw, path)
        quantity = item.get("current_quantity", item.get("quantity"))
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise MappingError(f"{path}.quantity must be an integer")
        if quantity <= 0:  # removed by an edit before the webhook went out
            continue
        sku = optional_text(item, "sku") or _fallback_sku(item, path)
        name = optional_text(item, "title") or optional_text(item, "name")
        if name is None:
            raise MappingError(f"{path}.title is missing")
        lines.append({"sku": sku, "product_name": name, "quantity": quantity,
                      "unit_price": {"amount": decimal(required(item, "price", path), f"{path}.price"),
                                     "currency": currency}})
    if not lines:
        raise MappingError("order.line_items has no line with a quantity")
    return lines


def _fallback_sku(item: Mapping[str, Any], path: str) -> str:
    """Products without a SKU are named by variant (or product, or line) id, stable across webhooks."""
    for key, prefix in (("variant_id", "variant"), ("product_id", "product"), ("id", "line")):
        value = optional_text(item, key)
        if value is not None:
            return f"{prefix}-{value}"
    raise MappingError(f"{path} has neither sku nor any id")


def _shipping_method(order: Mapping[str, Any]) -> str:
    lines = order.get("shipping_lines")
    if isinstance(lines, list):
        for line in lines:
            if isinstance(line, Mapping):
                name = optional_text(line, "title") or optional_text(line, "code")
                if name:
                    return name
    return "standard"


def _note_attributes(order: Mapping[str, Any]) -> dict[str, Any]:
    notes = order.get("note_attributes")
    if not isinstance(notes, list):
        return {}
    return {n["name"]: n.get("value") for n in notes if isinstance(n, Mapping) and isinstance(n.get("name"), str)}


def _note_time(notes: Mapping[str, Any], name: str) -> datetime | None:
    value = notes.get(name)
    return None if value in (None, "") else aware_time(value, f"order.note_attributes.{name}")


def _earlier_orders(order: Mapping[str, Any]) -> int | None:
    """Shopify's `orders_count` includes the order at hand; earlier ones are one fewer. None when absent."""
    customer = order.get("customer")
    count = customer.get("orders_count") if isinstance(customer, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int):
        return None
    return max(count - 1, 0)


def _fulfilled_at(order: Mapping[str, Any]) -> datetime:
    """The last fulfillment's time; Shopify's `updated_at` when the order lists none."""
    fulfillments = order.get("fulfillments")
    times = [aware_time(f["created_at"], "order.fulfillments.created_at")
             for f in (fulfillments if isinstance(fulfillments, list) else [])
             if isinstance(f, Mapping) and f.get("created_at")]
    if times:
        return max(times)
    return aware_time(required(order, "updated_at", "order"), "order.updated_at")
