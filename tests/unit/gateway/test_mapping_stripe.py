"""Stripe events -> payments events: successes, issuer declines, our own rule blocking, amounts, unknown types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas import PaymentDeclined, PaymentSucceeded, parse_event
from services.gateway.mapping import Ignored, MappingError, Publish, map_stripe
from services.gateway.mapping.stripe import money_from_minor_units
from tests.unit.gateway.fixtures import payload, payload_bytes

pytestmark = pytest.mark.unit


def _map(body: bytes) -> Publish:
    result = map_stripe(body)
    assert isinstance(result, list) and len(result) == 1
    item = result[0]
    assert item.topic == "payments"
    assert parse_event(item.event.to_bytes(), topic="payments") == item.event
    return item


def _with_object(name: str, **changes: Any) -> bytes:
    event = payload(name)
    event["data"]["object"].update(changes)
    return json.dumps(event).encode()


def test_payment_intent_succeeded() -> None:
    item = _map(payload_bytes("stripe_payment_intent_succeeded"))
    event = item.event
    assert isinstance(event, PaymentSucceeded)
    assert item.delivery_id == "evt_3OaBcD2eZvKYlo2C0aBcDeFg"
    assert event.key() == b"820982911946154508"
    assert event.data.payment_id == "pi_3OaBcD2eZvKYlo2C0XyZ1234"
    assert event.data.amount.amount == Decimal("89.00") and event.data.amount.currency == "USD"
    assert event.data.customer_id == "115310627314723954"
    assert event.data.succeeded_at == datetime.fromtimestamp(1772460867, UTC)


def test_payment_intent_failed_carries_the_issuer_decline() -> None:
    event = _map(payload_bytes("stripe_payment_intent_payment_failed")).event
    assert isinstance(event, PaymentDeclined)
    data = event.data
    assert data.decline_code == "do_not_honor"
    assert data.outcome_type == "unknown" and data.risk_level == "unknown"  # the charge's outcome is not in it
    assert data.attempt == 2 and data.retry_url == "https://acme.example/pay/820982911946154508"


def test_charge_failed_carries_the_outcome_of_our_own_rule() -> None:
    event = _map(payload_bytes("stripe_charge_failed")).event
    assert isinstance(event, PaymentDeclined)
    data = event.data
    assert (data.decline_code, data.outcome_type, data.risk_level, data.risk_score, data.rule) == (
        "rule", "blocked", "normal", 23, "rule_block_new_ip")
    assert data.network_status == "not_sent_to_network"
    assert data.payment_id == "pi_3OaBcD2eZvKYlo2C0XyZ1234"


def test_both_events_of_one_decline_share_a_cloudevent_id() -> None:
    """Stripe fires payment_intent.payment_failed and charge.failed for one decline: downstream counts it once."""
    from_intent = _map(payload_bytes("stripe_payment_intent_payment_failed"))
    from_charge = _map(payload_bytes("stripe_charge_failed"))
    assert from_intent.delivery_id != from_charge.delivery_id
    assert from_intent.event.id == from_charge.event.id


def test_issuer_decline_code_comes_from_the_outcome_reason() -> None:
    body = _with_object("stripe_charge_failed", outcome={"type": "issuer_declined", "reason": "insufficient_funds",
                                                         "network_status": "declined_by_network",
                                                         "risk_level": "surprising"})
    event = _map(body).event
    assert isinstance(event, PaymentDeclined)
    assert event.data.decline_code == "insufficient_funds" and event.data.outcome_type == "issuer_declined"
    assert event.data.risk_level == "unknown"  # a level the contract does not know


def test_charge_without_order_of_a_payment_intent_is_ignored() -> None:
    result = map_stripe(_with_object("stripe_charge_failed", metadata={}))
    assert isinstance(result, Ignored) and result.kind == "stripe_charge_without_order"


def test_unmapped_event_types_are_ignored() -> None:
    result = map_stripe(payload_bytes("stripe_customer_created"))
    assert isinstance(result, Ignored) and result.kind == "stripe_type"


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "not valid JSON"),
    (b'"evt"', "must be a JSON object"),
    (json.dumps({"type": "payment_intent.succeeded"}).encode(), "event.id is missing"),
    (_with_object("stripe_payment_intent_succeeded", metadata={}), "metadata.order_id is missing"),
    (_with_object("stripe_payment_intent_succeeded", metadata={"order_id": "o1"}, customer=None), "customer"),
    (_with_object("stripe_payment_intent_succeeded", amount_received=-5), "amount"),
    (_with_object("stripe_payment_intent_succeeded", currency="dollars"), "currency"),
    (_with_object("stripe_payment_intent_payment_failed", last_payment_error=None), "last_payment_error"),
    (_with_object("stripe_payment_intent_payment_failed", last_payment_error={"type": "card_error"}), "decline"),
])
def test_malformed_events_raise_a_clear_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_stripe(body)
    assert reason in caught.value.reason


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (8900, "usd", Decimal("89.00")), (1500, "jpy", Decimal("1500")), (12345, "kwd", Decimal("12.345")), (0, "eur", 0),
])
def test_minor_units(amount: int, currency: str, expected: Decimal) -> None:
    money = money_from_minor_units(amount, currency, "x")
    assert money["amount"] == expected and money["currency"] == currency.upper()


@pytest.mark.parametrize(("attempt", "expected"), [("2", 2), ("²", 1), ("٣", 1), ("0", 1), ("9" * 50, 1), (None, 1)])
def test_attempt_is_read_from_ascii_digits_only(attempt: str | None, expected: int) -> None:
    """`"²".isdigit()` is True and `int("²")` raises: on the old code (checked in a worktree of the parent commit)
    this body raised ValueError, a 500 at the gateway."""
    event = payload("stripe_payment_intent_payment_failed")
    event["data"]["object"]["metadata"]["attempt"] = attempt
    declined = _map(json.dumps(event).encode()).event
    assert isinstance(declined, PaymentDeclined) and declined.data.attempt == expected
