"""One SMS per order trouble burst, black-box: order_watcher and notifier as processes on the real broker.

Store events go into `orders` and `shipments` in the contract; what the customer got is read from the
recording fake Twilio. A carrier exception whose new estimate is past the promise raises two incidents
(delivery_exception and eta_slipped) from one event: the customer hears about it once, however old the
events are, however often the store delivers them, and in whichever order the topics are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import CloudEvent, make_event
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import produce
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

HANDLED = ("sent", "delivered", "suppressed", "joined", "failed", "withdrawn")


@dataclass
class Services:
    kafka: str
    prefix: str
    fake: FakeProviders
    database: Path
    processes: list[ServiceProcess]

    def publish(self, topic: str, *events: CloudEvent) -> None:
        asyncio.run(produce(self.kafka, self.prefix + topic, [(e.key(), e.to_bytes()) for e in events]))

    def ledger(self, order_id: str) -> list[tuple[str, str]]:
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(self.database) as conn:
            return conn.execute("select incident_id, state from deliveries where order_id = ? order by id",
                                (order_id,)).fetchall()
        return []

    def wait_handled(self, order_id: str, incidents: int, timeout: float = 60.0) -> list[tuple[str, str]]:
        """Wait until the notifier has decided every one of the order's incidents (none still in flight)."""
        deadline = time.monotonic() + timeout
        rows = self.ledger(order_id)
        while time.monotonic() < deadline:
            rows = self.ledger(order_id)
            if len(rows) >= incidents and all(state in HANDLED for _, state in rows):
                return rows
            time.sleep(0.2)
        logs = "\n".join(p.log()[-3000:] for p in self.processes)
        raise TimeoutError(f"{order_id}: ledger {rows} after {timeout}s\n{logs}")

    def sms_to(self, phone: str) -> list[str]:
        return [r.form["Body"] for r in self.fake.sends("twilio") if r.form.get("To") == phone]


@pytest.fixture(scope="module")
def services(kafka: str, fake_providers_server: FakeProviders, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Services]:
    """One order_watcher and one notifier for every case (each case has its own order and phone)."""
    tmp = tmp_path_factory.mktemp("burst-e2e")
    prefix = f"burst{int(time.time() * 1000) % 10**9}-"
    database = tmp / "forewarn.db"
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix, "FOREWARN_PARTITIONS": "2",
        "FOREWARN_DATA_DIR": str(tmp / "data"), "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "FOREWARN_TICK_INTERVAL_S": "0.5",
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers_server.url,
        "FOREWARN_NOTIFIER_OUTBOX_PATH": str(tmp / "outbox.jsonl"),
        # The services read the wall clock: an always-open SMS window keeps these cases independent of the hour.
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "00:00",
    }
    fake_providers_server.reset()
    processes = [ServiceProcess(m, env, tmp) for m in ("services.order_watcher", "services.notifier")]
    try:
        for process in processes:
            process.start()
        yield Services(kafka, prefix, fake_providers_server, database, processes)
    finally:
        for process in processes:
            process.stop()


def _order_and_exception(n: int, at: datetime) -> tuple[str, str, CloudEvent, CloudEvent]:
    """An order due to ship in two days, and a carrier exception at `at` moving its delivery past the promise."""
    order_id, phone = f"ord-burst-{n}", f"+1415555{n:04d}"
    placed = order_placed(order_id, placed_at=at - timedelta(hours=30), ship_in=timedelta(days=2),
                          deliver_in=timedelta(days=3), customer_id=f"cus-burst-{n}", phone=phone, email=None)
    exception = make_event("shipment.updated", {
        "order_id": order_id, "shipment_id": f"sh-{order_id}", "carrier": "dhl", "tracking_number": f"JD{n:08d}",
        "status": "exception", "exception_reason": "weather", "checkpoint_time": at,
        "estimated_delivery": at + timedelta(days=4),
    }, source="carrier/dhl", subject=order_id, time=at)
    return order_id, phone, placed, exception


def _one_sms_for_both_incidents(services: Services, order_id: str, phone: str) -> None:
    rows = services.wait_handled(order_id, incidents=2)
    time.sleep(1.0)  # a second send would be on its way by now
    sent = services.sms_to(phone)
    assert len(sent) == 1, f"{len(sent)} SMS for one burst; ledger: {rows}"
    assert len(rows) == 2 and sum(state in ("sent", "delivered") for _, state in rows) == 1, rows


def test_an_exception_and_its_eta_slip_from_two_hours_ago_give_one_sms(services: Services) -> None:
    order_id, phone, placed, exception = _order_and_exception(7001, datetime.now(UTC) - timedelta(hours=2))
    services.publish("orders", placed)
    services.publish("shipments", exception)
    _one_sms_for_both_incidents(services, order_id, phone)


def test_the_same_event_delivered_three_times_gives_one_sms(services: Services) -> None:
    order_id, phone, placed, exception = _order_and_exception(7002, datetime.now(UTC) - timedelta(minutes=30))
    services.publish("orders", placed, placed, placed)
    services.publish("shipments", exception, exception, exception)
    _one_sms_for_both_incidents(services, order_id, phone)


def test_the_shipment_update_before_the_order_gives_one_sms(services: Services) -> None:
    order_id, phone, placed, exception = _order_and_exception(7003, datetime.now(UTC) - timedelta(minutes=30))
    services.publish("shipments", exception)
    time.sleep(1.5)  # the order watcher has read the update before the order exists
    services.publish("orders", placed)
    _one_sms_for_both_incidents(services, order_id, phone)
