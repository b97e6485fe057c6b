"""Twilio callbacks, SendGrid events and unsubscribe clicks -> the events the notifier reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas import (
    CustomerOptedOut,
    ProviderEmailEvent,
    ProviderSmsInbound,
    ProviderSmsStatus,
    parse_event,
)
from services.gateway.mapping import (
    MappingError,
    map_sendgrid,
    map_twilio_inbound,
    map_twilio_status,
    map_unsubscribe,
)
from tests.unit.gateway.fixtures import payload, payload_bytes

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
SID = "SM0123456789abcdef0123456789abcdef"
STATUS = {"MessageSid": SID, "SmsSid": SID, "MessageStatus": "undelivered", "SmsStatus": "undelivered",
          "To": "+14155550123", "From": "+15005550006", "ErrorCode": "30003", "AccountSid": "AC" + "0" * 32,
          "ApiVersion": "2010-04-01"}
INBOUND = {"MessageSid": "SMin0123456789abcdef0123456789abcd", "From": "+14155550123", "To": "+15005550006",
           "Body": " Stop ", "NumMedia": "0", "AccountSid": "AC" + "0" * 32}


def test_status_callback() -> None:
    [item] = map_twilio_status(STATUS, received_at=NOW)
    event = parse_event(item.event.to_bytes(), topic="provider-events")
    assert isinstance(event, ProviderSmsStatus)
    assert item.topic == "provider-events" and event.key() == SID.encode()
    assert (event.data.status, event.data.error_code, event.data.to) == ("undelivered", "30003", "+14155550123")
    assert item.delivery_id == f"{SID}:undelivered"
    [later] = map_twilio_status({**STATUS, "MessageStatus": "delivered", "ErrorCode": ""}, received_at=NOW)
    assert later.event.id != item.event.id and later.event.data.error_code is None  # type: ignore[attr-defined]


def test_inbound_sms_keeps_the_body_as_sent() -> None:
    [item] = map_twilio_inbound(INBOUND, received_at=NOW)
    event = parse_event(item.event.to_bytes(), topic="provider-events")
    assert isinstance(event, ProviderSmsInbound)
    assert event.data.from_ == "+14155550123" and event.data.body == " Stop "
    assert item.delivery_id == INBOUND["MessageSid"] and event.key() == INBOUND["MessageSid"].encode()


@pytest.mark.parametrize(("params", "reason"), [
    ({k: v for k, v in STATUS.items() if k != "MessageSid"}, "MessageSid"),
    ({**STATUS, "MessageStatus": ""}, "MessageStatus"),
    ({**STATUS, "To": "whatsapp:+14155550123"}, "To"),
])
def test_malformed_status_callbacks(params: dict[str, str], reason: str) -> None:
    with pytest.raises(MappingError, match=reason) as caught:
        map_twilio_status(params, received_at=NOW)
    assert "4155550123" not in caught.value.reason


def test_inbound_from_a_short_code_is_refused() -> None:
    with pytest.raises(MappingError, match="From"):
        map_twilio_inbound({**INBOUND, "From": "72345"}, received_at=NOW)


def test_sendgrid_batch_one_event_per_item() -> None:
    published, problems = map_sendgrid(payload_bytes("sendgrid_events"))
    assert problems == []
    events = [parse_event(p.event.to_bytes(), topic="provider-events") for p in published]
    assert all(isinstance(e, ProviderEmailEvent) for e in events)
    assert [e.data.event for e in events] == ["delivered", "bounce", "open"]  # type: ignore[attr-defined]
    delivered, bounce, _ = events
    assert delivered.data.notification_id == "ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d"  # type: ignore[attr-defined]
    assert bounce.data.bounce_type == "bounce" and bounce.data.reason == "500 unknown recipient"  # type: ignore[attr-defined]
    assert delivered.data.occurred_at == datetime.fromtimestamp(1772460900, UTC)  # type: ignore[attr-defined]
    assert [p.delivery_id for p in published] == [
        "rbtnWrG1DVDGGGFHFyun0A==", "6g4ZI7SA-xmRDv57GoPIPw==", "FOTFFO0ecsBE-zxFXfs6WA=="]
    assert len({e.id for e in events}) == 3
    assert delivered.key() == b"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000"


def test_sendgrid_bad_items_are_reported_and_the_rest_mapped() -> None:
    items = payload("sendgrid_events")
    items[0]["email"] = "nobody"
    del items[1]["sg_event_id"]
    published, problems = map_sendgrid(json.dumps(items).encode())
    assert len(published) == 1
    assert problems == ["[0].email is not an email address", "[1].sg_event_id is missing"]


@pytest.mark.parametrize("body", [b"{}", b"[]", b"nope", b'{"event": "delivered"}'])
def test_sendgrid_body_that_is_no_event_array(body: bytes) -> None:
    with pytest.raises(MappingError):
        map_sendgrid(body)


def test_unsubscribe_names_the_notification() -> None:
    [item] = map_unsubscribe("ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d", at=NOW)
    event = parse_event(item.event.to_bytes(), topic="customers")
    assert isinstance(event, CustomerOptedOut)
    assert (event.data.channel, event.data.notification_id, event.data.customer_id, event.data.source) == (
        "email", "ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d", None, "email_unsubscribe")
    assert event.key() == b"ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d"
    assert map_unsubscribe("ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d", at=NOW)[0].event.id == event.id


@pytest.mark.parametrize("nid", ["", "../etc/passwd", "<script>", "a" * 200])
def test_unsubscribe_refuses_what_is_not_a_notification_id(nid: str) -> None:
    with pytest.raises(MappingError):
        map_unsubscribe(nid, at=NOW)
