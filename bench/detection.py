"""Detection: order_watcher's throughput, deadline lateness, state scaling and memory (`make bench`).

    python -m bench detection [--events N] [--bootstrap HOST:PORT] [--kafka-port 29092] [--scaling-orders 10000,1000000]

Through the real service, on a real local Apache Kafka broker (started on its own port and
wiped afterwards, unless --bootstrap is given):

* events_per_s: N mixed events (orders, payments, shipments, a few stock levels) produced as
  fast as one aiokafka producer can, while order_watcher (one worker, 4 partitions, every agent
  at concurrency 1) consumes them; the time from the first produce until the worker's consumer
  group has committed every input offset (lag 0, polled every 0.25 s; the worker commits every
  second). `drain_s` also waits for its internal topics (demand by SKU, incident candidates).
* raw_consume_events_per_s: the same input topics read from the start by a plain aiokafka
  consumer (`getmany`, manual assignment, no processing), in the same run, after the worker stopped;
  raw_parse_events_per_s: the same loop parsing every value against the contract.
* faust_floor_events_per_s: a Faust agent that does next to nothing (`bench._faust_floor`: plain
  `stream.events()`, `take_events` batches, and batches parsed), same app factory and settings as
  order_watcher, timed the same way over the same topics: the ceiling the framework sets.
* deadline_lateness_ms: in a quiet period after the load, 200 orders whose ship-by (grace 0) falls
  due over 20 s; lateness = the incident's record timestamp on `incidents` minus its due time.
  Default tick (1 s). The path is tick -> order agent -> candidates -> escalation agent -> incidents.

In process (see `_state_scaling`): event_us_*, tick_ms_*, scaling_ratio_1m_vs_10k,
rss_bytes_per_open_order (from the 1M book).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench._support import ROOT, Service, end_offsets, group_lag, local_broker
from schemas import CloudEvent, make_event, parse_event

__all__ = ["run"]

PARTITIONS = 4
INPUTS = ("orders", "payments", "shipments", "inventory")
INTERNAL = ("order-watcher.demand-by-sku", "incident-candidates", "ticks.order-watcher")
SKUS = [f"SKU-{n:05d}" for n in range(5000)]
LATENESS_ORDERS = 200
LATENESS_SPREAD_S = 20.0
FLOOR_MODES = ("events", "take", "parse")
TARGETS = {"ratio_vs_raw_consume": ">= 0.5", "scaling_ratio_1m_vs_10k": "<= 1.5",
           "deadline_lateness_ms_p99": "< 2000", "rss_bytes_per_open_order": "<= 2048"}


# -- the mixed load ----------------------------------------------------------------------------------


def _order_events(i: int, now: datetime, rng: random.Random) -> list[tuple[str, CloudEvent]]:
    """One order's life so far: placed in the last 36 h, paid (or declined), maybe cancelled, maybe on its way."""
    oid = f"ord-{i:08d}"
    customer = f"cus-{rng.randrange(1 << 30):09d}"
    at = now - timedelta(hours=rng.uniform(0, 36))
    lines = [{"sku": rng.choice(SKUS), "product_name": "Alpine Down Jacket", "quantity": 1,
              "unit_price": {"amount": "89.00", "currency": "EUR"}} for _ in range(rng.choice((1, 1, 2)))]
    ship_by = at + timedelta(days=3)
    placed = {
        "order_id": oid, "store_id": "acme",
        "customer": {"id": customer, "first_name": "Ada", "email": f"{customer}@example.com",
                     "phone": "+4915112345678", "locale": "de-DE", "timezone": "Europe/Berlin"},
        "lines": lines, "total": {"amount": "89.00", "currency": "EUR"}, "shipping_method": "standard",
        "placed_at": at, "promised_ship_by": ship_by, "promised_delivery_by": ship_by + timedelta(days=3),
        "customer_paid_orders_count": 2, "order_status_url": f"https://acme.example/orders/{oid}",
    }
    out = [("orders", make_event("order.placed", placed, source="store/acme", subject=oid, time=at))]
    money = {"amount": "89.00", "currency": "EUR"}

    def pay(type_: str, when: datetime, **data: Any) -> None:
        body = {"order_id": oid, "payment_id": f"pay-{oid}", "amount": money, "customer_id": customer, **data}
        out.append(("payments", make_event(type_, body, source="stripe", subject=oid, time=when)))

    roll = rng.random()
    if roll < 0.05:  # a soft decline, then the retry goes through
        pay("payment.declined", at + timedelta(minutes=1), attempt=1, decline_code="do_not_honor",
            outcome_type="issuer_declined", risk_level="normal", declined_at=at + timedelta(minutes=1))
        pay("payment.succeeded", at + timedelta(minutes=3), succeeded_at=at + timedelta(minutes=3))
    elif roll < 0.08:
        pay("payment.declined", at + timedelta(minutes=1), attempt=1, decline_code="insufficient_funds",
            outcome_type="issuer_declined", risk_level="normal", declined_at=at + timedelta(minutes=1))
    else:
        pay("payment.succeeded", at + timedelta(minutes=1), succeeded_at=at + timedelta(minutes=1))
    if rng.random() < 0.03:
        cancelled = at + timedelta(hours=2)
        if cancelled <= now:
            body = {"order_id": oid, "reason": "customer", "cancelled_at": cancelled}
            event = make_event("order.cancelled", body, source="store/acme", subject=oid, time=cancelled)
            out.append(("orders", event))
        return out
    exception = rng.random() < 0.02
    for hours, status in ((6, "label_created"), (12, "in_transit"), (20, "exception" if exception else None),
                          (30, "out_for_delivery"), (34, "delivered")):
        when = at + timedelta(hours=hours)
        if status is None or when > now:
            continue
        body = {"order_id": oid, "shipment_id": f"sh-{oid}", "carrier": "dhl", "tracking_number": "JD0146000062",
                "status": status, "exception_reason": "weather" if status == "exception" else None,
                "checkpoint_time": when, "estimated_delivery": at + timedelta(days=4)}
        out.append(("shipments", make_event("shipment.updated", body, source="carrier/dhl", subject=oid, time=when)))
    return out


