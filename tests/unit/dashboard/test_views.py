"""View models: ledger rows, incidents and dead letters as the dashboard shows them, contacts masked."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas import TOPICS
from services.common.deadletter import dead_letter_headers
from services.dashboard.lag import group_lag
from services.dashboard.records import PartitionOffsets, Record
from services.dashboard.views import (
    MAX_PREVIEW_CHARS,
    dead_letter_view,
    delivery_view,
    incident_view,
    lag_view,
    latest_dead_letters,
    latest_incidents,
    mask_address,
    registry_topics,
    topic_view,
    value_preview,
    with_other_dead_letters,
)
from tests.support.dashboard import EMAIL, PHONE, incident_detected, incident_resolved

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _ledger_row(**overrides: object) -> dict[str, object]:
    incident = incident_detected("inc-1", at=AT, kind="stockout", escalate=True, tier=2)
    row: dict[str, object] = {
        "id": 1, "notification_id": "ntf-1", "incident_id": "inc-1", "customer_id": "cus_1", "order_id": "ord-1",
        "channel": "sms", "address": PHONE, "severity": "normal", "state": "sent", "reason": None,
        "provider": "twilio", "provider_message_id": "SM1", "attempts": 1, "due_at": None,
        "body": f"Hi Ada, your Alpine Down Jacket is delayed. Reply or call us; we wrote to {EMAIL} too. "
                f"Your number on file: {PHONE}.",
        "subject": None, "incident": incident.to_bytes().decode(), "created_at": AT, "updated_at": AT,
    }
    row.update(overrides)
    return row


def test_delivery_view_masks_address_and_message_but_keeps_what_happened() -> None:
    view = delivery_view(_ledger_row())
    assert view["address"] == "+*******0123"
    assert PHONE not in view["body"] and EMAIL not in view["body"]
    assert "Alpine Down Jacket is delayed" in view["body"]  # the message as the customer saw it
    assert "a***@example.com" in view["body"]
    assert (view["state"], view["channel"], view["kind"], view["escalation_tier"]) == ("sent", "sms", "stockout", 2)
    assert view["created_at"] == "2026-11-22T12:00:00+00:00"
    assert "incident" not in view  # the stored incident carries the customer's contacts: never shown
    dumped = json.dumps(view)
    assert PHONE not in dumped and EMAIL not in dumped


def test_delivery_view_masks_email_rows_and_free_text() -> None:
    view = delivery_view(_ledger_row(channel="email", address=EMAIL, subject=f"About your order, {EMAIL}",
                                     reason=f"bounced for {EMAIL}", state="bounced"))
    assert view["address"] == "a***@example.com"
    assert EMAIL not in view["subject"]
    assert EMAIL not in view["reason"]


def test_delivery_view_survives_odd_rows() -> None:
    view = delivery_view(_ledger_row(incident="not json", address=None, body=None, created_at=datetime(2026, 1, 1)))
    assert view["kind"] is None and view["address"] is None and view["body"] is None
    assert view["created_at"] == "2026-01-01T00:00:00+00:00"  # a naive time from the database is UTC
    assert delivery_view(_ledger_row(incident='["a list"]'))["kind"] is None


@pytest.mark.parametrize(
    ("channel", "address", "shown"),
    [("sms", "+4930123456789", "+*********6789"), ("email", "bob@example.org", "b***@example.org"),
     ("none", "call +4930123456789", "call +*********6789"), ("sms", None, None),
     ("sms", "bob@example.org", "b***@example.org"), ("email", "bob%40example.org", "b***%40example.org"),
     ("email", "josé@exämple.de", "j***@exämple.de")],
)
def test_mask_address(channel: str, address: str | None, shown: str | None) -> None:
    assert mask_address(channel, address) == shown


def _record(value: bytes | None, *, topic: str = "incidents", partition: int = 0, offset: int = 0,
            headers: tuple[tuple[str, bytes], ...] = (), key: bytes | None = b"cus_1",
            timestamp_ms: int | None = 1_795_000_000_000) -> Record:
    return Record(topic, partition, offset, timestamp_ms, key, value, headers)


def test_incident_view_names_the_customer_by_id_only() -> None:
    event = incident_detected("inc-7", at=AT, kind="delivery_exception", escalate=True, tier=3)
    view = incident_view(_record(event.to_bytes(), offset=4))
    assert view is not None
    assert (view["status"], view["incident_id"], view["kind"], view["escalation_tier"]) == (
        "detected", "inc-7", "delivery_exception", 3)
    assert (view["customer_id"], view["order_id"], view["offset"]) == ("cus_1", "ord-1", 4)
    assert view["product"] == "Alpine Down Jacket"
    dumped = json.dumps(view)
    assert PHONE not in dumped and EMAIL not in dumped and "Lovelace" not in dumped


def test_resolved_and_unreadable_incidents() -> None:
    resolved = incident_view(_record(incident_resolved("inc-7", at=AT, reason="delivered").to_bytes()))
    assert resolved is not None and resolved["status"] == "resolved" and resolved["reason"] == "delivered"
    assert incident_view(_record(b"{not json")) is None
    assert incident_view(_record(None)) is None


def test_latest_incidents_newest_first_and_bounded() -> None:
    records = [_record(incident_detected(f"inc-{i}", at=AT.replace(hour=i)).to_bytes(), offset=i)
               for i in range(1, 6)]
    rows, unreadable = latest_incidents([*records, _record(b"garbage", offset=9)], limit=3)
    assert [r["incident_id"] for r in rows] == ["inc-5", "inc-4", "inc-3"]
    assert unreadable == 1


def test_dead_letter_view_shows_why_never_the_value_in_full() -> None:
    value = json.dumps({"type": "order.placed", "customer": {"email": EMAIL, "phone": PHONE},
                        "note": "x" * 500}).encode()
    headers = tuple(dead_letter_headers(topic="orders", partition=1, offset=41, exc=ValueError("bad total"),
                                        service="order-watcher"))
    view = dead_letter_view(_record(value, topic="orders.dlq", headers=(*headers, ("other", b"ignored"))))
    assert (view["original_topic"], view["original_partition"], view["original_offset"]) == ("orders", "1", "41")
    assert view["error_class"] == "builtins.ValueError"
    assert view["error_message"] == "bad total"
    assert view["service"] == "order-watcher"
    assert "other" not in view["headers"]
    assert view["value_bytes"] == len(value)
    preview = view["value_preview"]
    assert preview is not None and len(preview) <= MAX_PREVIEW_CHARS and preview.endswith("…")
    dumped = json.dumps(view)
    assert value.decode() not in dumped
    assert PHONE not in dumped and EMAIL not in dumped


def test_dead_letter_offsets_are_never_taken_for_phone_numbers() -> None:
    headers = tuple(dead_letter_headers(topic="orders", partition=11, offset=123456789012, exc=ValueError("x"),
                                        service="order-watcher"))
    view = dead_letter_view(_record(b"{}", topic="orders.dlq", headers=headers))
    assert (view["original_partition"], view["original_offset"]) == ("11", "123456789012")
    foreign = (("forewarn.dlq.original-offset", b"+14155550100"),)
    assert dead_letter_view(_record(b"{}", headers=foreign))["original_offset"] == "+*******0100"


def test_dead_letter_headers_from_elsewhere_are_masked_again() -> None:
    """A producer that is not ours may put contacts in the headers or the key: the view masks them."""
    headers = (("forewarn.dlq.error-message", f"no customer {EMAIL} / {PHONE}".encode()),)
    view = dead_letter_view(_record(b"{}", topic="customers.dlq", headers=headers, key=PHONE.encode()))
    assert EMAIL not in view["error_message"] and PHONE not in view["error_message"]
    assert view["key"] == "+*******0123"


def test_value_preview_bounds() -> None:
    assert value_preview(None) is None
    assert value_preview(b"{not   json\n}") == "{not json }"
    assert value_preview(b"x" * (64 * 1024 + 1)) is None  # too big to mask cheaply: size only
    assert value_preview(b"\xff\xfe") == "\ufffd\ufffd"


def test_latest_dead_letters_per_topic() -> None:
    records = [_record(b"{}", topic="orders.dlq", offset=i, timestamp_ms=1000 + i) for i in range(6)]
    records.append(_record(b"{}", topic="returns.dlq", offset=0))
    rows = latest_dead_letters(records, per_topic=2)
    assert [(r["topic"], r["offset"]) for r in rows] == [("orders.dlq", 5), ("orders.dlq", 4), ("returns.dlq", 0)]


def test_registry_topics_and_their_dead_letter_topics() -> None:
    topics = registry_topics("t1-")
    assert len(topics) == 2 * len(TOPICS)
    names = {t.name for t in topics}
    for base in TOPICS:
        assert {f"t1-{base}", f"t1-{base}.dlq"} <= names
    assert all(t.dead_letter == t.name.endswith(".dlq") for t in topics)


def test_other_dead_letter_topics_of_the_deployment_are_added() -> None:
    registry = registry_topics("t1-")
    existing = ["t1-orders", "t1-orders.dlq", "t1-gateway.dlq", "t2-gateway.dlq", "t1-notes", "other.dlq"]
    topics = with_other_dead_letters(registry, "t1-", existing)
    assert topics[: len(registry)] == registry
    (extra,) = topics[len(registry):]
    assert (extra.name, extra.base, extra.dead_letter) == ("t1-gateway.dlq", "gateway.dlq", True)


def test_topic_view_reports_missing_topics_and_rates() -> None:
    topics = [t for t in registry_topics("") if t.base in ("orders", "orders.dlq")]
    offsets = {("orders", 0): PartitionOffsets("orders", 0, 2, 10), ("orders", 1): PartitionOffsets("orders", 1, 0, 5)}
    rows = topic_view(topics, offsets, {"orders": 1.23456})
    orders, dlq = rows
    assert orders == {"topic": "orders", "base": "orders", "dead_letter": False, "internal": False, "exists": True,
                      "partitions": 2, "end_offsets": [10, 5], "end_offset": 15, "messages": 13, "rate_per_s": 1.235}
    assert (dlq["exists"], dlq["partitions"], dlq["messages"], dlq["rate_per_s"]) == (False, 0, 0, None)


def test_lag_view_rows() -> None:
    offsets = {("incidents", 0): PartitionOffsets("incidents", 0, 0, 9)}
    view = lag_view([group_lag("notifier", "forewarn-notifier", {("incidents", 0): 4}, offsets),
                     group_lag("returns", "forewarn-returns", {}, offsets)])
    assert view["groups"] == [
        {"service": "notifier", "group": "forewarn-notifier", "total_lag": 5, "topics": 1, "has_commits": True},
        {"service": "returns", "group": "forewarn-returns", "total_lag": 0, "topics": 0, "has_commits": False},
    ]
    (row,) = view["lag"]
    assert (row["topic"], row["committed"], row["end"], row["lag"]) == ("incidents", 4, 9, 5)
    assert row["partitions"] == [{"partition": 0, "committed": 4, "begin": 0, "end": 9, "lag": 5}]


def test_form_encoded_contacts_in_a_dead_letter_are_masked() -> None:
    """Issue 12's probe: a Twilio-style form body showed `%2B14155550100` whole (masked before decoding);
    a non-ASCII address was shown whole (the pattern was ASCII-only). Both failed on that code."""
    value = b"From=%2B14155550100&Email=jos%C3%A9.garc%C3%ADa%40example.es&Body=STOP"
    view = dead_letter_view(_record(value, topic="gateway.dlq", key="josé.garcía@example.es".encode()))
    dumped = json.dumps(view, ensure_ascii=False)
    assert "1415555" not in dumped
    assert "jos%C3%A9.garc%C3%ADa" not in dumped and "josé.garcía" not in dumped
    assert view["value_preview"] is not None and "0100" in view["value_preview"]
    assert view["key"] is not None and view["key"].endswith("@example.es")
