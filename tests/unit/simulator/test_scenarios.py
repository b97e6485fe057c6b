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