def mixed_events(count: int, now: datetime, seed: int) -> list[tuple[str, bytes, bytes]]:
    """`count` events as (topic, key, value), in event-time order, about 1 in 200 a stock level."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, str, CloudEvent]] = []
    i = 0
    while len(timed) < count:
        if rng.random() < 0.02:
            sku, at = rng.choice(SKUS), now - timedelta(hours=rng.uniform(0, 36))
            body = {"sku": sku, "available": 100_000, "changed_at": at}
            timed.append((at, "inventory", make_event("stock.changed", body, source="store/acme", subject=sku,
                                                      time=at)))
            continue
        timed.extend((event.time, topic, event) for topic, event in _order_events(i, now, rng))
        i += 1
    timed.sort(key=lambda item: item[0])
    return [(topic, event.key(), event.to_bytes()) for _, topic, event in timed[:count]]


# -- through the service ---------------------------------------------------------------------------


async def _produce(bootstrap: str, prefix: str, records: list[tuple[str, bytes, bytes]]) -> float:
    """Produce everything; return the wall-clock time of the first send."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks=1)
    await producer.start()
    try:
        first = time.time()
        for topic, key, value in records:
            await producer.send(prefix + topic, key=key, value=value)
        await producer.flush()
        return first
    finally:
        await producer.stop()


async def _wait_lag_zero(bootstrap: str, group: str, ends: dict[TopicPartition, int], timeout: float) -> float:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while await group_lag(admin, group, ends) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{group} still lagging after {timeout:.0f}s")
            await asyncio.sleep(0.25)
        return time.time()
    finally:
        await admin.close()


async def _throughput(bootstrap: str, prefix: str, records: list[tuple[str, bytes, bytes]]) -> dict[str, Any]:
    group = f"{prefix}forewarn-order-watcher"
    inputs = [prefix + t for t in INPUTS]
    first = await _produce(bootstrap, prefix, records)
    produced = time.time()
    ends = await end_offsets(bootstrap, inputs, PARTITIONS)
    assert sum(ends.values()) == len(records), "the input topics must start empty"
    consumed = await _wait_lag_zero(bootstrap, group, ends, timeout=3600)
    internal = await end_offsets(bootstrap, [prefix + t for t in INTERNAL[:2]], PARTITIONS)
    drained = await _wait_lag_zero(bootstrap, group, internal, timeout=3600)
    return {
        "events": len(records),
        "produce_s": round(produced - first, 2),
        "consume_s": round(consumed - first, 2),
        "drain_s": round(drained - first, 2),
        "events_per_s": round(len(records) / (consumed - first), 1),
        "internal_messages": sum(internal.values()),
    }


