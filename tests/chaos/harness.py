"""What the chaos scenarios share: their scale, the services' environment, the load, and the figures.

A scenario streams incidents whose outcome is known in advance (one customer, one phone, one order,
one burst: exactly one SMS each), does its damage, then counts what the fake Twilio accepted:

* `expected` – customers who must be told;
* `delivered` – of those, the ones with an accepted message;
* `lost` – expected but never accepted;
* `duplicates` – accepted messages beyond the first per phone (each phone is one (incident burst,
  customer, sms) in these scenarios, so this is the duplicate provider requests per (incident,
  customer, channel));
* `ambiguous_reconciled` – ledger rows settled by a lookup at the provider after a 5xx or a timeout.

`FOREWARN_CHAOS_SCALE=long` (what `make chaos` sets) selects the long versions; the default is the
short one that `make test` runs. `FOREWARN_CHAOS_SEED` repeats a run's random moments;
`FOREWARN_CHAOS_SERVICES_ROOT` runs another checkout's services under the same suite.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from schemas import make_event
from services.common.db import create_engine
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.processes import ServiceProcess

__all__ = [
    "BROKER_SH",
    "LARGE_PRODUCER_BYTES",
    "Figures",
    "Scale",
    "broker",
    "burst",
    "delivered_phones",
    "measure",
    "now_utc",
    "own_broker",
    "phone_of",
    "produce_fast",
    "scale",
    "seed",
    "service",
    "service_env",
    "sqlite_url",
    "supervise",
    "wait_delivered",
]

ROOT = Path(__file__).resolve().parents[2]
BROKER_SH = ROOT / "deploy" / "kafka" / "broker.sh"
SERVICES_ROOT = Path(os.environ.get("FOREWARN_CHAOS_SERVICES_ROOT") or ROOT)
"""The checkout whose services are run (this one, unless the suite is pointed at another commit's)."""
LARGE_PRODUCER_BYTES = 8 * 1024 * 1024
"""The test producer's request limit: room for the 5 MB poison values (the broker takes about 8 MiB)."""


@dataclass(frozen=True)
class Scale:
    """How big each scenario is."""

    name: str
    kill_incidents: int
    kills_per_service: int
    kill_stream_s: float
    broker_incidents: int
    broker_down_s: float
    storm_incidents: int
    storm_s: float
    rebalance_incidents: int
    rebalance_stream_s: float
    poison_fuzzed_per_topic: int
    poison_good_per_topic: int


SCALES = {
    "short": Scale("short", kill_incidents=300, kills_per_service=2, kill_stream_s=12.0, broker_incidents=160,
                   broker_down_s=10.0, storm_incidents=120, storm_s=10.0, rebalance_incidents=240,
                   rebalance_stream_s=24.0, poison_fuzzed_per_topic=12, poison_good_per_topic=8),
    "long": Scale("long", kill_incidents=10_000, kills_per_service=4, kill_stream_s=120.0, broker_incidents=2_000,
                  broker_down_s=30.0, storm_incidents=1_500, storm_s=60.0, rebalance_incidents=3_000,
                  rebalance_stream_s=60.0, poison_fuzzed_per_topic=1_000, poison_good_per_topic=60),
}


def scale() -> Scale:
    name = os.environ.get("FOREWARN_CHAOS_SCALE", "short")
    if name not in SCALES:
        raise ValueError(f"FOREWARN_CHAOS_SCALE must be one of {sorted(SCALES)}, not {name!r}")
    return SCALES[name]


def seed() -> int:
    """The run's random seed: FOREWARN_CHAOS_SEED, else a fresh one (written to the figures)."""
    configured = os.environ.get("FOREWARN_CHAOS_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(1, 10**9)


@dataclass
class Figures:
    """One scenario's outcome, as written to bench/results/chaos.json."""

    expected: int
    delivered: int
    lost: int
    duplicates: int
    ambiguous_reconciled: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "delivered": self.delivered, "lost": self.lost,
                "duplicates": self.duplicates, "ambiguous_reconciled": self.ambiguous_reconciled, **self.extra}


def service_env(kafka: str, prefix: str, tmp_path: Path, fake_url: str, *, database_url: str | None = None,
                partitions: int = 4, **extra: str) -> dict[str, str]:
    """Every service's environment: real broker, SMS through the twilio SDK to the fake, no quiet hours."""
    return {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix,
        "FOREWARN_PARTITIONS": str(partitions), "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_DATABASE_URL": database_url or sqlite_url(tmp_path),
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_url,
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "00:00",
        "FOREWARN_NOTIFIER_RECONCILE_AFTER_S": "2",
        "FOREWARN_NOTIFIER_DEFERRED_POLL_S": "0.5",
        "FOREWARN_SESSION_TIMEOUT_S": "6",  # a killed member's partitions move on sooner
        "FOREWARN_WATCH_BATCH_SIZE": "16",  # small batches: a kill lands between committed and uncommitted ones
        "FOREWARN_TICK_INTERVAL_S": "0.5",
        **extra,
    }


def service(module: str, env: dict[str, str], log_dir: Path, name: str | None = None) -> ServiceProcess:
    """`python -m services.<module>` from SERVICES_ROOT, logging to `log_dir`."""
    return ServiceProcess(f"services.{module}", env, log_dir, name=name, root=SERVICES_ROOT)


def phone_of(n: int) -> str:
    return f"+1415{n:07d}"


def burst(n: int, now: datetime, tag: str) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes], str]:
    """Order n, then a carrier exception on it: one incident burst (delivery_exception and eta_slipped),
    one SMS to its own customer. Returns the orders record, the shipments record and the phone."""
    oid, phone = f"ord-{tag}-{n:05d}", phone_of(n)
    placed = order_placed(oid, placed_at=now - timedelta(hours=30), ship_in=timedelta(days=2),
                          customer_id=f"cus-{tag}-{n}", phone=phone, email=None)
    shipment = {"order_id": oid, "shipment_id": f"sh-{oid}", "carrier": "dhl", "tracking_number": f"JD{n:08d}",
                "status": "exception", "exception_reason": "weather", "checkpoint_time": now,
                "estimated_delivery": now + timedelta(days=3)}
    exception = make_event("shipment.updated", shipment, source="carrier/dhl", subject=oid, time=now)
    return (oid.encode(), placed.to_bytes()), (oid.encode(), exception.to_bytes()), phone


