"""Poison on every input topic, interleaved with good events: every bad value dead-lettered with its headers,
every good one processed, no service down.

On each topic a service reads (orders, shipments, payments, inventory, returns, incident-candidates,
incidents, customers, provider-events) go, shuffled among good events: malformed JSON, bytes that are
not UTF-8, the topic's own event with every data field of the wrong type, an unknown event type, an
unknown specversion, a 1.04 MB value (under the contract's 1 MiB, over Faust's 1,000,000-byte producer
limit), a 5 MB value (under the broker's 8 MiB), and hypothesis-generated values (short: 12 per topic;
long, `make chaos`: 1,000 per topic). A generated value that happens to satisfy the contract is not
poison and is only counted.

What must hold, per consuming service: every bad value has a record on `<topic>.dlq` naming its
original topic, partition and offset, its error class and message (a value too large to copy whole
may be a smaller reference record); no good value is dead-lettered; every good one has its own effect,
on every topic: one SMS per customer for orders with a carrier exception, incidents, incident
candidates, a likely-false payment decline past its window (payments), an ordered SKU out of stock
(inventory) and a received return (returns); an SMS opt-out recorded by the notifier for
`customer.opted_out` (customers) and for an inbound STOP (provider-events); every group consumed
everything (committed); services that exit are restarted as a supervisor would and counted.

Can it fail? It does on a service whose dead-letter write of a value between 1,000,000 bytes and
8 MiB fails (issue 12, item 1): the service exits, the values after it in its batch are never
processed, and their DLQ records and SMS are missing. A good event that is committed but whose
effect is dropped (a detector that skips events after a dead-lettered one in its batch, a state write
lost) shows in `good_effects_missing`, per topic. Checked by breaking one good event's processing on each
topic on purpose: with the first good event of every topic left out of what is produced (its effect still
owed), the short run failed on the effect check with `good_effects_missing` 1 on each of the 9 topics (and
passed again with the edit reverted).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from sqlalchemy import text

from schemas import TOPICS, CloudEvent, ContractError, make_event, parse_event
from services.common.db import create_engine
from tests.chaos.conftest import ChaosResults
from tests.chaos.harness import (
    LARGE_PRODUCER_BYTES,
    burst,
    delivered_phones,
    measure,
    now_utc,
    phone_of,
    return_received,
    scale,
    seed,
    service,
    service_env,
    sqlite_url,
    supervise,
    wait_delivered,
)
from tests.integration.order_watcher.support import declined, stock_changed
from tests.support.events import order_placed
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import Record, group_caught_up, read_topic
from tests.support.notifier import incident_event

pytestmark = pytest.mark.timeout(3600)

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "valid"
CONSUMERS = {  # registry topic -> the services (consumer groups) that read it
    "orders": ("order-watcher", "returns"), "shipments": ("order-watcher",), "payments": ("order-watcher",),
    "inventory": ("order-watcher",), "incident-candidates": ("order-watcher",), "returns": ("returns",),
    "incidents": ("notifier",), "customers": ("notifier",), "provider-events": ("notifier",),
}
GOOD_PHONES = {  # topic -> the first phone number of its good events' customers
    "incidents": 70_000, "incident-candidates": 71_000, "orders": 72_000, "shipments": 72_000, "payments": 73_000,
    "inventory": 74_000, "returns": 75_000, "customers": 76_000, "provider-events": 77_000,
}
DLQ_HEADERS = ("original-topic", "original-partition", "original-offset", "error-class", "error-message")
Value = tuple[str, bytes | None, bytes]  # (kind, key, value)


def _example(topic: str) -> dict[str, Any]:
    """A valid event of `topic` from the contract's examples, with a fresh id."""
    for type_ in TOPICS[topic].event_types:
        for path in sorted(EXAMPLES.glob(f"{type_}*.json")):
            event: dict[str, Any] = json.loads(path.read_text())
            return {**event, "id": str(uuid.uuid4())}
    raise LookupError(f"no valid example for {topic}")


