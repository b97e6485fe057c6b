"""The detection rules alone: CPU per event of the pure order and stock rules over the bench's mixed load.

    python -m bench.rules [--events N] [--seed S]

No broker and no Faust: the events of `bench.detection.mixed_events` are parsed first (not timed),
then folded through the rules as order_watcher's steps call them: `on_event` per order event (with
`demand_changes` fed to `on_demand`), `on_stock` per stock level, and at the end `overdue_now` once
per open order. Prints one JSON line: events, the rule CPU seconds and microseconds per event
(process time, so another process on the machine does not count).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench._support import in_process_main
from bench.detection import mixed_events
from schemas import StockChanged, parse_event
from services.order_watcher.rules import (
    OrderState,
    SkuDemand,
    WatchSettings,
    demand_changes,
    on_demand,
    on_event,
    on_stock,
    overdue_now,
)

__all__ = ["run"]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def run(count: int, seed: int) -> dict[str, float]:
    """Fold `count` mixed events through the rules; the CPU they took."""
    events = [parse_event(value, topic=topic) for topic, _, value in mixed_events(count, NOW, seed)]
    settings = WatchSettings()
    orders: dict[str, OrderState | None] = {}
    skus: dict[str, SkuDemand | None] = {}
    started = time.process_time()
    for event in events:
        if isinstance(event, StockChanged):
            skus[event.data.sku] = on_stock(skus.get(event.data.sku), event, settings).demand
            continue
        before = orders.get(event.subject)
        outcome = on_event(before, event, settings)
        orders[event.subject] = outcome.state
        for change in demand_changes(event, outcome.state, before):
            skus[change.sku] = on_demand(skus.get(change.sku), change, settings).demand
    for state in orders.values():
        if state is not None and state.placed:
            overdue_now(state, NOW, settings)
    cpu = time.process_time() - started
    per_event = cpu / len(events) * 1e6
    return {"events": len(events), "rules_cpu_s": round(cpu, 3), "rules_us_per_event": round(per_event, 1)}


def main() -> None:
    in_process_main(__doc__ or "", run)


if __name__ == "__main__":
    main()
