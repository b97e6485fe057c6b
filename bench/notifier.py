"""Notifier throughput: sends per second of one notifier process, through the real broker.

    python -m bench notifier [--incidents N] [--database URL] [--bootstrap HOST:PORT] [--kafka-port 29096]

Everything real but the provider: a local Apache Kafka broker (started on its own port and wiped
afterwards unless --bootstrap is given), the notifier as its own process (one worker, 4 partitions,
a real SQLite ledger file or the given database), the official twilio SDK pointed at the fake Twilio,
which runs in a process of its own and records when each request arrived.

N incidents for N distinct customers (each with a phone number, inside the SMS window) are produced
to `incidents` while the notifier runs; sends_per_s = N over the time from the first produce until
the fake has every request and every outcome (`notification.sent`) is on the `notifications` topic:
outcome events go to the broker like any other record, none is kept in memory. Latency is from the
incident handed to the producer to the request received by the fake (one machine, one clock).

In the same run, two parts of a send alone, in the bench's own process (CPU per send, so a busy machine
moves them little): rendering the bench's SMS (`render_floor_us_per_send`) and the twilio SDK's request
to the fake at the notifier's send concurrency (`sms_sdk_floor_us_per_send`): what the notifier cannot
go below with these templates and that SDK, whatever its pipeline does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bench._support import ROOT, Service, local_broker
from schemas import CloudEvent, parse_event
from services.notifier.settings import NotifierSettings

__all__ = ["run"]

PARTITIONS = 4
TARGET_SENDS_PER_S = 1000


def _incident(i: int, now: datetime) -> CloudEvent:
    from tests.support.notifier import incident_event

    return incident_event(f"inc-bench-{i}", at=now, customer_id=f"cus-b{i}", phone=f"+1415{i:07d}",
                          order_id=f"ord-b{i}", timezone="UTC")


async def _produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> dict[str, float]:
    """Produce every incident; return each phone number -> when its incident was handed to the producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    handed: dict[str, float] = {}
    try:
        for event in events:
            handed[event.data.customer.phone] = time.time()
            await producer.send(topic, key=event.key(), value=event.to_bytes())
        await producer.flush()
    finally:
        await producer.stop()
    return handed


async def _outcomes(bootstrap: str, topic: str, want: int, timeout: float) -> Counter[str]:
    """Read `topic` from the start until `want` notification.sent events are there (or `timeout`); types seen."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while seen["notification.sent"] < want and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=200, max_records=10_000)).values():
                for message in messages:
                    seen[parse_event(message.value).type] += 1
    finally:
        await consumer.stop()
    return seen


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the run's topics (all named `prefix...`): on a broker kept between runs, every topic left behind
    makes each metadata answer the notifier decodes larger, and the next runs slower."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [topic for topic in await admin.list_topics() if topic.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def _recorded(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_recorded") as response:  # noqa: S310 - our own loopback server
        sends: list[dict[str, Any]] = json.load(response)["sends"]
        return sends


def _render_floor(events: list[CloudEvent]) -> float:
    """CPU microseconds to render each incident's SMS as the notifier does (context, promise, render)."""
    from services.notifier.policy import PromiseSettings, promise_for
    from services.notifier.rendering import MessageContext, StoreInfo, render

    settings = NotifierSettings()
    store = StoreInfo(name=settings.store_name, support_phone=settings.support_phone,
                      support_email=settings.support_email, help_url=settings.help_url,
                      timezone=settings.store_timezone)
    promises = PromiseSettings(after=timedelta(seconds=settings.promise_after_s),
                               business_mornings=settings.promise_business_mornings,
                               morning=settings.promise_morning, max_follow_ups=settings.follow_ups_max,
                               store_timezone=settings.store_timezone)
    now = datetime.now(UTC)
    started = time.process_time()
    for event in events:
        ctx = MessageContext.from_incidents([event.data], store=store, timezone_fallback=settings.store_timezone,
                                            unsubscribe_url=f"{settings.public_base_url}/u/{event.data.incident_id}")
        promise = promise_for(ctx.lead.kind, now, ctx.timezone, promises)
        render(ctx.model_copy(update={"next_update_at": promise}), "sms")
    return (time.process_time() - started) / len(events) * 1e6


