"""The processing core: a batch decided in order over shared layers, every write applied only after every ack,
as its owner; bad input dead-lettered alone; failed sends and transient failures handled one at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import faust.streams
import pytest

from services.common.processing import BatchStaged, Processor, Send, Staged, Work
from services.common.settings import CommonSettings
from services.common.streams import Guard, TransientError, create_app
from services.order_watcher.rules import OrderState, WatchSettings
from services.order_watcher.steps import CANDIDATES, DEMAND, OrderSteps
from tests.support.events import order_placed
from tests.support.faust_events import Event, Message, RecordingSink
from tests.unit.order_watcher.factories import succeeded

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 22, 10, tzinfo=UTC)


def _event(partition: int, offset: int, value: bytes = b"{}", topic: str = "unit-orders") -> Event:
    return Event(Message(topic, partition, offset, b"k", value))


class _Table(dict[str, Any]):
    """A table that remembers the partition of Faust's current event at every write, as Faust routes by it."""

    def __init__(self) -> None:
        super().__init__()
        self.written_in: dict[str, int] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        current = faust.streams.current_event()
        assert current is not None, "a table write outside an event's context"
        self.written_in[key] = current.message.partition
        super().__setitem__(key, value)


class _Outlet:
    """Records sends; the ack of each is a future the test may hold back or fail."""

    def __init__(self, *, hold: bool = False, fail: Exception | None = None) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.acks: list[asyncio.Future[None]] = []
        self.hold = hold
        self.fail = fail

    async def send(self, *, key: bytes, value: bytes, partition: int | None = None) -> asyncio.Future[None]:
        if self.fail is not None:
            raise self.fail
        self.sent.append((key, value))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.hold:
            ack.set_result(None)
        self.acks.append(ack)
        return ack


def _guard() -> tuple[Guard, RecordingSink]:
    app = create_app("batch-test", CommonSettings(topic_prefix="unit-"))
    guard = Guard(service="batch-test", app=app, topics={"unit-orders": "orders", "unit-payments": "payments"})
    sink = RecordingSink()
    guard.sink = sink  # type: ignore[assignment]
    return guard, sink


def _writer(*, explode_on: int | None = None) -> Any:
    """A step that writes `key-<offset>` (and bumps a shared counter) and sends one record per message."""

    def decide(event: Event, layers: Any) -> Work:
        view = Staged(layers[0])
        view[f"key-{event.message.offset}"] = f"p{event.message.partition}"
        view["count"] = int(view.get("count", 0)) + 1
        if event.message.offset == explode_on:
            raise RuntimeError("a bug in a rule")
        return Work(sends=[Send(DEMAND, b"sku", str(event.message.offset).encode())], staged=[view])

    return decide


async def test_writes_are_applied_once_per_key_as_their_owner_after_every_ack() -> None:
    guard, _ = _guard()
    table, outlet = _Table(), _Outlet(hold=True)
    events = [_event(0, 1), _event(2, 2), _event(1, 3)]
    task = asyncio.create_task(Processor(guard, {DEMAND: outlet}, _writer(), (table,)).process(events))
    while len(outlet.acks) < 3:
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert table == {}, "nothing may be applied before the broker acknowledged every send"
    for ack in outlet.acks:
        ack.set_result(None)
    await task
    assert table == {"key-1": "p0", "key-2": "p2", "key-3": "p1", "count": 3}
    assert table.written_in == {"key-1": 0, "key-2": 2, "key-3": 1, "count": 1}  # count: last written by offset 3
    assert [value for _, value in outlet.sent] == [b"1", b"2", b"3"]


async def test_a_failing_step_is_dead_lettered_alone() -> None:
    guard, sink = _guard()
    table, outlet = _Table(), _Outlet()
    events = [_event(0, 1), _event(0, 2), _event(0, 3)]
    await Processor(guard, {DEMAND: outlet}, _writer(explode_on=2), (table,)).process(events)
    assert [d["offset"] for d in sink.dead] == [2]
    assert "RuntimeError" in repr(sink.dead[0]["exc"])
    assert table == {"key-1": "p0", "key-3": "p0", "count": 2}
    assert [value for _, value in outlet.sent] == [b"1", b"3"]


async def test_a_bad_value_is_dead_lettered_and_the_rest_go_on() -> None:
    guard, sink = _guard()
    table, outlet = _Table(), _Outlet()
    writer = _writer()

    async def decide(event: Event, layers: Any) -> Work | None:  # a step may be async
        if await guard.parse(event) is None:
            return None
        return writer(event, layers)  # type: ignore[no-any-return]

    good = order_placed("ord-1", placed_at=AT).to_bytes()
    events = [_event(0, 1, good), _event(0, 2, b"{not json"), _event(0, 3, good)]
    await Processor(guard, {DEMAND: outlet}, decide, (table,)).process(events)
    assert [d["offset"] for d in sink.dead] == [2]
    assert set(table) == {"key-1", "key-3", "count"}


class _Refusing(_Outlet):
    """Refuses (as a broker refuses a record too large) every record whose value is `refused`."""

    def __init__(self, refused: bytes) -> None:
        super().__init__()
        self.refused = refused

    async def send(self, *, key: bytes, value: bytes, partition: int | None = None) -> asyncio.Future[None]:
        if value == self.refused:
            raise ValueError("message too large")
        return await super().send(key=key, value=value, partition=partition)


