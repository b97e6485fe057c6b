"""Ticks: round-trip of a tick with its input offsets; a failed send or snapshot never crashes the ticker."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from services.common.clock import FixedClock
from services.common.settings import CommonSettings
from services.common.streams import create_app
from services.common.ticks import encode_tick, install_ticker, parse_tick
from services.common.watermark import InputOffsets, Tick

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_tick_round_trip_and_bad_ticks() -> None:
    tick = Tick(AT, {"orders": InputOffsets(0, 12), "shipments": InputOffsets(3, 3)})
    assert parse_tick(encode_tick(tick)) == tick
    assert parse_tick(b'{"tick": "2026-11-22T12:00:00+00:00"}') == Tick(AT, {})  # no offsets: judged on event time
    with pytest.raises(ValueError, match="offset"):
        parse_tick(b'{"tick": "2026-11-22T12:00:00"}')
    with pytest.raises((ValueError, KeyError)):
        parse_tick(b'{"tock": 1}')
    with pytest.raises(ValueError, match="integers"):
        parse_tick(b'{"tick": "2026-11-22T12:00:00+00:00", "inputs": {"orders": [0, "9"]}}')


class _Topic:
    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.sent: list[tuple[int, Tick]] = []

    async def send(self, *, key: bytes, value: bytes, partition: int) -> None:
        if partition in self.fail_on:
            raise AssertionError("Unrecognized partition")
        self.sent.append((partition, parse_tick(value)))


async def _snapshot(inputs: Sequence[str], partitions: int) -> Mapping[int, Mapping[str, InputOffsets]]:
    return {p: {topic: InputOffsets(0, 10 * p + i) for i, topic in enumerate(inputs)} for p in range(partitions)}


async def _no_snapshot(inputs: Sequence[str], partitions: int) -> Mapping[int, Mapping[str, InputOffsets]]:
    raise ConnectionError("broker away")


async def test_ticker_sends_each_partition_its_offsets_and_survives_failures() -> None:
    app = create_app("tick-test", CommonSettings(topic_prefix="unit-"))
    ok, failing, unknown = _Topic(set()), _Topic({1}), _Topic(set())
    for topic, snapshot in ((ok, _snapshot), (failing, _snapshot), (unknown, _no_snapshot)):
        timer = install_ticker(app, topic, interval=1.0, partitions=3, clock=FixedClock(AT),  # type: ignore[arg-type]
                               inputs=["o", "s"], bootstrap="unused:9092", snapshot=snapshot)
        await inspect.unwrap(timer)()  # the body once (calling the decorated timer would loop)
    assert [p for p, _ in ok.sent] == [0, 1, 2]
    assert ok.sent[2][1] == Tick(AT, {"o": InputOffsets(0, 20), "s": InputOffsets(0, 21)})
    assert [p for p, _ in failing.sent] == [0]  # stopped at the failure, no exception escaped
    assert unknown.sent == []  # offsets unknown: no tick rather than one that cannot be judged


def test_committed_positions_are_read_from_the_workers_consumer() -> None:
    from types import SimpleNamespace

    from faust.types import TP

    from services.common.ticks import committed_positions

    consumer = SimpleNamespace(_committed_offset={TP("o", 1): 7, TP("s", 1): None, TP("o", 0): 3})
    app = SimpleNamespace(consumer=consumer)
    assert committed_positions(app, ["o", "s", "p"], 1) == {"o": 7}  # type: ignore[arg-type]


async def test_fausts_consumer_keeps_committed_offsets_where_we_read_them() -> None:
    """Pins the private mapping `committed_positions` reads in the faust-streaming version of constraints.txt."""
    from faust.types import TP

    from services.common.ticks import committed_positions

    app = create_app("pin-test", CommonSettings(topic_prefix="unit-"))
    app.consumer._committed_offset[TP("unit-orders", 2)] = 11
    assert committed_positions(app, ["unit-orders", "unit-shipments"], 2) == {"unit-orders": 11}



async def test_a_clocked_step_decides_ticks_with_the_commits_and_inputs_once_parsed_and_noted() -> None:
    from types import SimpleNamespace
    from typing import Any

    from faust.types import TP

    from schemas import CloudEvent
    from services.common.streams import Guard
    from services.common.ticks import clocked_step
    from services.common.watermark import Watermark
    from tests.support.events import order_placed
    from tests.support.faust_events import Event, Message, RecordingSink

    class Rules:
        def __init__(self, views: Sequence[Any]) -> None:
            self.views = views

        def on_tick(self, tick: Tick, partition: int, committed: Mapping[str, int]) -> str:
            return f"tick {tick.at:%H:%M} p{partition} {dict(committed)}"

        def event(self, event: CloudEvent, partition: int) -> str:
            return f"{event.subject} p{partition}"

    app = create_app("clocked-test", CommonSettings(topic_prefix="unit-"))
    guard = Guard(service="clocked-test", app=app, topics={"unit-orders": "orders", "unit-ticks": "ticks"})
    sink = RecordingSink()
    guard.sink = sink  # type: ignore[assignment]
    consumer = SimpleNamespace(_committed_offset={TP("unit-orders", 1): 4})
    watermark = Watermark(["unit-orders"])
    step = clocked_step(SimpleNamespace(consumer=consumer), guard, "unit-ticks", watermark, Rules)  # type: ignore[arg-type]

    tick = Event(Message("unit-ticks", 1, 0, b"tick", encode_tick(Tick(AT, {}))))
    assert await step(tick, []) == "tick 12:00 p1 {'unit-orders': 4}"
    placed = order_placed("ord-c1", placed_at=AT).to_bytes()
    assert await step(Event(Message("unit-orders", 1, 4, b"ord-c1", placed)), []) == "ord-c1 p1"
    assert await step(Event(Message("unit-orders", 1, 5, b"k", b"{bad")), []) is None
    assert [d["offset"] for d in sink.dead] == [5]
    assert watermark.positions(1) == {"unit-orders": 6}, "a dead-lettered record is read too"
