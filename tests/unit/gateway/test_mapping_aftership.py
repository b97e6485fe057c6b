"""AfterShip tracking updates -> shipment.updated: tags and subtags onto the contract's statuses and reasons."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from schemas import ShipmentUpdated, parse_event
from services.gateway.mapping import Ignored, MappingError, Publish, map_aftership
from services.gateway.mapping.aftership import shipment_status
from tests.unit.gateway.fixtures import payload, payload_bytes

pytestmark = pytest.mark.unit


def _map(body: bytes) -> Publish:
    result = map_aftership(body)
    assert isinstance(result, list) and len(result) == 1
    assert parse_event(result[0].event.to_bytes(), topic="shipments") == result[0].event
    return result[0]


def _with_msg(name: str, **changes: Any) -> bytes:
    body = payload(name)
    body["msg"].update(changes)
    return json.dumps(body).encode()


def test_in_transit_update() -> None:
    item = _map(payload_bytes("aftership_in_transit"))
    event = item.event
    assert isinstance(event, ShipmentUpdated)
    assert item.topic == "shipments" and item.delivery_id == "9b6b4f4a-8d2e-4c1c-a1f4-5e0b2c7d9a11"
    assert event.key() == b"820982911946154508"
    data = event.data
    assert (data.status, data.carrier, data.tracking_number) == ("in_transit", "ups", "1Z9999W99999999999")
    assert data.shipment_id == "5b7658cec7c33c0e007de3c5"
    assert data.checkpoint_time == datetime(2026, 3, 4, 8, 11, tzinfo=UTC)  # the last checkpoint, offset kept
    assert data.checkpoint_location == "Chicago, IL, USA"
    assert data.estimated_delivery == datetime(2026, 3, 6, 23, 59, 59, tzinfo=UTC)
    assert data.estimated_delivery_date == date(2026, 3, 6)  # a date alone: that day wherever the customer is
    assert data.tracking_url == "https://www.ups.com/track?tracknum=1Z9999W99999999999"


def test_customs_exception_with_a_local_checkpoint_time() -> None:
    event = _map(payload_bytes("aftership_exception")).event
    assert isinstance(event, ShipmentUpdated)
    assert (event.data.status, event.data.exception_reason) == ("exception", "customs")
    # the checkpoint names no offset, so AfterShip's own update time stands in
    assert event.data.checkpoint_time == datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    assert event.data.estimated_delivery == datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
    assert event.data.estimated_delivery_date == date(2026, 3, 9)
    assert event.data.checkpoint_location == "Customs, Louisville KY"


def test_without_event_id_dedupe_follows_the_tracking_state() -> None:
    first = _map(payload_bytes("aftership_exception"))
    again = _map(payload_bytes("aftership_exception"))
    moved = _map(_with_msg("aftership_exception", tag="Delivered", subtag="Delivered_001",
                           updated_at="2026-03-06T10:00:00+00:00"))
    assert first.delivery_id == again.delivery_id != moved.delivery_id
    assert first.event.id == again.event.id != moved.event.id


@pytest.mark.parametrize(("tag", "subtag", "expected"), [
    ("InfoReceived", "InfoReceived_001", ("label_created", None)),
    ("InTransit", "InTransit_007", ("in_transit", None)),
    ("OutForDelivery", "OutForDelivery_001", ("out_for_delivery", None)),
    ("AvailableForPickup", "AvailableForPickup_001", ("out_for_delivery", None)),
    ("AttemptFail", "AttemptFail_001", ("attempt_failed", None)),
    ("Delivered", "Delivered_002", ("delivered", None)),
    ("Exception", "Exception_002", ("exception", "address")),
    ("Exception", "Exception_007", ("exception", "address")),
    ("Exception", "Exception_004", ("exception", "customs")),
    ("Exception", "Exception_012", ("exception", "damaged")),
    ("Exception", "Exception_013", ("exception", "lost")),
    ("Exception", "Exception_017", ("exception", "weather")),
    ("Exception", "Exception_005", ("exception", "carrier_delay")),
    ("Exception", "Exception_010", ("returned_to_sender", None)),
    ("Exception", "Exception_011", ("returned_to_sender", None)),
    ("Exception", "Exception_001", ("exception", "other")),
    ("Exception", None, ("exception", "other")),
    ("Pending", "Pending_001", None),
    ("Expired", "Expired_001", None),
])
def test_tags_and_subtags(tag: str, subtag: str | None, expected: tuple[str, str | None] | None) -> None:
    assert shipment_status(tag, subtag) == expected


def test_every_mapped_status_fits_the_contract() -> None:
    for tag, subtag in [("Exception", "Exception_013"), ("Exception", "Exception_010"), ("AttemptFail", None)]:
        event = _map(_with_msg("aftership_in_transit", tag=tag, subtag=subtag)).event
        assert isinstance(event, ShipmentUpdated)


def test_pending_is_ignored() -> None:
    result = map_aftership(_with_msg("aftership_in_transit", tag="Pending", subtag="Pending_001"))
    assert isinstance(result, Ignored)


@pytest.mark.parametrize(("body", "reason"), [
    (b"<xml/>", "not valid JSON"),
    (json.dumps({"event": "tracking_update"}).encode(), "webhook.msg is missing"),
    (_with_msg("aftership_in_transit", order_id=None), "msg.order_id is missing"),
    (_with_msg("aftership_in_transit", tag="Teleported"), "msg.tag"),
    (_with_msg("aftership_in_transit", slug=None), "msg.slug is missing"),
])
def test_malformed_updates_raise_a_clear_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_aftership(body)
    assert reason in caught.value.reason