def _crafted(topic: str) -> list[Value]:
    """The named kinds of poison for one topic."""
    example = _example(topic)
    key = f"poison-{topic}".encode()
    wrong_types = {**example, "data": {name: [value] for name, value in dict(example["data"]).items()}}
    unknown_type = {**example, "type": "order.teleported"}
    unknown_version = {**example, "specversion": "9.9"}
    big = {**example, "type": "order.teleported", "pad": "x" * 1_040_000}
    return [
        ("malformed_json", key, b'{"specversion": "1.0", "type": "order.placed", "data": {'),
        ("not_utf8", key, b"\xff\xfe\x00\xc3\x28 not text"),
        ("wrong_types", key, json.dumps(wrong_types).encode()),
        ("unknown_type", key, json.dumps(unknown_type).encode()),
        ("unknown_version", key, json.dumps(unknown_version).encode()),
        ("value_1_04_mb", key, json.dumps(big).encode()),
        ("value_5_mb", key, b'{"pad": "' + b"y" * 5_000_000 + b'"}'),
    ]


def _fuzzed(topic: str, count: int, run_seed: int) -> list[Value]:
    """`count` hypothesis-generated values: random bytes, random JSON, and envelopes of random parts."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
    json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                               | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
    example = _example(topic)
    envelope = st.fixed_dictionaries({
        "specversion": st.sampled_from(["1.0", "0.3", "2.0", 1]),
        "id": st.text(max_size=12) | st.integers(), "source": st.text(max_size=12),
        "type": st.sampled_from([*TOPICS[topic].event_types, "x.y", ""]),
        "time": st.sampled_from([example["time"], "yesterday", "9999-99-99T00:00:00Z", 0]),
        "subject": st.text(max_size=12), "data": json_values | st.just(example["data"]).map(
            lambda data: {name: value for name, value in data.items() if name != next(iter(data))}),
    })
    values = (st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
              | envelope.map(lambda v: json.dumps(v).encode()) | st.text(max_size=300).map(str.encode))
    found: list[bytes] = []

    @hypothesis_seed(run_seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(values)
    def collect(value: bytes) -> None:
        found.append(value)

    collect()
    return [("fuzzed", f"fuzz-{topic}-{n}".encode(), value) for n, value in enumerate(found[:count])]


def _is_poison(topic: str, value: bytes) -> bool:
    try:
        parse_event(value, topic=topic)
    except ContractError:
        return True
    return False


@dataclass
class Good:
    """A topic's good events, the orders they need on `orders`, and the effect each must have: an SMS to each
    of `phones`, an SMS opt-out recorded for each of `opted_out`."""

    values: list[Value]
    phones: set[str] = field(default_factory=set)
    orders: list[Value] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)


def _good(topic: str, n: int, now: datetime) -> Good:
    """Good events for `topic`, each with an effect that can be seen.

    incidents, incident-candidates: one SMS each (the notifier; order_watcher publishes the candidates);
    orders, shipments: an order and its carrier exception, one SMS; payments: a likely-false decline of an
    order (placed on orders) older than the decline window: a false_decline, one SMS; inventory: the only
    SKU of an order (placed on orders) out of stock: a stockout, one SMS; returns: a return received for an
    order (placed on orders): one SMS; customers: `customer.opted_out` of a phone; provider-events: an
    inbound STOP from a phone: that phone opted out of SMS in the notifier's records."""
    def phone(k: int) -> str:
        return phone_of(GOOD_PHONES[topic] + k)

    def placed(k: int, **extra: Any) -> Value:
        oid = f"ord-poison-{topic}-{k}"
        event = order_placed(oid, placed_at=now - timedelta(hours=1), ship_in=timedelta(days=2),
                             deliver_in=timedelta(days=4), customer_id=f"cus-poison-{topic}-{k}", phone=phone(k),
                             email=None, **extra)
        return ("good", oid.encode(), event.to_bytes())

    def good(events: list[CloudEvent]) -> list[Value]:
        return [("good", event.key(), event.to_bytes()) for event in events]

    phones = {phone(k) for k in range(n)}
    if topic in ("incidents", "incident-candidates"):
        return Good(good([incident_event(f"inc-poison-{topic}-{k}", at=now, order_id=f"ord-poison-{topic}-{k}",
                                         customer_id=f"cus-poison-{topic}-{k}", phone=phone(k), email=None,
                                         timezone="UTC") for k in range(n)]), phones=phones)
    if topic in ("orders", "shipments"):
        bursts = [burst(GOOD_PHONES["orders"] + k, now, "poison") for k in range(n)]
        records = [b[0] if topic == "orders" else b[1] for b in bursts]
        return Good([("good", key, value) for key, value in records], phones={p for _, _, p in bursts})
    if topic == "payments":
        return Good(good([declined(f"ord-poison-{topic}-{k}", now - timedelta(minutes=40)) for k in range(n)]),
                    phones=phones, orders=[placed(k) for k in range(n)])
    if topic == "inventory":
        skus = [f"SKU-POISON-{k}" for k in range(n)]
        lines = [[{"sku": sku, "product_name": "Gooseneck Kettle", "quantity": 1,
                   "unit_price": {"amount": "89.00", "currency": "USD"}}] for sku in skus]
        return Good(good([stock_changed(sku, 0, now) for sku in skus]), phones=phones,
                    orders=[placed(k, lines=lines[k]) for k in range(n)])
    if topic == "returns":
        returns = [return_received(GOOD_PHONES[topic] + k, now, "poison") for k in range(n)]
        return Good([("good", *receipt) for _, receipt, _ in returns], phones={p for _, _, p in returns},
                    orders=[("good", *order) for order, _, _ in returns])
    if topic == "customers":
        return Good(good([make_event("customer.opted_out", {
            "customer_id": f"cus-poison-{topic}-{k}", "channel": "sms", "phone": phone(k), "source": "support",
            "store_id": "acme", "at": now}, source="store/acme", subject=f"cus-poison-{topic}-{k}", time=now)
            for k in range(n)]), opted_out=phones)
    if topic == "provider-events":
        return Good(good([make_event("provider.sms_inbound", {
            "message_sid": f"SMpoison{k:026d}", "from": phone(k), "to": "+15005550006", "body": "STOP",
            "received_at": now}, source="provider/twilio", subject=f"SMpoison{k:026d}", time=now)
            for k in range(n)]), opted_out=phones)
    raise LookupError(f"no good events for {topic}")


