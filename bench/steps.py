"""order_watcher's steps alone: CPU per event of the order and stock steps over in-memory tables, no Kafka, no Faust.

    python -m bench.steps [--events N] [--seed S]

What `bench.rules` times plus what the service's steps add around the rules: each state read from and written
back to its table as JSON bytes, the deadline index, the staged views a batch merges (applied every 500
events, as a batch would), and the demand records the order step sends, bundled and folded into the SKU
states as the stock step does. The events of `bench.detection.mixed_events` are parsed first (not timed). The
service's CPU per event (`bench detection`) minus this is what Faust, Kafka and the processing core cost.
Prints one JSON line (process time, so another process on the machine does not count).
"""

from __future__ import annotations

import time
import zlib
from datetime import UTC, datetime
from typing import Any

from bench._support import in_process_main
from bench.detection import mixed_events
from schemas import StockChanged, parse_event
from services.common.processing import BatchStaged
from services.common.watermark import Watermark
from services.order_watcher import steps
from services.order_watcher.rules import WatchSettings

__all__ = ["run"]

PARTITIONS = 4
BATCH = 500


def run(count: int, seed: int) -> dict[str, float]:
    """Fold `count` mixed events through order_watcher's order and stock steps; the CPU they took."""
    events = [parse_event(value, topic=topic) for topic, _, value in mixed_events(count, datetime.now(UTC), seed)]
    watch = WatchSettings()
    tables: list[dict[str, Any]] = [{}, {}, {}, {}]  # order-state, deadline buckets, deadline clock, sku-demand
    watermark = Watermark({})
    parsed = steps.ParsedDemand()
    bundle = steps.bundle_demand(PARTITIONS)
    started = time.process_time()
    layers = [BatchStaged(table) for table in tables]
    for n, event in enumerate(events, 1):
        stock = steps.StockSteps(layers[3], watch, parsed)
        if isinstance(event, StockChanged):
            stock.stock(event).apply()
        else:
            work = steps.OrderSteps(layers[0], layers[1], watch, clock=layers[2], watermark=watermark).event(
                event, zlib.crc32(event.subject.encode()) % PARTITIONS)
            work.apply()
            for record in bundle(list(work.sends)):
                if record.to == steps.DEMAND:
                    stock.changes(steps.parse_demand_changes(record.value)).apply()
        if n % BATCH == 0:
            for layer in layers:
                layer.apply()
    cpu = time.process_time() - started
    return {"events": len(events), "steps_cpu_s": round(cpu, 3),
            "steps_us_per_event": round(cpu / len(events) * 1e6, 1), "open_orders": len(tables[0]),
            "skus": len(tables[3])}


def main() -> None:
    in_process_main(__doc__ or "", run)


if __name__ == "__main__":
    main()
