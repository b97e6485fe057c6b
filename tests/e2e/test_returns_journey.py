"""A received return becomes exactly one SMS with the expected refund date, in the customer's locale and zone.

The returns service, order_watcher (whose escalation step publishes every detector's incidents) and
the notifier run as processes against the real broker; the SMS goes through the real twilio SDK to
the fake provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas import CloudEvent, make_event, parse_event
from tests.integration.returns.support import create_topics
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import produce, read_topic
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

# Zones far from UTC on either side; the test picks one where it is daytime now (the notifier
# holds SMS outside 08:00-21:00 local time).
ZONES = (
    "Asia/Tokyo", "Pacific/Auckland", "Asia/Kolkata", "Asia/Dubai", "Europe/Berlin",
    "America/Sao_Paulo", "America/New_York", "America/Los_Angeles", "Pacific/Honolulu",
)
SLA = timedelta(hours=48)
SHIP_IN, DELIVER_IN = timedelta(days=30), timedelta(days=35)
"""Promises still ahead: order_watcher (running for its escalation step) finds nothing late about these orders."""


def _daytime_zone(now: datetime) -> ZoneInfo:
    for name in ZONES:
        zone = ZoneInfo(name)
        local = now.astimezone(zone)
        offset = local.utcoffset() or timedelta(0)
        if time(9) <= local.time() <= time(19) and abs(offset) >= timedelta(hours=1):
            return zone
    raise AssertionError("some listed zone is always in daytime")


def _expected_by_across_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    """A refund date whose calendar day differs between the customer's zone and UTC, a day or so ahead."""
    local = (now + timedelta(days=1)).astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    wall = time(0, 30) if offset > timedelta(0) else time(23, 30)  # just after / before local midnight
    at = datetime.combine(local.date(), wall, tzinfo=zone).astimezone(UTC)
    assert at.date() != at.astimezone(zone).date()
    return at


def _env(kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders) -> dict[str, str]:
    db = tmp_path / "forewarn.db"
    return {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
        "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "FOREWARN_TICK_INTERVAL_S": "0.5",
        "FOREWARN_RETURNS_REFUND_SLA": str(int(SLA.total_seconds())),
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers.url,
        "FOREWARN_NOTIFIER_OUTBOX_PATH": str(tmp_path / "outbox.jsonl"),
    }


def _services(env: dict[str, str], tmp_path: Path) -> list[ServiceProcess]:
    modules = ("services.returns", "services.order_watcher", "services.notifier")
    return [ServiceProcess(m, env, tmp_path) for m in modules]


def test_return_received_to_one_sms_with_the_refund_date(
    kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders
) -> None:
    env = _env(kafka, topic_prefix, tmp_path, fake_providers)
    now = datetime.now(UTC)
    zone = _daytime_zone(now)
    expected_by = _expected_by_across_midnight(now, zone)
    received_at = expected_by - SLA  # in the past: the refund is not due for a while yet
    order = order_placed("ord-ret-1", placed_at=now - timedelta(days=10), first_name="Grace",
                         product="Alpine Down Jacket", locale="de-DE", timezone=str(zone), ship_in=SHIP_IN,
                         deliver_in=DELIVER_IN)
    receipt = make_event(
        "return.received",
        {"return_id": "ret-1", "order_id": "ord-ret-1", "customer_id": "cus_1",
         "lines": [{"sku": "TR2-42", "product_name": "Alpine Down Jacket", "quantity": 1}],
         "refund_amount": {"amount": "89.00", "currency": "USD"}, "received_at": received_at},
        source="store/acme", subject="ord-ret-1", time=received_at,
    )
    services = _services(env, tmp_path)
    try:
        create_topics(kafka, topic_prefix)
        for service in services:
            service.start()
        # The return is published before its order, and twice: neither may change what the customer gets.
        asyncio.run(produce(kafka, f"{topic_prefix}returns", [(b"ord-ret-1", receipt.to_bytes())] * 2))
        asyncio.run(produce(kafka, f"{topic_prefix}orders", [(b"ord-ret-1", order.to_bytes())]))
        fake_providers.wait_for_sends(1, timeout=60)
        notifications = asyncio.run(read_topic(kafka, f"{topic_prefix}notifications", expect=1, timeout=30,
                                               settle=4.0))
        sends = fake_providers.sends("twilio")
    finally:
        for service in services:
            service.stop()
    logs = "\n".join(s.log()[-3000:] for s in services)

    assert len(sends) == 1, logs
    body = sends[0].form["Body"]
    local_day = expected_by.astimezone(zone).date()
    utc_day = expected_by.date()
    assert f"{local_day:%d.%m.%Y}" in body, body  # German medium date, on the customer's calendar
    assert f"{utc_day:%d.%m.%Y}" not in body, body
    assert "Grace" in body
    assert "Alpine Down Jacket" in body
    assert sends[0].form["To"] == "+14155550123"

    assert len(notifications) == 1, logs
    sent = parse_event(notifications[0].value or b"")
    assert sent.type == "notification.sent"
    assert "+14155550123" not in logs


def _return_event(type_: str, order_id: str, at: datetime, **data: object) -> CloudEvent:
    body = {"return_id": f"ret-{order_id}", "order_id": order_id, "customer_id": f"cus-{order_id}", **data}
    return make_event(type_, body, source="store/acme", subject=order_id, time=at)


def test_a_receipt_and_its_refund_arriving_together_send_no_refund_by_sms(
    kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders
) -> None:
    """The store publishes a receipt and the refund for it together: "refund by ..." would be false.

    A receipt alone on another order of the same run is the control: its SMS proves the path works."""
    env = _env(kafka, topic_prefix, tmp_path, fake_providers)
    now = datetime.now(UTC)
    zone = str(_daytime_zone(now))
    received_at = now - timedelta(hours=2)
    amount = {"amount": "89.00", "currency": "USD"}
    events: list[tuple[str, CloudEvent]] = []
    for order_id, phone in (("ord-refunded", "+14155550101"), ("ord-waiting", "+14155550102")):
        order = order_placed(order_id, placed_at=now - timedelta(days=10), customer_id=f"cus-{order_id}",
                             phone=phone, email=None, timezone=zone, ship_in=SHIP_IN, deliver_in=DELIVER_IN)
        events.append(("orders", order))
        events.append(("returns", _return_event("return.received", order_id, received_at, refund_amount=amount,
                                                received_at=received_at)))
    events.append(("returns", _return_event(
        "refund.issued", "ord-refunded", received_at + timedelta(minutes=5), refund_id="ref-1", amount=amount,
        method="original_payment", issued_at=received_at + timedelta(minutes=5))))
    services = _services(env, tmp_path)
    try:
        create_topics(kafka, topic_prefix)
        for service in services:
            service.start()
        for topic in ("orders", "returns"):
            asyncio.run(produce(kafka, f"{topic_prefix}{topic}",
                                [(e.key(), e.to_bytes()) for t, e in events if t == topic]))
        fake_providers.wait_for_sends(1, timeout=60)
        incidents = asyncio.run(read_topic(kafka, f"{topic_prefix}incidents", expect=1, timeout=30, settle=6.0))
        sends = fake_providers.sends("twilio")
    finally:
        for service in services:
            service.stop()
    logs = "\n".join(s.log()[-3000:] for s in services)

    assert [s.form["To"] for s in sends] == ["+14155550102"], logs  # the control only
    detected = [parse_event(r.value or b"") for r in incidents]
    assert [(e.type, e.data.kind, e.data.order_id) for e in detected] == [
        ("incident.detected", "return_received", "ord-waiting")
    ], logs
