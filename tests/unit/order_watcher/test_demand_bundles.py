"""The order agent's batch through the processing core: its demand changes go out as one record per partition,
placed where their SKUs belong, and every key it changes is written once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.processing import BatchStaged, Processor
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app
from services.order_watcher.rules import WatchSettings
from services.order_watcher.steps import CANDIDATES, DEMAND, OrderSteps, bundle_demand, parse_demand_changes
from tests.support.events import order_placed
from tests.support.faust_events import Event, Message, RecordingSink
from tests.unit.order_watcher.factories import succeeded

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 22, 10, tzinfo=UTC)


class _Outlet:
    """Records each send with the partition it named (None: placed by its key)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, int | None]] = []

    async def send(self, *, key: bytes, value: bytes, partition: int | None = None) -> asyncio.Future[None]:
        self.sent.append((key, value, partition))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ack.set_result(None)
        return ack


class _CountingTable(dict[str, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)


async def test_a_batch_produces_one_demand_record_per_partition_and_writes_each_order_once() -> None:
    app = create_app("bundle-test", CommonSettings(topic_prefix="unit-"))
    guard = Guard(service="bundle-test", app=app, topics={"unit-orders": "orders", "unit-payments": "payments"})
    guard.sink = RecordingSink()  # type: ignore[assignment]
    orders, buckets, clock = _CountingTable(), {}, {}  # type: ignore[var-annotated]

    async def decide(event: Event, layers: Sequence[BatchStaged]) -> Any:
        parsed = await guard.parse(event)
        steps = OrderSteps(layers[0], layers[1], WatchSettings(), clock=layers[2])
        return None if parsed is None else steps.event(parsed, event.message.partition)

    placed = [order_placed(f"ord-{n}", placed_at=AT) for n in range(6)]
    events = [Event(Message("unit-orders", 1, n, b"k", e.to_bytes())) for n, e in enumerate(placed)]
    events.append(Event(Message("unit-payments", 1, 0, b"k", succeeded(AT, "ord-0").to_bytes())))
    demand = _Outlet()
    processor = Processor(guard, {DEMAND: demand, CANDIDATES: _Outlet()}, decide, (orders, buckets, clock),
                          combine=bundle_demand(4))
    await processor.process(events)
    partitions = [partition for _, _, partition in demand.sent]
    assert len(partitions) == len(set(partitions)) and all(p is not None for p in partitions)
    changes = [c.order_id for _, value, _ in demand.sent for c in parse_demand_changes(value)]
    assert sorted(changes) == sorted(f"ord-{n}" for n in range(6))  # every line opened, once
    assert orders.writes == 6  # ord-0 placed and paid in one batch: one write, one changelog record
