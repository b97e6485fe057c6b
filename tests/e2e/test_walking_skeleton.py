"""A late order becomes exactly one SMS: three services as processes, the real broker, the real twilio SDK."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import parse_event
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import produce, read_topic
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def test_late_order_to_one_sms(kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders) -> None:
    db = tmp_path / "forewarn.db"
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
        "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "FOREWARN_TICK_INTERVAL_S": "0.5",
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers.url,
        "FOREWARN_NOTIFIER_OUTBOX_PATH": str(tmp_path / "outbox.jsonl"),
        # The services read the wall clock: an always-open SMS window keeps this test independent of the hour.
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "00:00",
    }
    services = [ServiceProcess(m, env, tmp_path) for m in
                ("services.order_watcher", "services.notifier", "services.returns")]
    try:
        for service in services:
            service.start()
        placed_at = datetime.now(UTC) - timedelta(days=1)
        order = order_placed("ord-1001", placed_at=placed_at, ship_in=timedelta(hours=12),
                             first_name="Grace", product="Alpine Down Jacket", timezone=None)
        # The store publishes the same event three times (same CloudEvent id).
        asyncio.run(produce(kafka, f"{topic_prefix}orders", [(b"ord-1001", order.to_bytes())] * 3))
        sends = fake_providers.wait_for_sends(1, timeout=60)
        notifications = asyncio.run(read_topic(kafka, f"{topic_prefix}notifications", expect=1, timeout=60,
                                               settle=4.0))
        sends = fake_providers.sends("twilio")
    finally:
        for service in services:
            service.stop()
    logs = "\n".join(s.log()[-2000:] for s in services)

    assert len(sends) == 1, logs
    body = sends[0].form["Body"]
    assert "Grace" in body
    assert "Alpine Down Jacket" in body
    assert sends[0].form["To"] == "+14155550123"
    assert sends[0].form["StatusCallback"].endswith("/webhooks/twilio/status")

    with sqlite3.connect(db) as conn:
        rows = conn.execute("select state, channel, incident_id from deliveries").fetchall()
    assert len(rows) == 1
    assert rows[0][0] == "sent"
    assert rows[0][1] == "sms"

    assert len(notifications) == 1, logs
    sent = parse_event(notifications[0].value or b"")
    assert sent.type == "notification.sent"
    assert sent.data.incident_ids == [rows[0][2]]
    assert "+14155550123" not in logs  # phone numbers are masked in every service log
