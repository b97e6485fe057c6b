"""Per-event and per-tick cost of order_watcher's step at a given book size, and memory per open order.

`python -m bench._state_scaling --orders N` prints one JSON object. The detection bench runs it
once per size, each in a fresh process, so that sizes do not share a heap.

In process, no broker: the very `OrderSteps` the agent runs (rules, staging, DeadlineIndex), over
dicts standing in for the Faust memory table and holding exactly what the agent keeps (state
as JSON bytes per order; the deadline index's small lists, in memory). The book is N open orders placed over
the last three days, 40% of them in transit and a third unpaid, cloned from 10,000 states built by the real rules
(only ids differ), their deadlines at the density N orders over three days gives. Then:

* events: 2,000 events (40% first carrier scan, 30% likely-false decline, 30% new order) on
  orders that exist in every book size, each handled and applied as the agent does (a decline holds a
  15-minute window deadline; a scan replaces ship-by with stall and delivery deadlines); 5 rounds,
  median of the per-round means. Parsing is not included (it does not depend on the book).
* ticks: 240 probe orders come due in a 120 s window in which nothing else is due; one tick per
  second per partition (4 partitions), each popping and firing what is due, like the agent.
  Same due work at every size, so a growing cost could only come from the book (a scan).
* memory: resident set growth while the book is built, divided by N.
* rebuild: the deadline index is not changelogged but derived from the order states when a partition
  is assigned (`DerivedDeadlines`); `rebuild_s` is the time to rebuild it for all 4 partitions from
  the book as the run left it (every state parsed, its deadlines listed and scheduled), as a worker
  does once the state is recovered after a start; `rebuilt_rows` should equal `deadline_rows`.

`--bucket-seconds S` is a what-if: the same measurement with the deadline index's bucket width
set to S seconds (default: BUCKET_SECONDS in services/common/deadlines.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import CloudEvent, make_event
from services.common import deadlines as deadlines_module
from services.common.deadlines import DeadlineIndex, DerivedDeadlines, DueEntry
from services.order_watcher.rules import WatchSettings, on_event, pending_deadlines
from services.order_watcher.steps import OrderSteps, order_deadlines

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PARTITIONS = 4
TEMPLATES = 10_000
EVENTS = 2_000
ROUNDS = 5
PROBES = 240
WINDOW_S = 120
WATCH = WatchSettings()
SKUS = [f"SKU-{n:05d}" for n in range(5000)]


def partition_of(key: str) -> int:
    return zlib.crc32(key.encode()) % PARTITIONS


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def order_id(i: int) -> str:
    return f"ord-{i:09d}"


def placed(oid: str, rng: random.Random, *, at: datetime, ship_by: datetime) -> CloudEvent:
    lines = [{"sku": rng.choice(SKUS), "product_name": "Alpine Down Jacket", "quantity": rng.randint(1, 2),
              "unit_price": {"amount": "89.00", "currency": "EUR"}} for _ in range(rng.choice((1, 1, 2)))]
    data = {
        "order_id": oid, "store_id": "acme",
        "customer": {"id": f"cus-{oid}", "first_name": "Ada", "last_name": "Lovelace", "email": f"{oid}@example.com",
                     "phone": "+4915112345678", "locale": "de-DE", "timezone": "Europe/Berlin"},
        "lines": lines, "total": {"amount": "89.00", "currency": "EUR"}, "shipping_method": "standard",
        "placed_at": at, "promised_ship_by": ship_by, "promised_delivery_by": ship_by + timedelta(days=3),
        "customer_paid_orders_count": 2, "order_status_url": f"https://acme.example/orders/{oid}",
    }
    return make_event("order.placed", data, source="store/acme", subject=oid, time=at)


def paid(oid: str, at: datetime) -> CloudEvent:
    data = {"order_id": oid, "payment_id": f"pay-{oid}", "amount": {"amount": "89.00", "currency": "EUR"},
            "customer_id": f"cus-{oid}", "succeeded_at": at}
    return make_event("payment.succeeded", data, source="store/acme", subject=oid, time=at)


def declined(oid: str, at: datetime) -> CloudEvent:
    data = {"order_id": oid, "payment_id": f"pay2-{oid}", "amount": {"amount": "89.00", "currency": "EUR"},
            "attempt": 2, "decline_code": "do_not_honor", "outcome_type": "issuer_declined", "risk_level": "normal",
            "customer_id": f"cus-{oid}", "declined_at": at}
    return make_event("payment.declined", data, source="store/acme", subject=oid, time=at)


def scanned(oid: str, at: datetime, status: str = "in_transit") -> CloudEvent:
    data = {"order_id": oid, "shipment_id": f"sh-{oid}", "carrier": "dhl", "tracking_number": "JD0146000062",
            "tracking_url": "https://track.example/JD0146000062", "status": status, "checkpoint_time": at,
            "estimated_delivery": at + timedelta(days=2), "checkpoint_location": "Leipzig"}
    return make_event("shipment.updated", data, source="carrier/dhl", subject=oid, time=at)


def in_transit(i: int) -> bool:
    return i % 5 < 2


def templates(rng: random.Random) -> list[tuple[str, str, list[tuple[datetime, str]]]]:
    """(token, state JSON, deadlines) for TEMPLATES orders built by the rules; due times all after the window."""
    built = []
    for j in range(TEMPLATES):
        token = f"tpl-{j:09d}"  # as long as an order id, so clones have the same size
        at = NOW - timedelta(hours=rng.uniform(42, 72))
        ship_by = NOW + timedelta(hours=rng.uniform(2, 48))
        state = on_event(None, placed(token, rng, at=at, ship_by=ship_by), WATCH).state
        if j % 3:  # a third still waits for its payment
            state = on_event(state, paid(token, at + timedelta(minutes=1)), WATCH).state
        if in_transit(j):
            state = on_event(state, scanned(token, NOW - timedelta(hours=rng.uniform(1, 40))), WATCH).state
        assert state is not None
        deadlines = [(d.due, d.kind) for d in pending_deadlines(state, WATCH)]
        assert all(due > NOW + timedelta(seconds=WINDOW_S + 60) for due, _ in deadlines)
        built.append((token, state.model_dump_json(exclude_defaults=True), deadlines))
    return built


def build_book(size: int, rng: random.Random) -> tuple[dict[str, bytes], dict[str, Any], int]:
    base = templates(rng)
    probes = []
    for k in range(PROBES):
        oid = f"probe-{k:05d}"
        due = NOW + timedelta(seconds=1 + k * (WINDOW_S - 1) / PROBES)
        event = placed(oid, rng, at=NOW - timedelta(days=1), ship_by=due - WATCH.ship_grace)
        probes.append(on_event(None, event, WATCH))
    gc.collect()
    before = rss_bytes()
    orders: dict[str, bytes] = {}
    deadlines: dict[str, Any] = {}
    index = DeadlineIndex(deadlines)
    for i in range(size):
        token, text, dues = base[i % TEMPLATES]
        oid = order_id(i)
        orders[oid] = text.replace(token, oid).encode()
        partition = partition_of(oid)
        for due, kind in dues:
            index.schedule(partition, DueEntry(due, oid, kind))
    gc.collect()
    grown = rss_bytes() - before
    for outcome in probes:
        assert outcome.state is not None
        oid = outcome.state.order_id
        orders[oid] = outcome.state.model_dump_json(exclude_defaults=True).encode()
        for deadline in outcome.schedule:
            index.schedule(partition_of(oid), DueEntry(deadline.due, oid, deadline.kind))
    return orders, deadlines, grown


def event_rounds(rng: random.Random) -> list[list[CloudEvent]]:
    """Events on orders below 10,000 (so they exist at every size), distinct per round."""
    waiting = [i for i in range(TEMPLATES) if not in_transit(i) and i % 3]  # paid, not scanned yet
    unpaid = [i for i in range(TEMPLATES) if i % 3 == 0]
    rng.shuffle(waiting)
    rng.shuffle(unpaid)
    rounds = []

    def recent(within_s: float = 3600) -> datetime:  # spread, so their deadlines spread like the book's
        return NOW - timedelta(seconds=rng.uniform(60, within_s))

    for r in range(ROUNDS):
        events: list[CloudEvent] = []
        scans = waiting[r * 800:(r + 1) * 800]
        declines = unpaid[r * 600:(r + 1) * 600]
        events += [scanned(order_id(i), recent()) for i in scans]
        events += [declined(order_id(i), recent(600)) for i in declines]  # windows end after the ticks
        for n in range(600):
            at = recent()
            events.append(placed(f"new-{r}-{n:06d}", rng, at=at, ship_by=at + timedelta(hours=rng.uniform(24, 48))))
        rng.shuffle(events)
        rounds.append(events[:EVENTS])
    return rounds


def measure(size: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    orders, deadlines, grown = build_book(size, rng)
    steps = OrderSteps(orders, deadlines, WATCH)
    for partition in range(PARTITIONS):  # the first tick of a partition finds its buckets once
        steps.tick(NOW, partition).apply()
    rounds = event_rounds(rng)
    per_event = []
    for events in rounds:
        t0 = time.perf_counter()
        for event in events:
            steps.event(event, partition_of(event.subject)).apply()
        per_event.append((time.perf_counter() - t0) / len(events))
    fired = 0
    t0 = time.perf_counter()
    for second in range(1, WINDOW_S + 1):
        for partition in range(PARTITIONS):
            work = steps.tick(NOW + timedelta(seconds=second), partition)
            fired += len(work.sends)
            work.apply()
    tick_s = (time.perf_counter() - t0) / (WINDOW_S * PARTITIONS)
    if fired != PROBES:
        raise RuntimeError(f"expected {PROBES} incidents from the probes, got {fired}")
    by_partition: dict[int, list[str]] = {}
    for key in orders:
        by_partition.setdefault(partition_of(key), []).append(key)
    clock = {key: value for key, value in deadlines.items() if key.endswith("|clock")}
    derived = DerivedDeadlines()
    t0 = time.perf_counter()
    derived.assigned(range(PARTITIONS), stored_keys=lambda partition: by_partition.get(partition, []), clock=clock,
                     entries=lambda key: order_deadlines(orders[key], WATCH))
    rebuild_s = time.perf_counter() - t0
    return {
        "orders": size,
        "event_us": round(statistics.median(per_event) * 1e6, 1),
        "event_us_rounds": [round(x * 1e6, 1) for x in per_event],
        "tick_ms": round(tick_s * 1e3, 4),
        "ticks": WINDOW_S * PARTITIONS,
        "deadlines_fired": fired,
        "rss_bytes_per_open_order": round(grown / size, 1),
        "deadline_rows": sum(len(v) for k, v in deadlines.items() if not k.endswith("|clock")),
        "rebuild_s": round(rebuild_s, 3),
        "rebuild_us_per_order": round(rebuild_s / len(orders) * 1e6, 1),
        "rebuilt_rows": sum(len(v) for v in derived.buckets.values()),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._state_scaling")
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bucket-seconds", type=int, default=None,
                        help="what-if: the deadline index's bucket width (default: as shipped, "
                             f"{deadlines_module.BUCKET_SECONDS} s)")
    args = parser.parse_args(argv)
    if args.bucket_seconds is not None:
        deadlines_module.BUCKET_SECONDS = args.bucket_seconds  # read when each index is built
    result = measure(args.orders, args.seed)
    result["bucket_seconds"] = deadlines_module.BUCKET_SECONDS
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