async def produce_fast(bootstrap: str, batches: list[tuple[str, list[tuple[bytes | None, bytes | None]]]],
                       *, pause_s: float = 0.0) -> None:
    """Produce each (topic, records) batch in turn, pipelined within a batch, acknowledged before the next;
    `pause_s` between batches paces a stream."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5,
                                max_request_size=LARGE_PRODUCER_BYTES, request_timeout_ms=60_000)
    await producer.start()
    try:
        for topic, records in batches:
            pending = [await producer.send(topic, value=value, key=key) for key, value in records]
            await asyncio.gather(*pending)
            if pause_s:
                await asyncio.sleep(pause_s)
    finally:
        await producer.stop()


def delivered_phones(fake: FakeProviders) -> Counter[str]:
    """Messages the fake Twilio accepted, per phone (a 429 is not accepted; a 5xx or timeout after it is)."""
    with fake._lock:
        return Counter(str(m["to"]) for m in fake.messages)


def wait_delivered(fake: FakeProviders, phones: set[str], timeout: float, check: Any = None) -> bool:
    """Wait until every phone has an accepted message; `check()` runs each round (a supervisor's look)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check is not None:
            check()
        if phones <= set(delivered_phones(fake)):
            return True
        time.sleep(0.25)
    return False


def measure(fake: FakeProviders, phones: set[str], *, database_url: str, settle_s: float = 4.0,
            **extra: Any) -> Figures:
    """Count, after `settle_s` more seconds for anything sent twice to arrive; the ledger at `database_url`
    says how many sends were settled by a lookup at the provider and where every row ended."""
    time.sleep(settle_s)
    per_phone = delivered_phones(fake)
    delivered = len(phones & set(per_phone))
    duplicates = sum(n - 1 for n in per_phone.values() if n > 1)
    strangers = sorted(set(per_phone) - phones)
    reconciled, states = asyncio.run(_ledger_figures(database_url))
    figures = Figures(expected=len(phones), delivered=delivered, lost=len(phones) - delivered,
                      duplicates=duplicates, ambiguous_reconciled=reconciled, extra=dict(extra))
    figures.extra["ledger_states"] = states
    figures.extra["provider_requests"] = len(fake.sends("twilio"))
    figures.extra["unexpected_recipients"] = len(strangers)
    figures.extra["lost_sample"] = sorted(phones - set(per_phone))[:5]
    figures.extra["duplicate_sample"] = sorted(p for p, n in per_phone.items() if n > 1)[:5]
    return figures


async def _ledger_figures(database_url: str) -> tuple[int, dict[str, int]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            reconciled = (await conn.execute(
                text("select count(*) from deliveries where reason = 'reconciled'"))).scalar_one()
            states = {str(state): int(n) for state, n in (await conn.execute(
                text("select state, count(*) from deliveries group by state"))).all()}
    finally:
        await engine.dispose()
    return int(reconciled), states


def sqlite_url(tmp_path: Path) -> str:
    """The ledger every scenario on SQLite uses (what `service_env` sets by default)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'forewarn.db'}"


def supervise(services: list[ServiceProcess], exits: Counter[str]) -> None:
    """What a process supervisor does: restart a service that exited, and count it."""
    for service in services:
        if service.proc is not None and service.proc.poll() is not None:
            exits[f"{service.name} exited {service.proc.returncode}"] += 1
            service.start()


@contextmanager
def own_broker(port: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A broker of this scenario's own on `port` (never the shared one), wiped afterwards. Yields the
    bootstrap address and the environment for `broker.sh stop|start` on it."""
    home = Path(tempfile.mkdtemp(prefix=f"forewarn-chaos-kafka-{port}-"))
    env = {**os.environ, "KAFKA_PORT": str(port), "FOREWARN_KAFKA_HOME": str(home)}
    started = subprocess.run([str(BROKER_SH), "start"], env=env, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        raise RuntimeError(f"broker did not start on port {port}:\n{started.stdout}{started.stderr}")
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([str(BROKER_SH), "wipe"], env=env, capture_output=True, text=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def broker(action: str, env: dict[str, str]) -> None:
    done = subprocess.run([str(BROKER_SH), action], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"broker.sh {action} failed:\n{done.stdout}{done.stderr}")


def now_utc() -> datetime:
    return datetime.now(UTC)
