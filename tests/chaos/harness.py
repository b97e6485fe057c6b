"""What the chaos scenarios share: their scale, the services' environment, the load, and the figures.

A scenario streams inputs whose outcome is known in advance (one customer, one phone, one order,
one burst: exactly one SMS each; for care, one escalated customer: exactly one ticket at the desk),
does its damage, then counts what the fake Twilio (and the fake Zendesk) accepted:

* `expected` – customers who must be told (or handed to a person);
* `delivered` – of those, the ones with an accepted message (a ticket);
* `lost` – expected but never accepted;
* `duplicates` – accepted messages beyond the first per phone (each phone is one (incident burst,
  customer, sms) in these scenarios, so this is the duplicate provider requests per (incident,
  customer, channel)); tickets beyond the first per case;
* `ambiguous_reconciled` – ledger rows settled by a lookup at the provider after a 5xx or a timeout.

What every scenario does with the services as processes is here too: their environment (`service_env`,
`care_env`), the inputs (`burst`, `return_received`, `escalation`), streaming on a thread of its own
(`Stream`), SIGKILL at random moments with restarts (`kill_schedule`, `kill_on_schedule`, `restart`),
a supervisor's restarts (`supervise`), and the counts (`measure`, `measure_tickets`).

`FOREWARN_CHAOS_SCALE=long` (what `make chaos` sets) selects the long versions; the default is the
short one (`make chaos-short`, also run by `make test`). `FOREWARN_CHAOS_SEED` repeats a run's random moments;
`FOREWARN_CHAOS_SERVICES_ROOT` runs another checkout's services under the same suite.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from schemas import make_event
from services.common.db import create_engine
from tests.support.care import escalation_event
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.fake_zendesk import FakeZendesk
from tests.support.kafka_io import group_offsets, read_topic
from tests.support.processes import ServiceProcess

__all__ = [
    "BROKER_SH",
    "LARGE_PRODUCER_BYTES",
    "Batches",
    "Figures",
    "Scale",
    "Stream",
    "broker",
    "burst",
    "care_env",
    "delivered_phones",
    "escalation",
    "kill_on_schedule",
    "kill_schedule",
    "measure",
    "measure_tickets",
    "now_utc",
    "own_broker",
    "phone_of",
    "produce_fast",
    "restart",
    "return_received",
    "scale",
    "seed",
    "service",
    "service_env",
    "sqlite_url",
    "supervise",
    "trace",
    "wait_delivered",
    "wait_settled",
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
    """Carrier-exception bursts in the kill scenario (order_watcher and the notifier)."""
    kill_returns: int
    """Received returns in it (returns, then order_watcher and the notifier)."""
    kill_cases: int
    """Escalated customers in it (care, a ticket each)."""
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
    "short": Scale("short", kill_incidents=60, kill_returns=20, kill_cases=20, kills_per_service=1,
                   kill_stream_s=12.0, broker_incidents=60, broker_down_s=5.0, storm_incidents=120, storm_s=10.0,
                   rebalance_incidents=240, rebalance_stream_s=24.0, poison_fuzzed_per_topic=12,
                   poison_good_per_topic=8),
    "long": Scale("long", kill_incidents=7_000, kill_returns=1_500, kill_cases=1_500, kills_per_service=4,
                  kill_stream_s=120.0, broker_incidents=2_000, broker_down_s=30.0, storm_incidents=1_500,
                  storm_s=60.0, rebalance_incidents=3_000, rebalance_stream_s=60.0, poison_fuzzed_per_topic=1_000,
                  poison_good_per_topic=60),
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


def care_env(zendesk: FakeZendesk) -> dict[str, str]:
    """care's settings on top of `service_env`: zenpy against the fake Zendesk, quick retries and resumes, and
    no wait for a story (the escalated customers have no messages in the ledger)."""
    return {
        "FOREWARN_CARE_DESK": "zendesk", "FOREWARN_CARE_ZENDESK_SUBDOMAIN": "acme",
        "FOREWARN_CARE_ZENDESK_EMAIL": "care-bot@acme.example", "FOREWARN_CARE_ZENDESK_TOKEN": "zendesk-chaos-token",
        "FOREWARN_CARE_ZENDESK_BASE_URL": zendesk.url, "FOREWARN_CARE_DESK_TIMEOUT_S": "2",
        "FOREWARN_CARE_CLAIM_LEASE_S": "3", "FOREWARN_CARE_RETRY_AFTER_S": "1", "FOREWARN_CARE_RESUME_POLL_S": "0.5",
        "FOREWARN_CARE_STORY_WAIT_S": "0",
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


def return_received(n: int, now: datetime, tag: str) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes], str]:
    """Order n (its promises far ahead: order_watcher finds nothing late), then a return of it received an
    hour ago: returns detects `return_received` (the refund not due for a day), one SMS to its own customer.
    Returns the orders record, the returns record and the phone."""
    oid, phone, customer = f"ord-{tag}-ret-{n:05d}", phone_of(n), f"cus-{tag}-ret-{n}"
    placed = order_placed(oid, placed_at=now - timedelta(days=10), ship_in=timedelta(days=30),
                          deliver_in=timedelta(days=35), customer_id=customer, phone=phone, email=None)
    received_at = now - timedelta(hours=1)
    receipt = make_event("return.received", {
        "return_id": f"ret-{oid}", "order_id": oid, "customer_id": customer,
        "lines": [{"sku": "TR2-42", "product_name": "Trail Runner 2 shoes", "quantity": 1}],
        "refund_amount": {"amount": "89.00", "currency": "USD"}, "received_at": received_at,
    }, source="store/acme", subject=oid, time=received_at)
    return (oid.encode(), placed.to_bytes()), (oid.encode(), receipt.to_bytes()), phone


def escalation(n: int, now: datetime, tag: str) -> tuple[tuple[bytes, bytes], str]:
    """A customer escalated to a person (never messaged by us, so no SMS follows): one case, one ticket.
    Returns the escalations record and the customer id."""
    customer = f"cus-{tag}-care-{n:05d}"
    event = escalation_event(f"esc-{tag}-{n:05d}", at=now, customer_id=customer, incident_id=f"inc-{tag}-care-{n}",
                             kind="not_delivered", related=[], tier=1, order_id=f"ord-{tag}-care-{n:05d}")
    return (customer.encode(), event.to_bytes()), customer


Batches = list[tuple[str, list[tuple[bytes | None, bytes | None]]]]
"""(topic, records) to produce in turn."""


async def produce_fast(bootstrap: str, batches: Batches, *, pause_s: float = 0.0) -> None:
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


class Stream:
    """`produce_fast` on a thread of its own, so a scenario can do its damage while the inputs stream in;
    `join()` raises what the producer raised."""

    def __init__(self, bootstrap: str, batches: Batches, *, pause_s: float = 0.0) -> None:
        self.failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(produce_fast(bootstrap, batches, pause_s=pause_s))
            except BaseException as exc:  # raised again by join()
                self.failure.append(exc)

        self.thread = threading.Thread(target=run, name="chaos-stream")

    def start(self) -> Stream:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join()
        if self.failure:
            raise self.failure[0]


def restart(victims: Sequence[ServiceProcess], *, kill: bool = True) -> None:
    """SIGKILL (or find exited) every victim at the same moment, then start them all and wait until each is
    ready again."""
    if kill:
        for victim in victims:
            victim.kill()
    readies = [victim.log().count(" ready") for victim in victims]
    for victim in victims:
        victim.start(wait_ready=False)
    for victim, ready in zip(victims, readies, strict=True):
        victim.wait_for_log(" ready", timeout=120, occurrence=ready + 1)


def kill_schedule(rng: random.Random, victims: Sequence[ServiceProcess], kills_each: int, window_s: float,
                  ) -> list[tuple[float, list[ServiceProcess]]]:
    """`kills_each` random moments per victim inside the window, and one more where all of them die at once."""
    moments = [(rng.uniform(0.05, 1.0) * window_s, [victim]) for victim in victims for _ in range(kills_each)]
    moments.append((rng.uniform(0.3, 0.7) * window_s, list(victims)))
    return sorted(moments, key=lambda item: item[0])


def kill_on_schedule(schedule: list[tuple[float, list[ServiceProcess]]], t0: float,
                     accepted: Callable[[], int]) -> list[dict[str, Any]]:
    """SIGKILL each victim at its moments (seconds after `t0`) and restart it at once. Each victim keeps its own
    time on a thread of its own, so one's restart never delays another's kill; a moment that comes while the
    victim is still starting waits until it is ready. One record per kill, with what the providers had
    `accepted()` by then, in the order they happened."""
    moments: dict[int, list[float]] = {}
    victims: dict[int, ServiceProcess] = {}
    for at, those in schedule:
        for victim in those:
            moments.setdefault(id(victim), []).append(at)
            victims[id(victim)] = victim
    kills: list[dict[str, Any]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run(victim: ServiceProcess, times: list[float]) -> None:
        try:
            for at in sorted(times):
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                record = {"service": victim.name, "at_s": round(time.monotonic() - t0, 1),
                          "accepted_before": accepted()}
                restart([victim])
                with lock:
                    kills.append(record)
        except BaseException as exc:  # raised again below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(victims[key], times), name=f"chaos-kill-{victims[key].name}")
               for key, times in moments.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return sorted(kills, key=lambda kill: float(kill["at_s"]))


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


UNSETTLED = ("reserved", "sending", "ambiguous")
"""Ledger states a send passes through on its way to an outcome."""


def wait_settled(database_url: str, timeout: float) -> dict[str, int]:
    """Wait until no ledger row at `database_url` is on its way (`UNSETTLED`); the rows per state then (or at the
    timeout)."""
    deadline = time.monotonic() + timeout
    states = asyncio.run(_ledger_figures(database_url))[1]
    while set(UNSETTLED) & set(states) and time.monotonic() < deadline:
        time.sleep(1)
        states = asyncio.run(_ledger_figures(database_url))[1]
    return states


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


def measure_tickets(zendesk: FakeZendesk, customers: set[str], *, database_url: str) -> Figures:
    """One ticket per case, none lost: the tickets the fake Zendesk holds, matched to care's cases (its ledger
    at `database_url` names each case's customer and external id)."""
    cases = asyncio.run(_care_cases(database_url))
    customer_of = {external_id: customer for customer, external_id, _ in cases}
    with zendesk._lock:
        tickets = [dict(ticket) for ticket in zendesk.tickets.values()]
        creations = sum(1 for r in zendesk.requests if r.method == "POST" and r.path == "/api/v2/tickets.json")
    per_customer = Counter(customer_of.get(str(t.get("external_id")), "?") for t in tickets)
    per_case = Counter(str(t.get("external_id")) for t in tickets)
    cases_per_customer = Counter(customer for customer, _, _ in cases)
    delivered = len(customers & set(per_customer))
    duplicates = (sum(n - 1 for n in per_case.values() if n > 1)
                  + sum(n - 1 for c, n in per_customer.items() if n > 1 and c != "?")
                  + sum(n - 1 for n in cases_per_customer.values() if n > 1))
    return Figures(expected=len(customers), delivered=delivered, lost=len(customers) - delivered,
                   duplicates=duplicates, ambiguous_reconciled=0, extra={
                       "tickets": len(tickets), "ticket_creations": creations,
                       "tickets_without_a_case": per_customer.get("?", 0),
                       "case_states": dict(Counter(state for _, _, state in cases)),
                       "unexpected_customers": len(set(cases_per_customer) - customers),
                       "lost_sample": sorted(customers - set(per_customer))[:5],
                       "duplicate_sample": sorted(c for c, n in cases_per_customer.items() if n > 1)[:5],
                   })


