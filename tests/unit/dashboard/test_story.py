"""The customer's story as pure functions: reading the search box, matching contacts, laying out the timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.dashboard.story import (
    build_timeline,
    contact_digest,
    customer_summary,
    open_tickets_by_skill,
    orders_of,
    parse_query,
    store_event,
)
from tests.support.dashboard import EMAIL, PHONE
from tests.support.events import order_placed
from tests.support.story import incident

pytestmark = pytest.mark.unit

KEY = b"k" * 32
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _row(notification_id: str, *, state: str = "sent", channel: str = "sms", incident_id: str = "inc-1",
         order_number: str | None = "#1001", at: datetime = AT, **extra: object) -> dict[str, object]:
    event = incident(incident_id, at=at, kind="stockout", order_id="ord-1", order_number=order_number)
    return {"notification_id": notification_id, "incident_id": incident_id, "customer_id": "cus_1",
            "order_id": "ord-1", "channel": channel, "address": PHONE if channel == "sms" else EMAIL, "state": state,
            "reason": None, "provider": None, "body": f"Hi, call {PHONE}", "subject": None,
            "incident": event.to_bytes().decode(), "due_at": None, "created_at": at + timedelta(seconds=5),
            "updated_at": at + timedelta(seconds=30), **extra}


@pytest.mark.parametrize(("typed", "shown", "orders", "ids", "channel"), [
    ("#1001", "#1001", ("#1001",), ("#1001",), None),
    (" 1001 ", "1001", ("#1001", "1001"), ("1001",), None),
    ("cus_1", "cus_1", ("cus_1",), ("cus_1",), None),
    ("+1 (415) 555-0123", "+*******0123", (), (), "sms"),
    ("0049 151 2345 6789", "+*********6789", (), (), "sms"),
    ("14155550123", "*******0123", ("#14155550123", "14155550123"), ("14155550123",), "sms"),
    ("+*******0123", "+*******0123", (), (), "sms"),
    ("Ada.Lovelace@Example.com", "a***@example.com", (), (), "email"),
    ("a***@example.com", "a***@example.com", (), (), "email"),
    ("ada\uff20example.com", "a***@example.com", (), (), "email"),
])
def test_the_search_box(typed: str, shown: str, orders: tuple[str, ...], ids: tuple[str, ...],
                        channel: str | None) -> None:
    query = parse_query(typed, KEY)
    assert query is not None
    assert (query.shown, query.order_numbers, query.ids) == (shown, orders, ids)
    assert (query.contact.channel if query.contact else None) == channel


@pytest.mark.parametrize("typed", ["ada.lovelace@example.com*", "ada lovelace@example.com", "+1415555*0123",
                                   "+1 415 555 012*"])
def test_a_half_masked_contact_is_never_echoed_nor_searched(typed: str) -> None:
    query = parse_query(typed, KEY)
    assert query is not None and query.contact is None and not query.order_numbers
    assert "lovelace@" not in query.shown and "1415555" not in query.shown.replace(" ", "")


def test_nothing_typed_is_no_query() -> None:
    assert parse_query("   ", KEY) is None
    assert parse_query("x" * 400, KEY) is None


def test_a_whole_contact_is_kept_as_its_mask_and_digest() -> None:
    query = parse_query("+1 415 555 0123", KEY)
    assert query is not None and query.whole_contact and query.contact is not None
    assert query.contact.digest == contact_digest(KEY, "+14155550123")
    assert "4155550123" not in repr(query)
    contact = query.contact
    assert contact.matches(KEY, "+14155550123")
    assert not contact.matches(KEY, "+14155550124") and not contact.matches(KEY, None)
    assert not contact.matches(b"other-key" * 4, "+14155550123")  # a digest from another process finds nothing


def test_phone_forms_national_and_masked() -> None:
    national = parse_query("0151 23456789", KEY)
    assert national is not None and national.contact is not None
    assert national.contact.matches(KEY, "+4915123456789")
    masked = parse_query("+*******0123", KEY)
    assert masked is not None and masked.contact is not None
    assert masked.contact.matches(KEY, "+14155550123")
    assert not masked.contact.matches(KEY, "+494155550123")  # another length: another mask
    assert masked.contact.tail == "0123"


def test_email_forms() -> None:
    masked = parse_query("a***@Example.com", KEY)
    assert masked is not None and masked.contact is not None
    assert (masked.contact.head, masked.contact.tail) == ("a", "example.com")
    assert masked.contact.matches(KEY, "Ada.Lovelace@example.com")
    assert not masked.contact.matches(KEY, "bob@example.com")
    assert not masked.contact.matches(KEY, "+14155550123")


def test_timeline_oldest_first_with_every_kind_of_item() -> None:
    rows = [
        _row("ntf-1", state="delivered"),
        _row("ntf-2", state="joined", incident_id="inc-2", reason="ntf-1"),
        _row("ntf-3", state="suppressed", channel="email", incident_id="inc-3", reason="no_consent",
             at=AT + timedelta(hours=1)),
        _row("ntf-4", state="deferred", channel="email", incident_id="inc-4", at=AT + timedelta(hours=2),
             order_number="#1002", subject=f"About {EMAIL}", due_at=AT + timedelta(hours=9), reason="quiet_hours"),
    ]
    timeline = build_timeline(
        deliveries=rows,
        resolved=[{"incident_id": "inc-1", "reason": "delivered", "resolved_at": AT + timedelta(days=2)},
                  {"incident_id": "inc-of-someone-else", "reason": "x", "resolved_at": AT}],
        replies=[{"event_id": "r1", "channel": "sms", "body": f"call {PHONE}",
                  "received_at": AT + timedelta(minutes=1)}],
        choices=[{"event_id": "c1", "choice": "wait", "channel": "sms", "order_label": "#1001", "incident_id": "inc-1",
                  "made_at": AT + timedelta(minutes=2)}],
        cases=[{"id": 7, "number": 1, "state": "done", "closed": False, "ticket_id": "42", "desk": "zendesk",
                "skill": "stock", "language": "en", "priority": "high", "queue": "stock-en",
                "ticket": json.dumps({"subject": f"Ada {EMAIL}"}), "created_at": AT + timedelta(minutes=3)}],
        entries=[{"id": 1, "case_id": 7, "state": "reserved", "body": "Forewarn: again.\nmore",
                  "created_at": AT + timedelta(hours=3)}],
        focus_order="#1001",
    )
    kinds = [(item["type"], item.get("notification_id") or item.get("incident_id") or item["key"]) for item in timeline]
    assert kinds == [
        ("incident", "inc-1"), ("incident", "inc-2"), ("message", "ntf-1"), ("delivery", "ntf-1"),
        ("reply", "reply:r1"), ("choice", "inc-1"), ("ticket", "ticket:7"), ("incident", "inc-3"),
        ("not_sent", "ntf-3"), ("incident", "inc-4"), ("message", "ntf-4"), ("note", "note:1"),
        ("resolved", "inc-1"),
    ]
    message = timeline[2]
    assert message["incident_ids"] == ["inc-1", "inc-2"] and message["to"] == "+*******0123"
    assert message["body"] == "Hi, call +*******0123" and message["in_focus"] is True
    assert timeline[3]["at"] == "2026-11-22T12:00:30+00:00"
    assert timeline[8]["reason"] == "no_consent"
    deferred = timeline[10]
    assert (deferred["state"], deferred["due_at"], deferred["to"], deferred["in_focus"]) == (
        "deferred", "2026-11-22T21:00:00+00:00", "a***@example.com", False)
    assert deferred["subject"] == "About a***@example.com"
    assert timeline[6]["subject"] == "Ada a***@example.com" and timeline[6]["open"] is True
    assert timeline[11]["case_number"] == 1 and timeline[11]["headline"] == "Forewarn: again."
    text = json.dumps(timeline)
    assert PHONE not in text and EMAIL not in text


def test_a_row_without_an_incident_event_is_still_a_message() -> None:
    row = _row("ntf-1", incident=None)
    (item,) = build_timeline(deliveries=[row])
    assert item["type"] == "message" and item["order"] == "ord-1"


def test_customer_summary_masks_contacts() -> None:
    summary = customer_summary("cus_1", [_row("ntf-1"), _row("ntf-2", order_number="#1002", incident_id="inc-2")])
    assert (summary["phone"], summary["email"], summary["orders"]) == ("+*******0123", "a***@example.com",
                                                                       ["#1001", "#1002"])
    assert summary["first_name"] == "Ada" and summary["store_id"] == "acme"


def test_open_tickets_by_skill() -> None:
    cases = [
        {"skill": "stock", "priority": "high", "state": "done", "closed": False, "created_at": AT},
        {"skill": "stock", "priority": "normal", "state": "reserved", "closed": False,
         "created_at": AT - timedelta(hours=1)},
        {"skill": "stock", "priority": "urgent", "state": "done", "closed": True, "created_at": AT},
        {"skill": "payments", "priority": "urgent", "state": "ambiguous", "closed": False, "created_at": AT},
        {"skill": "delivery", "priority": "normal", "state": "failed", "closed": False, "created_at": AT},
    ]
    assert open_tickets_by_skill(cases) == [
        {"skill": "stock", "open": 2, "urgent": 0, "high": 1, "normal": 1, "low": 0, "not_at_desk": 1,
         "oldest": "2026-11-22T11:00:00+00:00"},
        {"skill": "payments", "open": 1, "urgent": 1, "high": 0, "normal": 0, "low": 0, "not_at_desk": 1,
         "oldest": "2026-11-22T12:00:00+00:00"},
    ]


def test_store_events_of_the_customers_orders_only_masked() -> None:
    placed = order_placed("ord-1", placed_at=AT, order_name="#1001", phone=PHONE, email=EMAIL,
                          order_status_url=f"https://shop.example/status?email={EMAIL}")
    orders = orders_of([_row("ntf-1")])
    assert orders == {"ord-1": "#1001"}
    event = store_event(placed.to_bytes(), "orders", orders)
    assert event is not None
    assert (event["event_type"], event["order"], event["at"]) == ("order.placed", "#1001", AT)
    assert {"label": "total", "value": "89.00 USD"} in event["details"]
    assert PHONE not in json.dumps(event, default=str) and EMAIL not in json.dumps(event, default=str)
    assert store_event(placed.to_bytes(), "orders", {"ord-2": None}) is None
    assert store_event(placed.to_bytes(), "payments", orders) is None  # not an event of that topic
    assert store_event(b"{broken", "orders", orders) is None
    (item,) = build_timeline(deliveries=[], store_events=[event], focus_order="#1001")
    assert (item["type"], item["event_type"], item["in_focus"]) == ("store_event", "order.placed", True)