async def _sms_sdk_floor(url: str, sends: int, concurrency: int) -> float:
    """CPU microseconds per SMS sent through the twilio SDK to the fake, `concurrency` at once."""
    from services.notifier.providers import SmsMessage, TwilioSms

    sms = TwilioSms("AC" + "0" * 32, "bench-token-123", "+15005550006", base_url=url)
    pool = asyncio.Semaphore(concurrency)
    body = "Acme Outfitters: Hi Grace, sorry, your Alpine Down Jacket (order ord-b1) is late to ship. " \
           "Next update by Fri, Dec 4. Help: +1 415 555 0100"

    async def one(i: int) -> None:
        async with pool:
            result = await sms.send_sms(SmsMessage(f"ntf-floor-{i}", f"+1999{i:07d}", body,
                                                   status_callback="http://127.0.0.1:8080/webhooks/twilio/status"))
            if result.outcome != "sent":
                raise RuntimeError(f"the fake refused a floor send: {result}")

    try:
        started = time.process_time()
        await asyncio.gather(*(one(i) for i in range(sends)))
        return (time.process_time() - started) / sends * 1e6
    finally:
        await sms.close()


def _measure(bootstrap: str, url: str, database: str | None, incidents: int, tmp: Path) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "FOREWARN_TOPIC_PREFIX": prefix,
           "FOREWARN_PARTITIONS": str(PARTITIONS), "FOREWARN_DATA_DIR": str(tmp / "data"),
           "FOREWARN_DATABASE_URL": database or f"sqlite+aiosqlite:///{tmp}/ledger.db",
           "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
           "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "bench-token-123",
           "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006", "FOREWARN_NOTIFIER_TWILIO_BASE_URL": url,
           "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "00:00",
           "FOREWARN_NOTIFIER_CAP_PER_24H": "1000"}
    now = datetime.now(UTC)
    events = [_incident(i, now) for i in range(incidents)]
    service = Service("services.notifier", env, tmp).start()
    try:
        cpu_before = service.cpu_seconds()
        handed = asyncio.run(_produce(bootstrap, prefix + "incidents", events))
        first = min(handed.values())
        outcomes = asyncio.run(_outcomes(bootstrap, prefix + "notifications", incidents, timeout=600))
        deadline = time.monotonic() + 60
        while len({s["to"] for s in _recorded(url)} & set(handed)) < incidents and time.monotonic() < deadline:
            time.sleep(0.1)
        done = time.time()
        cpu = service.cpu_seconds() - cpu_before
        errors = [line for line in service.log().splitlines() if " ERROR " in line]
    finally:
        service.stop()
        asyncio.run(_delete_topics(bootstrap, prefix))
    recorded = [s for s in _recorded(url) if s["to"] in handed]
    arrived = {s["to"]: s["at"] for s in recorded}
    latencies = sorted((arrived[phone] - at) * 1000 for phone, at in handed.items() if phone in arrived)
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "sends_per_s": round(incidents / (done - first), 1),
        "incidents": incidents,
        "sent": outcomes["notification.sent"],
        "outcome_events": dict(outcomes),
        "provider_requests": len(recorded),
        "duplicate_provider_calls": len(recorded) - len(arrived),
        "cpu_us_per_send": round(cpu / incidents * 1e6, 1),
        "latency_ms_p50": round(q[49], 1),
        "latency_ms_p99": round(q[98], 1),
        "render_floor_us_per_send": round(_render_floor(events[:2000]), 1),
        "sms_sdk_floor_us_per_send": round(asyncio.run(_sms_sdk_floor(
            url, min(incidents, 2000), NotifierSettings().send_concurrency)), 1),
        "database": "sqlite file" if database is None else database.split("://", 1)[0],
        "service_errors_logged": len(errors),
        "service_error_lines": [line[:300] for line in errors[:5]],
    }


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench notifier")
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL; default a fresh SQLite file")
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    parser.add_argument("--kafka-port", type=int, default=29096, help="port of the broker this bench starts")
    args = parser.parse_args(argv)
    fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_providers"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        with local_broker(args.kafka_port, args.bootstrap) as bootstrap, \
                tempfile.TemporaryDirectory(prefix="forewarn-bench-notifier-") as tmp:
            print(f"notifier: {args.incidents} incidents through one notifier process", file=sys.stderr)
            figures = _measure(bootstrap, url, args.database, args.incidents, Path(tmp))
    finally:
        fake.terminate()
        fake.wait(10)
    return {**figures, "target_sends_per_s": TARGET_SENDS_PER_S, "method": __doc__}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