async def _care_cases(database_url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select customer_id, external_id, state from care_cases"))).all()
    finally:
        await engine.dispose()
    return [(str(customer), str(external_id), str(state)) for customer, external_id, state in rows]


def trace(bootstrap: str, prefix: str, needles: Sequence[str], topics: Sequence[str],
          groups: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """Where lost inputs got to: per topic, the records (partition, offset, key) whose key or value names one of
    `needles`; then, for each (service, topics it reads), what its consumer group committed of each partition
    against the partition's end: a lost record below its group's committed offset was passed over, one at or
    above it was never handled."""
    lines = []
    for topic in topics:
        records = asyncio.run(read_topic(bootstrap, prefix + topic, expect=10**9, timeout=5))
        hits = [(r.partition, r.offset, (r.key or b"").decode(errors="replace")) for r in records
                if any(n.encode() in (r.key or b"") + (r.value or b"") for n in needles)]
        lines.append(f"{topic}: {len(records)} records, naming {list(needles)[:3]}: {hits[:12]}")
    for service, read in groups:
        standing = asyncio.run(group_offsets(bootstrap, f"{prefix}forewarn-{service}", [prefix + t for t in read]))
        lines.append(f"{service} committed/end per partition: "
                     + "; ".join(f"{topic[len(prefix):]} {offsets}" for topic, offsets in standing.items()))
    return "\n".join(lines)


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
