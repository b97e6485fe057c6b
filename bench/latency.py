"""End-to-end latency: an event produced -> the provider request received, at a steady 1,000 events/s.

    python -m bench latency [--rates 300,1000,2000] [--seconds 60] [--probe-every 50] [--order-watchers 1]
                            [--broker-warmup-s 60] [--broker-warmup-rate 1000] [--bootstrap HOST:PORT]

Everything real but the provider: a local Apache Kafka broker (started on its own port and wiped
afterwards unless --bootstrap is given; one for all the rates, warmed up first by the whole pipeline at
1,000 events/s for `--broker-warmup-s`, nothing measured), order_watcher (`--order-watchers` workers of
one group, 1 by default) and the notifier as their own processes, started afresh for each rate
(SQLite ledger file, the official twilio SDK pointed at the fake Twilio, which runs in a process of
its own and records when each request arrived).

The load is the detection benchmark's mixed traffic (orders, payments, shipments, stock levels)
produced at `--rate` events/s in 10 ms slices. Every `--probe-every`-th event is a probe instead: a
carrier exception on an order placed a few seconds earlier, each for a customer with a phone number
of their own. An exception is an incident at once (no deadline), so its path is the whole pipeline:
shipments -> order_watcher (order agent -> incident candidates -> escalation agent) -> incidents ->
notifier (policy, ledger, rendering) -> Twilio. Latency = the fake's receive time minus the time the
probe was handed to the producer (one machine, one clock). The first 10 s are warm-up, not counted.
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

from aiokafka import AIOKafkaProducer

from bench._support import ROOT, Service, local_broker
from bench.detection import mixed_events
from schemas import CloudEvent, make_event

__all__ = ["run"]

PARTITIONS = 4
WARMUP_S = 10.0
SLICE_S = 0.01
TARGET_P99_MS = 500
TARGET_RATE = 1000
"""The steady rate the target is set at (events/s)."""
BROKER_WARMUP_S = 60.0
"""The broker is warmed up first, as one in service is: a freshly started JVM compiles its hot paths under the
first minute or so of load, and meanwhile takes CPU the pipeline shares (cold, 1,000 events/s: probe p50 233 ms in
the first 20 s, 367 ms at 40-60 s, 120 ms at 80-100 s; the same load on a broker already warm: p50 86-92 ms)."""
DRAIN_WAIT_S = 120
"""How long after the load the bench waits for the last probes; one still unsent then is `probes_missing`, and
counts in the percentiles with the latency it had reached (so they are lower bounds: `latency_is_lower_bound`)."""


def _probe_order(k: int, now: datetime) -> tuple[str, CloudEvent, CloudEvent]:
    """A probe's phone number, its order.placed and the carrier exception that makes it an incident."""
    oid, phone = f"probe-{k:06d}", f"+1415{k:07d}"
    placed = now - timedelta(hours=30)
    body = {
        "order_id": oid, "store_id": "acme",
        "customer": {"id": f"cus-probe-{k}", "first_name": "Ada", "phone": phone, "locale": "en", "timezone": "UTC"},
        "lines": [{"sku": "LAMP-ARC", "product_name": "Arc floor lamp", "quantity": 1,
                   "unit_price": {"amount": "129.00", "currency": "USD"}}],
        "total": {"amount": "129.00", "currency": "USD"}, "shipping_method": "standard",
        "placed_at": placed, "promised_ship_by": placed + timedelta(days=2),
        "promised_delivery_by": placed + timedelta(days=5), "customer_paid_orders_count": 1,
    }
    order = make_event("order.placed", body, source="store/acme", subject=oid, time=placed)
    shipment = {"order_id": oid, "shipment_id": f"sh-{oid}", "carrier": "dhl", "tracking_number": "JD0146000062",
                "status": "exception", "exception_reason": "weather", "checkpoint_time": now,
                "estimated_delivery": placed + timedelta(days=6)}
    exception = make_event("shipment.updated", shipment, source="carrier/dhl", subject=oid, time=now)
    return phone, order, exception


