"""kill -9 of the workers mid-stream, several times: every customer is told, and no message goes out twice.

Orders arrive in waves, each order followed by a carrier exception (an incident at once). After
each wave one or both workers are SIGKILLed while they are busy with it, then restarted. The
order watcher must re-handle what it had not committed without losing or inventing incidents
(deterministic ids), and the notifier must neither lose a reserved message nor send one twice
(the ledger row is reserved before the call; an ambiguous one is looked up at the provider).

Each exception is two incidents (delivery_exception, and eta_slipped since the new estimate is past
the promise), one burst: the customer gets exactly one message about it, even when a restart splits
the two and the less severe one reaches the notifier first (a later, more severe turn of a burst
already told is not news), and no ledger row is sent twice.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import make_event
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import produce, read_topic
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

WAVES = 4
PER_WAVE = 60


def _wave(wave: int, now: datetime) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], list[str]]:
    orders, exceptions, phones = [], [], []
    for k in range(PER_WAVE):
        n = wave * PER_WAVE + k
        oid, phone = f"ord-chaos-{n:04d}", f"+1415555{n:04d}"
        placed = order_placed(oid, placed_at=now - timedelta(hours=30), ship_in=timedelta(days=2),
                              customer_id=f"cus-chaos-{n}", phone=phone, email=None)
        shipment = {"order_id": oid, "shipment_id": f"sh-{oid}", "carrier": "dhl", "tracking_number": f"JD{n:08d}",
                    "status": "exception", "exception_reason": "weather", "checkpoint_time": now,
                    "estimated_delivery": now + timedelta(days=3)}
        exception = make_event("shipment.updated", shipment, source="carrier/dhl", subject=oid, time=now)
        orders.append((oid.encode(), placed.to_bytes()))
        exceptions.append((oid.encode(), exception.to_bytes()))
        phones.append(phone)
    return orders, exceptions, phones


def test_kill_9_mid_stream_loses_nothing_and_sends_nothing_twice(
    kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders
) -> None:
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
        "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'forewarn.db'}",
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers.url,
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "00:00",
        "FOREWARN_NOTIFIER_RECONCILE_AFTER_S": "2",
        "FOREWARN_SESSION_TIMEOUT_S": "6",  # the killed member's partitions move on sooner
        "FOREWARN_WATCH_BATCH_SIZE": "16",  # small batches: a kill lands between committed and uncommitted ones
    }
    watcher = ServiceProcess("services.order_watcher", env, tmp_path)
    notifier = ServiceProcess("services.notifier", env, tmp_path)
    victims = [[watcher], [notifier], [watcher, notifier], []]
    now = datetime.now(UTC)
    expected: list[str] = []
    kills = 0
    try:
        watcher.start()
        notifier.start()
        for wave in range(WAVES):
            orders, exceptions, phones = _wave(wave, now)
            expected += phones
            asyncio.run(produce(kafka, f"{topic_prefix}orders", orders))
            asyncio.run(produce(kafka, f"{topic_prefix}shipments", exceptions))
            before = len(fake_providers.sends("twilio"))
            deadline = time.monotonic() + 30
            while len(fake_providers.sends("twilio")) == before and time.monotonic() < deadline:
                time.sleep(0.05)  # kill once this wave's messages have started to go out: mid-stream
            for victim in victims[wave]:
                victim.kill()
                kills += 1
            for victim in victims[wave]:
                victim.start()
        fake_providers.wait_for_sends(len(expected), timeout=120)
        time.sleep(5)  # anything sent twice would arrive by now
        sends = fake_providers.sends("twilio")
    finally:
        watcher.stop()
        notifier.stop()
    logs = watcher.log()[-3000:] + notifier.log()[-3000:]

    assert kills == 4
    per_phone = Counter(send.form["To"] for send in sends)
    lost = sorted(set(expected) - set(per_phone))
    assert not lost, f"lost: {lost[:5]}\n{_trace(kafka, topic_prefix, lost)}\n{logs}"
    twice = [key for key, n in Counter((s.form["To"], s.form["Body"]) for s in sends).items() if n > 1]
    assert twice == [], "the same message sent twice"
    with sqlite3.connect(tmp_path / "forewarn.db") as conn:
        rows = conn.execute("select provider_message_id from deliveries where state = 'sent'").fetchall()
    assert len(rows) == len(sends), "every provider call is one ledger row, sent once"
    assert len({row[0] for row in rows}) == len(rows)
    twice_per_burst = {phone: n for phone, n in per_phone.items() if n > 1}  # one customer, one order, one burst
    assert twice_per_burst == {}, f"customers messaged twice about one burst: {sorted(twice_per_burst)[:5]}"
    assert all("Ada" in send.form["Body"] for send in sends)


def _trace(kafka: str, prefix: str, phones: list[str]) -> str:
    """Where the lost ones got to: which topics carry something about their orders."""
    orders = {f"ord-chaos-{int(phone[-4:]):04d}" for phone in phones}
    lines = []
    for topic in ("orders", "shipments", "incident-candidates", "incidents"):
        records = asyncio.run(read_topic(kafka, prefix + topic, expect=10**9, timeout=5))
        hits = [(r.partition, r.offset, r.key) for r in records if r.key is not None and r.key.decode() in orders]
        hits += [(r.partition, r.offset, r.key) for r in records if r.key is not None and r.value is not None
                 and any(o.encode() in r.value for o in orders) and r.key.decode() not in orders]
        lines.append(f"{topic}: {len(records)} records, about the lost orders: {hits[:12]}")
    return "\n".join(lines)
