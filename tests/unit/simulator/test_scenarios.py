"""The demo traffic obeys the contract: each event parses on the topic it is published to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import parse_event
from services.simulator.scenarios import demo_events

pytestmark = pytest.mark.unit


def test_demo_events_fit_their_topics() -> None:
    events = demo_events(datetime(2026, 11, 22, 18, 0, tzinfo=UTC))
    assert {topic for topic, _ in events} == {"orders", "shipments", "payments", "inventory", "returns"}
    for topic, event in events:
        assert parse_event(event.to_bytes(), topic=topic) == event
    assert len({event.id for _, event in events}) == len(events)


def test_each_run_tells_its_stories_with_ids_of_its_own() -> None:
    """The services dedupe by event id and cap per customer: a second run with the same ids would stay silent."""
    now = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    first, second = demo_events(now, run="r1"), demo_events(now, run="r2")
    assert len(first) == len(second)
    assert not {e.id for _, e in first} & {e.id for _, e in second}
    assert not {e.subject for _, e in first} & {e.subject for _, e in second}  # orders, and the stockout's SKU
    customers = {e.data.customer.id for _, e in first if e.type == "order.placed"}
    assert not customers & {e.data.customer.id for _, e in second if e.type == "order.placed"}


def test_every_demo_order_has_the_number_its_customer_knows() -> None:
    """Messages name the store's order number; the demo's orders carry one, so no customer reads an internal id."""
    orders = [e.data for _, e in demo_events(datetime(2026, 11, 22, 18, 0, tzinfo=UTC)) if e.type == "order.placed"]
    assert orders
    assert all(order.order_name and order.order_name.startswith("#") for order in orders)
    assert len({order.order_name for order in orders}) == len(orders)
