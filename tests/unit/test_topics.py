"""The topic registry: names, keys, event types and dead-letter names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemas
from schemas import (
    CASES,
    CUSTOMER_ACTIONS,
    CUSTOMERS,
    ESCALATIONS,
    EVENT_TYPES,
    INCIDENT_CANDIDATES,
    INCIDENTS,
    INVENTORY,
    NOTIFICATIONS,
    ORDERS,
    PAYMENTS,
    PROVIDER_EVENTS,
    RETURNS,
    SHIPMENTS,
    TICKS,
    TOPICS,
    Topic,
    dlq_topic,
    parse_event,
    topic_for_event_type,
)

pytestmark = pytest.mark.unit

VALID = sorted((Path(schemas.__file__).parent / "examples" / "valid").glob("*.json"))


def test_constants_name_registry_topics() -> None:
    constants = [ORDERS, SHIPMENTS, PAYMENTS, INVENTORY, RETURNS, CUSTOMERS, INCIDENTS, NOTIFICATIONS, ESCALATIONS]
    assert [*constants, PROVIDER_EVENTS] == [
        "orders", "shipments", "payments", "inventory", "returns", "customers", "incidents", "notifications",
        "escalations", "provider-events",
    ]
    assert (CUSTOMER_ACTIONS, CASES) == ("customer-actions", "cases")
    assert set(TOPICS) == {*constants, PROVIDER_EVENTS, CUSTOMER_ACTIONS, CASES, TICKS, INCIDENT_CANDIDATES}
    assert all(name == topic.name for name, topic in TOPICS.items())


def test_topic_settings_are_sane() -> None:
    partitions = {topic.partitions for topic in TOPICS.values()}
    assert partitions == {4}, "topics keyed alike must be co-partitioned"
    for topic in TOPICS.values():
        assert topic.cleanup_policy in ("delete", "compact")
        assert topic.retention_ms is None or topic.retention_ms > 0
        assert topic.event_types and topic.key and topic.description
        assert topic.internal or topic.key_field == "subject"
    assert TOPICS[TICKS].internal and TOPICS[TICKS].event_types == ("tick",)


def test_every_detector_feeds_one_candidates_topic_keyed_like_incidents_and_escalations() -> None:
    candidates = TOPICS[INCIDENT_CANDIDATES]
    assert candidates.internal and candidates.name == "incident-candidates"
    assert set(candidates.event_types) == {*TOPICS[INCIDENTS].event_types, *TOPICS[ESCALATIONS].event_types}
    assert candidates.key == TOPICS[INCIDENTS].key == TOPICS[ESCALATIONS].key == "customer id"


def test_topic_is_frozen_and_prefixes_its_name() -> None:
    topic = TOPICS[ORDERS]
    assert topic.full_name() == "orders"
    assert topic.full_name("test-7f3a.") == "test-7f3a.orders"
    with pytest.raises(AttributeError):
        topic.name = "other"  # type: ignore[misc]
    assert Topic("x", "k", "subject", ("a.b",)).partitions == 4


def test_dead_letter_topics() -> None:
    assert dlq_topic("orders") == "orders.dlq"
    assert dlq_topic("test-7f3a.orders") == "test-7f3a.orders.dlq"


@pytest.mark.parametrize(
    ("type_", "topic"),
    [
        ("order.placed", ORDERS), ("order.line_backordered", ORDERS), ("shipment.updated", SHIPMENTS),
        ("payment.declined", PAYMENTS), ("stock.changed", INVENTORY), ("return.label_scanned", RETURNS),
        ("refund.issued", RETURNS), ("customer.replied", CUSTOMERS), ("incident.resolved", INCIDENTS),
        ("notification.bounced", NOTIFICATIONS), ("escalation.opened", ESCALATIONS),
        ("provider.sms_inbound", PROVIDER_EVENTS), ("tick", TICKS),
    ],
)
def test_topic_for_event_type(type_: str, topic: str) -> None:
    assert topic_for_event_type(type_) == topic


def test_every_event_type_has_exactly_one_public_topic() -> None:
    for type_ in EVENT_TYPES:
        owners = [topic.name for topic in TOPICS.values() if type_ in topic.event_types and not topic.internal]
        assert owners == [topic_for_event_type(type_)]
    with pytest.raises(KeyError):
        topic_for_event_type("order.teleported")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_example_key_is_what_its_topic_is_keyed_by(path: Path) -> None:
    event = parse_event(path.read_bytes())
    data = json.loads(path.read_bytes())["data"]
    topic = topic_for_event_type(event.type)
    expected = {
        ORDERS: data.get("order_id"), SHIPMENTS: data.get("order_id"), PAYMENTS: data.get("order_id"),
        RETURNS: data.get("order_id"), INVENTORY: data.get("sku"),
        INCIDENTS: data.get("customer_id") or data.get("customer", {}).get("id"),
        NOTIFICATIONS: data.get("customer_id"), ESCALATIONS: data.get("customer_id"), CASES: data.get("customer_id"),
        CUSTOMERS: data.get("customer_id") or data.get("phone") or data.get("email") or data.get("notification_id"),
        PROVIDER_EVENTS: data.get("message_sid") or data.get("sg_message_id"),
        CUSTOMER_ACTIONS: data.get("order_id") or data.get("customer_id"),
    }[topic]
    assert event.key() == expected.encode("utf-8")