async def _produce(bootstrap: str, plan: list[tuple[str, list[Value]]]) -> list[tuple[str, str, int, int]]:
    """Produce every (topic, values) in order; (kind, topic, partition, offset) per value."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5,
                                max_request_size=LARGE_PRODUCER_BYTES, request_timeout_ms=60_000)
    await producer.start()
    placed: list[tuple[str, str, int, int]] = []
    try:
        for topic, values in plan:
            pending = [await producer.send(topic, key=key, value=value) for _, key, value in values]
            for (kind, _, _), meta in zip(values, await asyncio.gather(*pending), strict=True):
                placed.append((kind, topic, meta.partition, meta.offset))
    finally:
        await producer.stop()
    return placed


def test_poison_on_every_input_topic_is_dead_lettered_and_good_events_are_processed(
    kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders, chaos_results: ChaosResults
) -> None:
    size, run_seed = scale(), seed()
    rng = random.Random(run_seed)
    now = now_utc()
    plan: list[tuple[str, list[Value]]] = []
    goods = {topic: _good(topic, size.poison_good_per_topic, now) for topic in CONSUMERS}
    phones = {phone for good in goods.values() for phone in good.phones}
    opted_out = {phone for good in goods.values() for phone in good.opted_out}
    fuzz_accepted: Counter[str] = Counter()
    for topic in CONSUMERS:
        crafted = _crafted(topic)
        assert all(_is_poison(topic, value) for _, _, value in crafted), "a crafted value satisfies the contract"
        bad = crafted + _fuzzed(topic, size.poison_fuzzed_per_topic, run_seed)
        for kind, _key, value in bad:
            if kind == "fuzzed" and not _is_poison(topic, value):
                fuzz_accepted[topic] += 1
        values = goods[topic].values + bad + [order for good in goods.values() for order in good.orders
                                              if topic == "orders"]
        rng.shuffle(values)
        plan.append((topic_prefix + topic, values))
    plan.sort(key=lambda item: item[0] != topic_prefix + "orders")  # orders before their carrier exceptions

    env = service_env(kafka, topic_prefix, tmp_path, fake_providers.url)
    services = {name: service(module, env, tmp_path) for name, module in
                (("order-watcher", "order_watcher"), ("returns", "returns"), ("notifier", "notifier"))}
    exits: Counter[str] = Counter()
    try:
        for each in services.values():
            each.start()
        t0 = time.monotonic()
        placed = asyncio.run(_produce(kafka, plan))
        values_of = {(topic, partition, offset): value for (topic, values), in_order in
                     _aligned(plan, placed) for (_, _, value), (_, _, partition, offset) in zip(values, in_order,
                                                                                              strict=True)}
        poison = [(kind, topic, partition, offset) for kind, topic, partition, offset in placed
                  if kind != "good" and (kind != "fuzzed" or _is_poison(topic.removeprefix(topic_prefix),
                                                                         values_of[(topic, partition, offset)]))]
        owed_dlq = sum(len(CONSUMERS[topic.removeprefix(topic_prefix)]) for _, topic, _, _ in poison)
        all_told = wait_delivered(fake_providers, phones, timeout=90 + len(phones) / 20, check=lambda: supervise(
            list(services.values()), exits))
        recorded_opt_outs = _wait_opted_out(sqlite_url(tmp_path), opted_out, timeout=60)
        dead = _read_dlqs(kafka, topic_prefix, expect=owed_dlq, timeout=90 if all_told else 20)
        caught_up = {name: asyncio.run(group_caught_up(kafka, f"{topic_prefix}forewarn-{name}",
                                                       [topic_prefix + t for t, cs in CONSUMERS.items() if name in cs],
                                                       4)) for name in services}
        supervise(list(services.values()), exits)
        figures = measure(fake_providers, phones, database_url=sqlite_url(tmp_path), settle_s=2.0, seed=run_seed)
        told = set(delivered_phones(fake_providers))
    finally:
        for each in services.values():
            each.stop()

    missing, headless, by_kind = _check_dead_letters(poison, dead, topic_prefix)
    good_dead = [(r.topic, r.headers.get("forewarn.dlq.original-offset")) for r in dead
                 if (r.topic.removesuffix(".dlq"), int(r.headers.get("forewarn.dlq.original-partition", b"-1")),
                     int(r.headers.get("forewarn.dlq.original-offset", b"-1"))) in
                 {(t, p, o) for kind, t, p, o in placed if kind == "good"}]
    effects_missing = {topic: len((good.phones - told) | (good.opted_out - recorded_opt_outs))
                       for topic, good in goods.items()}
    figures.extra.update({
        "good_effects_owed": {topic: len(good.phones | good.opted_out) for topic, good in goods.items()},
        "good_effects_missing": {topic: n for topic, n in effects_missing.items() if n},
        "bad_values": len(poison), "dlq_records_owed": owed_dlq, "dlq_records": len(dead),
        "bad_values_missing_from_dlq": len(missing), "missing_by_kind": dict(Counter(k for k, *_ in missing)),
        "missing_sample": [f"{kind} {topic}[{partition}]@{offset} for {svc}"
                           for kind, topic, partition, offset, svc in missing[:8]],
        "dlq_records_without_headers": len(headless), "dead_lettered_by_kind": dict(by_kind),
        "good_values": sum(1 for kind, *_ in placed if kind == "good"), "good_values_dead_lettered": len(good_dead),
        "fuzzed_values_valid_by_chance": dict(fuzz_accepted), "service_exits": dict(exits),
        "groups_caught_up": caught_up, "all_told": all_told, "drained_s": round(time.monotonic() - t0, 1),
    })
    chaos_results.record("poison", figures)
    logs = "\n".join(each.log()[-2000:] for each in services.values())

    assert not missing, f"{figures.as_dict()}\n{logs}"
    assert not headless, headless[:5]
    assert not good_dead, good_dead[:5]
    assert not any(effects_missing.values()), f"good events without their effect: {effects_missing}\n{logs}"
    assert figures.lost == 0, figures.as_dict()
    assert figures.duplicates == 0, figures.as_dict()
    assert not exits, f"services went down: {dict(exits)}\n{logs}"
    assert all(caught_up.values()), caught_up


def _wait_opted_out(database_url: str, phones: set[str], *, timeout: float) -> set[str]:
    """The phones the notifier has recorded as opted out of SMS, once all of `phones` are (or at the timeout)."""
    async def read() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(text(
                    "select address from contact_optouts where channel = 'sms' and opted_out"))).all()
        finally:
            await engine.dispose()
        return {str(row[0]) for row in rows}

    deadline = time.monotonic() + timeout
    recorded = asyncio.run(read())
    while not phones <= recorded and time.monotonic() < deadline:
        time.sleep(1)
        recorded = asyncio.run(read())
    return recorded


def _aligned(plan: list[tuple[str, list[Value]]], placed: list[tuple[str, str, int, int]]
             ) -> list[tuple[tuple[str, list[Value]], list[tuple[str, str, int, int]]]]:
    out, at = [], 0
    for topic, values in plan:
        out.append(((topic, values), placed[at:at + len(values)]))
        at += len(values)
    return out


def _read_dlqs(kafka: str, prefix: str, *, expect: int, timeout: float) -> list[Record]:
    async def read_all() -> list[Record]:
        found = await asyncio.gather(*(read_topic(kafka, f"{prefix}{topic}.dlq", expect=1, timeout=timeout,
                                                  settle=3.0) for topic in CONSUMERS))
        return [record for records in found for record in records]

    deadline = time.monotonic() + timeout
    records = asyncio.run(read_all())
    while len(records) < expect and time.monotonic() < deadline:
        time.sleep(2)
        records = asyncio.run(read_all())
    return records


def _check_dead_letters(poison: list[tuple[str, str, int, int]], dead: list[Record], prefix: str
                        ) -> tuple[list[tuple[str, str, int, int, str]], list[Record], Counter[str]]:
    """Bad values without a DLQ record per consuming service; DLQ records lacking a header; DLQ'd kinds."""
    headless = [r for r in dead if any(not r.headers.get("forewarn.dlq." + h) for h in DLQ_HEADERS)]
    seen = {(r.headers.get("forewarn.dlq.original-topic", b"").decode(),
             int(r.headers.get("forewarn.dlq.original-partition", b"-1")),
             int(r.headers.get("forewarn.dlq.original-offset", b"-1")),
             r.headers.get("forewarn.dlq.service", b"").decode()) for r in dead if r not in headless}
    missing, by_kind = [], Counter[str]()
    for kind, topic, partition, offset in poison:
        for svc in CONSUMERS[topic.removeprefix(prefix)]:
            if (topic, partition, offset, svc) in seen:
                by_kind[kind] += 1
            else:
                missing.append((kind, topic, partition, offset, svc))
    return missing, headless, by_kind