async def test_when_the_sends_fail_nothing_is_applied_and_each_event_goes_one_at_a_time() -> None:
    guard, sink = _guard()
    table, outlet = _Table(), _Refusing(b"2")
    events = [_event(0, 1), _event(1, 2), _event(2, 3)]
    await Processor(guard, {DEMAND: outlet}, _writer(), (table,)).process(events)
    assert [d["offset"] for d in sink.dead] == [2], "only the event whose output the broker refuses"
    assert table == {"key-1": "p0", "key-3": "p2", "count": 2}
    assert table.written_in == {"key-1": 0, "key-3": 2, "count": 2}, "each written in its own event's context"
    assert [value for _, value in outlet.sent] == [b"1", b"1", b"3"], "the batch's first try, then one at a time"


async def test_a_transient_failure_while_deciding_sends_the_batch_one_at_a_time_in_order() -> None:
    guard, sink = _guard()
    guard.backoff_s = 0.001
    table, outlet = _Table(), _Outlet()
    writer = _writer()
    calls: list[int] = []

    async def decide(event: Event, layers: Any) -> Work:
        calls.append(event.message.offset)
        if calls.count(2) == 1 and event.message.offset == 2:
            raise TransientError("database away")
        return writer(event, layers)  # type: ignore[no-any-return]

    await Processor(guard, {DEMAND: outlet}, decide, (table,)).process([_event(0, 1), _event(0, 2), _event(0, 3)])
    assert sink.dead == []
    assert calls == [1, 2, 1, 2, 3], "decided again from the start of the batch, in order"
    assert [value for _, value in outlet.sent] == [b"1", b"2", b"3"]
    assert table == {"key-1": "p0", "key-2": "p0", "key-3": "p0", "count": 3}


async def test_one_event_alone_is_retried_then_dead_lettered_with_nothing_written() -> None:
    guard, sink = _guard()
    guard.backoff_s = 0.001
    table, outlet = _Table(), _Outlet()

    def down(event: Event, layers: Any) -> Work:
        Staged(layers[0])["written"] = "never"
        raise TransientError("still away")

    await Processor(guard, {DEMAND: outlet}, down, (table,)).one(_event(0, 1))
    assert [d["attempts"] for d in sink.dead] == [guard.attempts]
    assert table == {} and outlet.sent == []


async def test_settle_runs_after_every_ack_and_before_any_state_is_written() -> None:
    guard, _ = _guard()
    table, outlet = _Table(), _Outlet()
    settled: list[tuple[int, int, int]] = []

    async def settle(event: Event, work: Work) -> None:
        assert all(ack.done() for ack in outlet.acks)
        settled.append((event.message.offset, len(outlet.acks), len(table)))

    await Processor(guard, {DEMAND: outlet}, _writer(), (table,), settle=settle).process([_event(0, 1), _event(0, 2)])
    assert settled == [(1, 2, 0), (2, 2, 0)]
    assert len(table) == 3


async def test_later_events_of_a_batch_see_the_state_earlier_ones_left() -> None:
    """order.placed and its payment in one batch: the payment is decided over the placed order's state."""
    guard, _ = _guard()
    orders, deadlines = _Table(), _Table()
    placed = order_placed("ord-7", placed_at=AT)
    paid = succeeded(AT, "ord-7")

    async def decide(event: Event, layers: Sequence[BatchStaged]) -> Any:
        parsed = await guard.parse(event)
        order_steps = OrderSteps(layers[0], layers[1], WatchSettings())
        return None if parsed is None else order_steps.event(parsed, event.message.partition)

    outlets = {DEMAND: _Outlet(), CANDIDATES: _Outlet()}
    paid_event = _event(3, 2, paid.to_bytes(), "unit-payments")
    events = [_event(3, 1, placed.to_bytes()), paid_event, _event(3, 3, paid.to_bytes(), "unit-payments")]
    await Processor(guard, outlets, decide, (orders, deadlines)).process(events)
    state = OrderState.model_validate_json(orders["ord-7"])
    assert state.paid_at is not None
    assert len(state.seen) == 2, "the repeated payment is recognised inside the batch"
    assert orders.written_in == {"ord-7": 3}
    assert all(partition == 3 for partition in deadlines.written_in.values())


async def test_a_batch_of_steps_that_await_nothing_still_gives_the_loop_turns() -> None:
    """A SIGTERM is a loop callback: a batch decided in one go (no step awaits) held it for seconds."""
    guard, _ = _guard()
    turns: list[int] = []
    decided: list[int] = []
    writer = _writer()

    def slow(event: Event, layers: Any) -> Work:
        time.sleep(0.02)  # a heavy step: 12 of them take well over YIELD_EVERY_S
        decided.append(event.message.offset)
        return cast(Work, writer(event, layers))

    async def other() -> None:
        while True:
            turns.append(len(decided))
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other())
    await asyncio.sleep(0)
    await Processor(guard, {DEMAND: _Outlet()}, slow, (_Table(),)).process([_event(0, n) for n in range(12)])
    ticker.cancel()
    assert any(0 < seen < 12 for seen in turns), f"the loop had no turn while the batch was decided: {turns}"