async def _lateness(bootstrap: str, prefix: str) -> dict[str, Any]:
    incidents = prefix + "incidents"
    start = await end_offsets(bootstrap, [incidents], PARTITIONS)
    now = datetime.now(UTC)
    dues: dict[str, datetime] = {}
    records = []
    for k in range(LATENESS_ORDERS):
        oid = f"late-{k:05d}"
        due = now + timedelta(seconds=3 + k * LATENESS_SPREAD_S / LATENESS_ORDERS)
        dues[oid] = due
        body = {
            "order_id": oid, "store_id": "acme",
            "customer": {"id": f"cus-{oid}", "first_name": "Ada", "email": f"{oid}@example.com", "locale": "en"},
            "lines": [{"sku": "SKU-LATE", "product_name": "Mug", "quantity": 1,
                       "unit_price": {"amount": "9.00", "currency": "EUR"}}],
            "total": {"amount": "9.00", "currency": "EUR"}, "shipping_method": "standard",
            "placed_at": now - timedelta(hours=1), "promised_ship_by": due,
            "promised_delivery_by": due + timedelta(days=3), "customer_paid_orders_count": 1,
        }
        event = make_event("order.placed", body, source="store/acme", subject=oid, time=now - timedelta(hours=1))
        records.append(("orders", event.key(), event.to_bytes()))
    await _produce(bootstrap, prefix, records)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    lateness: dict[str, float] = {}
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + LATENESS_SPREAD_S + 60
        while len(lateness) < LATENESS_ORDERS and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    event = parse_event(message.value)
                    if event.type == "incident.detected" and event.data.order_id in dues:
                        due = dues[event.data.order_id]
                        lateness[event.data.order_id] = message.timestamp - due.timestamp() * 1000
    finally:
        await consumer.stop()
    values = sorted(lateness.values())
    if len(values) < LATENESS_ORDERS:
        raise RuntimeError(f"only {len(values)} of {LATENESS_ORDERS} deadlines fired")
    q = statistics.quantiles(values, n=100)
    return {"deadline_lateness_ms_p50": round(q[49], 1), "deadline_lateness_ms_p99": round(q[98], 1),
            "deadline_lateness_ms_max": round(values[-1], 1), "deadlines_measured": len(values)}


async def _raw_consume(bootstrap: str, prefix: str, count: int, *, parse: bool = False) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(prefix + t, p) for t in INPUTS for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        got = 0
        t0 = time.perf_counter()
        while got < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batch.values():
                got += len(messages)
                if parse:
                    for message in messages:
                        parse_event(message.value)
        elapsed = time.perf_counter() - t0
    finally:
        await consumer.stop()
    name = "raw_parse" if parse else "raw_consume"
    return {f"{name}_s": round(elapsed, 2), f"{name}_events_per_s": round(got / elapsed, 1)}


def _faust_floor(bootstrap: str, prefix: str, env: dict[str, str], tmp: Path, mode: str, count: int) -> float:
    """Events/s of a Faust agent that does next to nothing (`bench._faust_floor`) over the same input topics,
    timed like order_watcher: from the worker's "ready" until its group has committed every input offset."""
    floor_env = {**env, "FOREWARN_FLOOR_MODE": mode, "FOREWARN_FLOOR_TOPICS": ",".join(INPUTS)}
    service = Service("bench._faust_floor", floor_env, tmp / mode).start()
    try:
        started = time.time()
        ends = asyncio.run(end_offsets(bootstrap, [prefix + t for t in INPUTS], PARTITIONS))
        done = asyncio.run(_wait_lag_zero(bootstrap, f"{prefix}forewarn-faust-floor-{mode}", ends, timeout=3600))
    finally:
        service.stop()
    return round(count / (done - started), 1)


def _through_service(bootstrap: str, events: int, seed: int) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    print(f"detection: building {events} mixed events", file=sys.stderr)
    records = mixed_events(events, datetime.now(UTC), seed)
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-") as tmp:
        env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "FOREWARN_TOPIC_PREFIX": prefix,
               "FOREWARN_PARTITIONS": str(PARTITIONS), "FOREWARN_DATA_DIR": str(Path(tmp) / "data"),
               "FOREWARN_WATCH_SHIP_GRACE_S": "0"}
        service = Service("services.order_watcher", env, Path(tmp)).start()
        try:
            rss_before = service.rss_bytes()
            print(f"detection: producing {events} events through order_watcher", file=sys.stderr)
            figures = asyncio.run(_throughput(bootstrap, prefix, records))
            figures["service_rss_bytes_before"] = rss_before
            figures["service_rss_bytes_after"] = service.rss_bytes()
            print("detection: measuring deadline lateness", file=sys.stderr)
            figures.update(asyncio.run(_lateness(bootstrap, prefix)))
        finally:
            service.stop()
        errors = [line for line in service.log().splitlines() if " ERROR " in line]
        figures["service_errors_logged"] = len(errors)
        figures["service_error_lines"] = [line[:300] for line in errors[:5]]
        floors = {}
        for mode in FLOOR_MODES:
            print(f"detection: a Faust agent that does nothing ({mode}) over the same topics", file=sys.stderr)
            (Path(tmp) / mode).mkdir()
            floors[mode] = _faust_floor(bootstrap, prefix, env, Path(tmp), mode, len(records))
        figures["faust_floor_events_per_s"] = floors
    print("detection: raw consumption of the same topics", file=sys.stderr)
    figures.update(asyncio.run(_raw_consume(bootstrap, prefix, len(records))))
    figures.update(asyncio.run(_raw_consume(bootstrap, prefix, len(records), parse=True)))
    figures["ratio_vs_raw_consume"] = round(figures["events_per_s"] / figures["raw_consume_events_per_s"], 4)
    figures["ratio_vs_raw_parse"] = round(figures["events_per_s"] / figures["raw_parse_events_per_s"], 4)
    figures["ratio_vs_faust_floor_parse"] = round(figures["events_per_s"] / floors["parse"], 4)
    return figures