async def _load(bootstrap: str, prefix: str, rate: int, seconds: float, probe_every: int,
                seed: int) -> tuple[dict[str, float], int]:
    """Produce the load; return each probe's phone -> the time its exception was handed to the producer."""
    total = int(rate * seconds)
    now = datetime.now(UTC)
    background = iter(mixed_events(total, now, seed))
    probes = [_probe_order(k, now) for k in range(total // probe_every + 1)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    sent_at: dict[str, float] = {}
    produced = 0
    try:
        for _, order, _ in probes:  # every probe's order exists before its exception arrives
            await producer.send(prefix + "orders", key=order.key(), value=order.to_bytes())
        await producer.flush()
        await asyncio.sleep(3)
        per_slice = max(1, round(rate * SLICE_S))
        start = time.monotonic()
        probe = 0
        while produced < total:
            for _ in range(per_slice):
                produced += 1
                if produced % probe_every == 0 and probe < len(probes):
                    phone, _, exception = probes[probe]
                    probe += 1
                    sent_at[phone] = time.time()
                    await producer.send(prefix + "shipments", key=exception.key(), value=exception.to_bytes())
                else:
                    topic, key, value = next(background)
                    await producer.send(prefix + topic, key=key, value=value)
            pause = start + (produced / rate) - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        await producer.flush()
        achieved = produced / (time.monotonic() - start)
    finally:
        await producer.stop()
    return sent_at, round(achieved)


def _recorded(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_recorded") as response:  # noqa: S310 - our own loopback server
        sends: list[dict[str, Any]] = json.load(response)["sends"]
        return sends


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench latency")
    parser.add_argument("--rates", default="300,1000,2000", help="events per second, steady; one run each "
                        "(fresh services, one broker); the top-level figures are the last rate's")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--probe-every", type=int, default=50, help="one probe per this many events")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--kafka-port", type=int, default=29094)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--order-watchers", type=int, default=1,
                        help="order_watcher workers of one group (each with a data directory of its own)")
    parser.add_argument("--broker-warmup-s", type=float, default=BROKER_WARMUP_S,
                        help="first run the pipeline this long, nothing measured (0: none)")
    parser.add_argument("--broker-warmup-rate", type=int, default=TARGET_RATE, help="events/s of the warm-up")
    args = parser.parse_args(argv)
    rates = [int(rate) for rate in args.rates.split(",")]
    with local_broker(args.kafka_port, args.bootstrap) as bootstrap:
        if args.broker_warmup_s > 0:
            print(f"latency: warming the broker up for {args.broker_warmup_s:.0f} s", file=sys.stderr)
            _run_at(args, args.broker_warmup_rate, bootstrap, args.broker_warmup_s)
        runs = [_run_at(args, rate, bootstrap, args.seconds) for rate in rates]
    return {**runs[-1], "by_rate": runs, "broker_warmup_s": args.broker_warmup_s,
            "broker_warmup_rate": args.broker_warmup_rate,
            "method": __doc__.split("\n\n", 2)[2].strip() if __doc__ else ""}


def _run_at(args: argparse.Namespace, rate: int, bootstrap: str, seconds: float) -> dict[str, Any]:
    prefix = f"lat-{uuid.uuid4().hex[:8]}-"
    fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_providers"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        with tempfile.TemporaryDirectory(prefix="forewarn-latency-") as tmp:
            env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "FOREWARN_TOPIC_PREFIX": prefix,
                   "FOREWARN_PARTITIONS": str(PARTITIONS), "FOREWARN_DATA_DIR": f"{tmp}/data",
                   "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/ledger.db",
                   "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                   "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "bench-token-123",
                   "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006", "FOREWARN_NOTIFIER_TWILIO_BASE_URL": url,
                   "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "00:00",
                   "FOREWARN_NOTIFIER_CAP_PER_24H": "1000"}
            watchers = [Service("services.order_watcher", {**env, "FOREWARN_DATA_DIR": f"{tmp}/data-{k}"},
                                Path(tmp), name=f"order_watcher-{k}") for k in range(args.order_watchers)]
            notifier = Service("services.notifier", env, Path(tmp))
            services = [*(watcher.start() for watcher in watchers), notifier.start()]
            try:
                print(f"latency: {rate} events/s for {seconds:.0f} s", file=sys.stderr)
                sent_at, achieved = asyncio.run(_load(bootstrap, prefix, rate, seconds,
                                                      args.probe_every, args.seed))
                deadline = time.monotonic() + DRAIN_WAIT_S
                while len({s["to"] for s in _recorded(url)} & set(sent_at)) < len(sent_at):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(1)
                gave_up = time.time()
                errors = [line for s in services for line in s.log().splitlines() if " ERROR " in line]
            finally:
                for service in services:
                    service.stop()
        recorded = _recorded(url)
    finally:
        fake.terminate()
        fake.wait(10)
    first = min(sent_at.values())
    per_phone = Counter(s["to"] for s in recorded if s["to"] in sent_at)
    arrived = {s["to"]: s["at"] for s in recorded if s["to"] in sent_at}
    # a probe not sent by the time the bench gave up counts with what it had waited then: a lower bound
    counted = sorted((arrived.get(p, gave_up) - t) * 1000 for p, t in sent_at.items() if t >= first + WARMUP_S)
    q = statistics.quantiles(counted, n=100) if len(counted) >= 2 else [float("nan")] * 99
    return {
        "latency_ms_p50": round(q[49], 1),
        "latency_ms_p99": round(q[98], 1),
        "latency_ms_max": round(counted[-1], 1) if counted else None,
        "target_p99_ms": TARGET_P99_MS,
        "rate_events_per_s": rate,
        "order_watchers": args.order_watchers,
        "achieved_events_per_s": achieved,
        "seconds": seconds,
        "probes": len(sent_at),
        "probes_counted": len(counted),
        "probes_sent": len(arrived),
        "probes_missing": len(sent_at) - len(arrived),
        "latency_is_lower_bound": len(arrived) < len(sent_at),
        "duplicate_provider_calls": sum(n - 1 for n in per_phone.values()),
        "service_errors_logged": len(errors),
        "service_error_lines": [line[:300] for line in errors[:5]],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
