"""Stripe payment events -> `payments` events.

| Stripe event | event |
|---|---|
| `payment_intent.succeeded` | `payment.succeeded` |
| `payment_intent.payment_failed` | `payment.declined` (decline code from `last_payment_error`) |
| `charge.failed` | `payment.declined` (decline code, outcome type, network status, risk from `outcome`) |
| anything else | ignored, counted |

The order and customer come from the payment's metadata (`order_id`, `customer_id`; the
Stripe customer id stands in for the latter), as the store set them when it created the
payment; `attempt` and `retry_url` likewise when present. One declined card fires both
`payment_intent.payment_failed` and `charge.failed`: both get the CloudEvent id of the charge,
so downstream dedupe counts the decline once. A charge whose metadata names no order belongs
to a payment intent whose own event is mapped, and is ignored. Each event's `Version` is its
payment (intent) and `created`: Stripe does not order deliveries, and an event older than the
newest one accepted for its payment (a decline retried after the success) is not news.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.common.ids import stable_id
from services.gateway.mapping.base import (
    Ignored,
    MappingError,
    Publish,
    Result,
    Version,
    ascii_digits,
    build_event,
    json_body,
    mapping,
    nested,
    optional_text,
    required,
    text,
    unix_time,
)

__all__ = ["MAPPED_TYPES", "map_stripe", "money_from_minor_units"]

MAPPED_TYPES = ("payment_intent.succeeded", "payment_intent.payment_failed", "charge.failed")
SOURCE = "stripe"
# Currencies Stripe counts in whole units, or in thousandths (its docs: "zero-decimal" and "three-decimal").
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                          "XAF", "XOF", "XPF"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
RISK_LEVELS = frozenset({"normal", "elevated", "highest", "not_assessed", "unknown"})


def money_from_minor_units(amount: Any, currency: Any, path: str) -> dict[str, Any]:
    """Stripe's integer minor units (`8900`, `usd`) -> the contract's Money (`89.00`, `USD`)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise MappingError(f"{path}.amount must be a non-negative integer")
    if not isinstance(currency, str) or len(currency) != 3:
        raise MappingError(f"{path}.currency must be a 3-letter code")
    code = currency.upper()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return {"amount": Decimal(amount).scaleb(-exponent), "currency": code}


def map_stripe(body: bytes) -> Result:
    """One Stripe event -> at most one `payments` event; dedupe on the Stripe event id."""
    event = mapping(json_body(body), "event")
    event_id = text(event, "id", "event")
    type_ = text(event, "type", "event")
    if type_ not in MAPPED_TYPES:
        return Ignored("Stripe event type is not mapped", kind="stripe_type")
    created = unix_time(required(event, "created", "event"), "event.created")
    obj = mapping(mapping(required(event, "data", "event"), "event.data").get("object"), "event.data.object")
    metadata = nested(obj, "metadata")
    if type_ == "charge.failed" and not optional_text(metadata, "order_id") and optional_text(obj, "payment_intent"):
        return Ignored("charge names no order; its payment_intent event is mapped", kind="stripe_charge_without_order")
    order_id = _meta(metadata, "order_id", "event.data.object.metadata")
    customer_id = optional_text(metadata, "customer_id") or optional_text(obj, "customer")
    if customer_id is None:
        raise MappingError("event.data.object names no customer (metadata.customer_id or customer)")
    path = "event.data.object"
    if type_ == "payment_intent.succeeded":
        amount = obj.get("amount_received") or obj.get("amount")
        data = {"order_id": order_id, "payment_id": text(obj, "id", path),
                "amount": money_from_minor_units(amount, obj.get("currency"), path),
                "customer_id": customer_id, "succeeded_at": created}
        result = build_event("payment.succeeded", data, source=SOURCE, subject=order_id, time=created,
                             id=stable_id("stripe", event_id))
        return [Publish(event_id, result, _version(str(data["payment_id"]), created))]
    decline, charge_id = (_from_charge(obj, path) if type_ == "charge.failed" else _from_intent(obj, path))
    data = {
        "order_id": order_id,
        "amount": money_from_minor_units(obj.get("amount"), obj.get("currency"), path),
        "attempt": _attempt(metadata),
        "customer_id": customer_id,
        "retry_url": optional_text(metadata, "retry_url"),
        "declined_at": created,
        **decline,
    }
    cloud_id = stable_id("stripe-decline", charge_id) if charge_id else stable_id("stripe", event_id)
    result = build_event("payment.declined", data, source=SOURCE, subject=order_id, time=created, id=cloud_id)
    return [Publish(event_id, result, _version(str(data["payment_id"]), created))]


def _version(payment_id: str, created: datetime) -> Version:
    """Stripe does not order its events: a decline older than the payment's last accepted event is stale news."""
    return Version(f"payment:{payment_id}", created)


def _meta(metadata: Mapping[str, Any], key: str, path: str) -> str:
    value = optional_text(metadata, key)
    if value is None:
        raise MappingError(f"{path}.{key} is missing (the store sets it when it creates the payment)")
    return value


MAX_ATTEMPT_DIGITS = 6


def _attempt(metadata: Mapping[str, Any]) -> int:
    """The store's attempt counter; anything but a positive `0-9` number (say '²') reads as the first attempt."""
    value = optional_text(metadata, "attempt")  # metadata values are strings on Stripe
    if value is None or not ascii_digits(value) or len(value) > MAX_ATTEMPT_DIGITS:
        return 1
    return max(int(value), 1)


def _outcome_fields(outcome: Mapping[str, Any]) -> dict[str, Any]:
    risk = optional_text(outcome, "risk_level")
    score = outcome.get("risk_score")
    rule = outcome.get("rule")
    return {
        "outcome_type": optional_text(outcome, "type") or "unknown",
        "network_status": optional_text(outcome, "network_status"),
        "risk_level": risk if risk in RISK_LEVELS else "unknown",
        "risk_score": score if isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 100 else None,
        "rule": optional_text(rule, "id") if isinstance(rule, Mapping) else optional_text(outcome, "rule"),
    }


def _from_charge(charge: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """A failed charge: Stripe puts the issuer's decline code in `outcome.reason` (or our rule's reason)."""
    charge_id = text(charge, "id", path)
    outcome = nested(charge, "outcome")
    code = optional_text(outcome, "reason") or optional_text(charge, "failure_code")
    if code is None:
        raise MappingError(f"{path} has no decline code (outcome.reason or failure_code)")
    payment_id = optional_text(charge, "payment_intent") or charge_id
    return {"payment_id": payment_id, "decline_code": code, **_outcome_fields(outcome)}, charge_id


def _from_intent(intent: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str | None]:
    """A failed payment intent: the decline code is in `last_payment_error`; the outcome only if the charge is there."""
    error = mapping(required(intent, "last_payment_error", path), f"{path}.last_payment_error")
    code = optional_text(error, "decline_code") or optional_text(error, "code")
    if code is None:
        raise MappingError(f"{path}.last_payment_error has no decline_code or code")
    charge = error.get("charge") or intent.get("latest_charge")
    outcome: Mapping[str, Any] = {}
    charge_id: str | None = None
    if isinstance(charge, Mapping):  # expanded
        charge_id = optional_text(charge, "id")
        outcome = nested(charge, "outcome")
    elif isinstance(charge, str) and charge:
        charge_id = charge
    return {"payment_id": text(intent, "id", path), "decline_code": code, **_outcome_fields(outcome)}, charge_id