def _state_scaling(sizes: list[int]) -> dict[int, Any]:
    results: dict[int, Any] = {}
    for size in sizes:
        print(f"detection: state scaling at {size} open orders (in process)", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", "bench._state_scaling", "--orders", str(size)], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        results[size] = json.loads(done.stdout)
    return results


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench detection")
    parser.add_argument("--events", type=int, default=100_000, help="mixed events through the service "
                        "(QUALITY.md asks for 1000000; the default keeps a run to a few minutes on 2 cores)")
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    parser.add_argument("--kafka-port", type=int, default=29092, help="port of the broker this bench starts")
    parser.add_argument("--scaling-orders", default="10000,1000000", help="two book sizes, small first")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    small, large = (int(n) for n in args.scaling_orders.split(","))

    with local_broker(args.kafka_port, args.bootstrap) as bootstrap:
        service = _through_service(bootstrap, args.events, args.seed)
    scaling = _state_scaling([small, large])
    lo, hi = scaling[small], scaling[large]
    return {
        "events_per_s": service["events_per_s"],
        "raw_consume_events_per_s": service["raw_consume_events_per_s"],
        "ratio_vs_raw_consume": service["ratio_vs_raw_consume"],
        "tick_ms_10k": lo["tick_ms"],
        "tick_ms_1m": hi["tick_ms"],
        "event_us_10k": lo["event_us"],
        "event_us_1m": hi["event_us"],
        "scaling_ratio_1m_vs_10k": round(max(hi["event_us"] / lo["event_us"], hi["tick_ms"] / lo["tick_ms"]), 3),
        "scaling_ratio_event": round(hi["event_us"] / lo["event_us"], 3),
        "scaling_ratio_tick": round(hi["tick_ms"] / lo["tick_ms"], 3),
        "deadline_lateness_ms_p99": service["deadline_lateness_ms_p99"],
        "rss_bytes_per_open_order": hi["rss_bytes_per_open_order"],
        "targets": TARGETS,
        "events": args.events,
        "scaling_orders": [small, large],
        "service": service,
        "state_scaling": {str(k): v for k, v in scaling.items()},
        "method": {
            "events_per_s": "N mixed events (order.placed/cancelled, payment.succeeded/declined, shipment.updated, "
                            "1 in ~200 stock.changed) produced by one aiokafka producer while one order_watcher worker "
                            "(4 partitions, concurrency 1 per agent, memory store) consumes; time from the first "
                            "produce until the worker's group has committed every input offset (lag 0, polled every "
                            "0.25 s; commits every 1 s). Includes the producer sharing the machine's cores.",
            "raw_consume_events_per_s": "plain aiokafka consumer, manual assignment of the same 4 input topics "
                                        "from offset 0, getmany(max_records=10000) until N records; no decoding; "
                                        "same run, after the worker stopped.",
            "faust_floor": "service.faust_floor_events_per_s: bench/_faust_floor.py run as a service over the same "
                           "topics after order_watcher, from its 'ready' until its group's lag is 0; "
                           "service.raw_parse_events_per_s: the raw getmany loop parsing each value",
            "event_us/tick_ms": "in process, not through Kafka: OrderSteps (the agent's step: rules + staging + "
                                "DeadlineIndex) over dicts standing in for the Faust memory tables, with 10k and 1M "
                                "open orders; events pre-parsed; see bench/_state_scaling.py. tick_ms is per tick "
                                "message (one partition), with the same 240 due deadlines in the window at both sizes.",
            "scaling_ratio_1m_vs_10k": "the larger of event_us_1m/event_us_10k and tick_ms_1m/tick_ms_10k",
            "deadline_lateness": "200 orders due over 20 s after the load, ship grace 0, default tick "
                                 "(FOREWARN_TICK_INTERVAL_S); incident record timestamp on `incidents` minus due time "
                                 "(same machine clock)",
            "rss_bytes_per_open_order": "in process, resident set growth while building the 1M book (order state as "
                                        "JSON bytes + deadline index rows), divided by 1M; service_rss_bytes_* are "
                                        "the worker's RSS before and after the load, for reference",
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
