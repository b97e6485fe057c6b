"""The return window: a late request goes to a person, is never refused by the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.returns.rules import ReturnSettings, escalation_id, incident_id, window_ends_at
from tests.unit.returns.factories import T0, Desk, order_placed, received, requested

pytestmark = pytest.mark.unit

D = timedelta(days=1)
WINDOW_ID = incident_id("return_window_exceeded", "o-1", "r-1", "window")


def test_request_inside_the_window_is_quiet() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + 30 * D))
    assert desk.incidents == []
    assert desk.escalations == []


def test_request_after_the_window_goes_to_a_person_and_is_not_rejected() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + 30 * D + timedelta(seconds=1)))
    [case] = desk.escalations
    assert case.reason == "return_window_exceeded"
    assert case.kind == "return_window_exceeded"
    assert case.tier == 2
    assert case.incident_id == WINDOW_ID
    assert case.escalation_id == escalation_id(WINDOW_ID, "return_window_exceeded")
    assert case.customer_id == "cus-1"
    assert case.order_id == "o-1"
    assert case.opened_at == T0 + 30 * D + timedelta(seconds=1)
    assert desk.incidents == []  # by default the customer hears nothing until a person decides
    assert "return_rejected" not in desk.kinds()


def test_the_late_return_still_follows_its_journey() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + 40 * D), received(T0 + 45 * D))
    desk.run(T0 + 47 * D, start=T0 + 45 * D)
    assert desk.kinds() == ["return_received", "refund_overdue"]


def test_the_store_window_ends_at_wins_over_the_setting() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + 40 * D, window_ends_at=T0 + 60 * D))
    assert desk.escalations == []
    desk = Desk().feed(order_placed(), requested(T0 + 10 * D, window_ends_at=T0 + 5 * D))
    assert len(desk.escalations) == 1


def test_a_year_long_window_per_store() -> None:
    settings = ReturnSettings(overrides={"acme": {"return_window": "P365D"}})
    desk = Desk(settings).feed(order_placed(), requested(T0 + 300 * D))
    assert desk.escalations == []
    desk = Desk(settings).feed(order_placed(), requested(T0 + 366 * D))
    assert len(desk.escalations) == 1


def test_unknown_delivery_date_cannot_make_a_request_late() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + 300 * D, delivered_at=None))
    assert desk.escalations == []


def test_a_repeated_late_request_opens_one_case() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + 40 * D), requested(T0 + 41 * D))
    assert len(desk.escalations) == 1


def test_the_store_may_tell_the_customer_at_once() -> None:
    desk = Desk(ReturnSettings(journey_window_exceeded=True)).feed(order_placed(), requested(T0 + 40 * D))
    [incident] = desk.incidents
    assert incident.kind == "return_window_exceeded"
    assert incident.incident_id == WINDOW_ID
    assert incident.escalate is True
    assert incident.escalation_tier == 2
    assert [e.incident_id for e in desk.escalations] == [WINDOW_ID]


def test_window_ends_at() -> None:
    settings = ReturnSettings()
    assert window_ends_at(requested(T0), settings) == T0 + 30 * D  # type: ignore[arg-type]
    assert window_ends_at(requested(T0, window_ends_at=T0 + D), settings) == T0 + D  # type: ignore[arg-type]
    assert window_ends_at(requested(T0, delivered_at=None), settings) is None  # type: ignore[arg-type]
