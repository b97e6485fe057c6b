"""Deadline lateness under the watermark: with no traffic, and while store events flow at a steady rate.

    python -m bench watermark [--rates 0,300,600] [--rounds 1] [--baseline DIR] [--variant NAME:K=V,...]
                              [--bootstrap HOST:PORT]

With `--baseline DIR` (a checkout of another commit, e.g. `git worktree add /tmp/base <commit>`),
that checkout's order_watcher is measured too, alternately with this one, same broker, same load:
the side-by-side cost of a change. `--variant` does the same for settings: this checkout with
extra environment, e.g. `--variant tick1:FOREWARN_TICK_INTERVAL_S=1`.

A deadline fires only when every input of its partition has been read up to its time or up to a
tick's snapshot of their end offsets (`services.common.watermark`). Under live traffic a tick can
be read before the records it counted, so the watermark may trail the wall clock by a tick; this
measures what that costs. Per rate, a fresh order_watcher (4 partitions, default 0.5 s tick, ship
grace 0) on the real local broker; the detection benchmark's mixed traffic (orders, payments,
shipments, stock levels; event times within the last 36 h, so event time alone never moves the
watermark: the snapshots have to) is produced at the rate in 10 ms slices, and after 5 s of it
the 200 lateness orders of the detection benchmark fall due over 20 s. Lateness = the incident's
record timestamp on `incidents` minus its due time (one machine, one clock).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench._support import ROOT, Service, local_broker
from bench.detection import LATENESS_SPREAD_S, _lateness, mixed_events, variant, watcher_env

__all__ = ["run"]

WARMUP_S = 5.0
SLICE_S = 0.01
TARGET_P99_MS = 2000


async def _steady(bootstrap: str, prefix: str, rate: int, seconds: float, seed: int) -> float:
    """Produce mixed events at `rate` per second for `seconds`; return the rate achieved."""
    total = int(rate * seconds)
    records = iter(mixed_events(total, datetime.now(UTC), seed))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    try:
        per_slice, produced, start = max(1, round(rate * SLICE_S)), 0, time.monotonic()
        while produced < total:
            for topic, key, value in (next(records) for _ in range(min(per_slice, total - produced))):
                await producer.send(prefix + topic, key=key, value=value)
                produced += 1
            pause = start + produced / rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        await producer.flush()
        return produced / (time.monotonic() - start)
    finally:
        await producer.stop()


async def _measure(bootstrap: str, prefix: str, rate: int, seed: int) -> dict[str, Any]:
    seconds = WARMUP_S + 3 + LATENESS_SPREAD_S + 5  # the load lasts until every lateness order is due
    load = asyncio.create_task(_steady(bootstrap, prefix, rate, seconds, seed)) if rate else None
    await asyncio.sleep(WARMUP_S)
    figures = await _lateness(bootstrap, prefix)
    if load is not None:
        figures["achieved_events_per_s"] = round(await load, 1)
    return figures


def _one_rate(bootstrap: str, rate: int, seed: int, root: Path = ROOT,
              extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-") as tmp:
        env = {**watcher_env(bootstrap, prefix, Path(tmp) / "data"), **(extra_env or {})}
        service = Service("services.order_watcher", env, Path(tmp), root=root).start()
        try:
            print(f"watermark: lateness at {rate} events/s", file=sys.stderr)
            figures = asyncio.run(_measure(bootstrap, prefix, rate, seed))
        finally:
            service.stop()
        errors = [line for line in service.log().splitlines() if " ERROR " in line]
        figures["service_errors_logged"] = len(errors)
        figures["service_error_lines"] = [line[:300] for line in errors[:5]]
    return figures


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench watermark")
    parser.add_argument("--rates", default="0,300,600", help="steady background rates, events/s")
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    parser.add_argument("--kafka-port", type=int, default=29092, help="port of the broker this bench starts")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=1, help="measurements per rate (and per checkout)")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to measure alternately")
    parser.add_argument("--variant", action="append", default=[], type=variant,
                        help="NAME:KEY=VALUE,...: this checkout with extra environment, measured alternately")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    contenders: dict[str, tuple[Path, dict[str, str]]] = {"this": (ROOT, {})}
    if args.baseline:
        contenders["baseline"] = (args.baseline.resolve(), {})
    contenders.update((name, (ROOT, env)) for name, env in args.variant)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in contenders}
    with local_broker(args.kafka_port, args.bootstrap) as bootstrap:
        for rate in rates:
            for _ in range(args.rounds):
                for name, (root, env) in contenders.items():
                    print(f"watermark: {name} ({root} {env})", file=sys.stderr)
                    runs[name].setdefault(str(rate), []).append(_one_rate(bootstrap, rate, args.seed, root, env))
    return {
        "deadline_lateness_ms_p99": {
            name: {rate: [f["deadline_lateness_ms_p99"] for f in found] for rate, found in by_rate.items()}
            for name, by_rate in runs.items()},
        "target": {"deadline_lateness_ms_p99": f"< {TARGET_P99_MS} at every rate"},
        "baseline": str(args.baseline) if args.baseline else None,
        "variants": dict(args.variant),
        "runs": runs,
        "method": __doc__,
    }
