"""Handlers with their own effects through the processing core: bad values are dead-lettered, transient failures
retried, a failed batch handled one by one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from schemas import CloudEvent
from services.common.processing import Processor, Work, handler_step
from services.common.settings import CommonSettings
from services.common.streams import Guard, TransientError, create_app
from tests.support.events import order_placed
from tests.support.faust_events import Event, Message, RecordingSink

pytestmark = pytest.mark.unit


def _guard() -> tuple[Guard, RecordingSink]:
    app = create_app("guard-test", CommonSettings(topic_prefix="unit-"))
    guard = Guard(service="guard-test", app=app, topics={"unit-orders": "orders"}, attempts=3, backoff_s=0.001)
    sink = RecordingSink()
    guard.sink = sink  # type: ignore[assignment]
    return guard, sink


def _event(offset: int, value: bytes) -> Event:
    return Event(Message("unit-orders", 0, offset, b"k", value))


def _core(guard: Guard, handler: Callable[[CloudEvent], Awaitable[None]]) -> Processor[Work]:
    return Processor[Work](guard, {}, handler_step(guard, handler))


GOOD = order_placed("ord-g1", placed_at=datetime(2026, 11, 22, 10, tzinfo=UTC)).to_bytes()


async def test_bad_value_is_dead_lettered_and_good_one_handled() -> None:
    guard, sink = _guard()
    seen: list[CloudEvent] = []

    async def handler(event: CloudEvent) -> None:
        seen.append(event)

    await _core(guard, handler).one(_event(0, b"{oops"))
    await _core(guard, handler).one(_event(1, GOOD))
    assert [d["offset"] for d in sink.dead] == [0]
    assert [e.subject for e in seen] == ["ord-g1"]


async def test_transient_failures_are_retried_then_dead_lettered() -> None:
    guard, sink = _guard()
    calls = 0

    async def flaky(event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("database away")

    await _core(guard, flaky).one(_event(0, GOOD))
    assert calls == 3 and sink.dead == []

    async def down(event: CloudEvent) -> None:
        raise TransientError("still away")

    await _core(guard, down).one(_event(1, GOOD))
    assert sink.dead[0]["attempts"] == 3


async def test_a_bug_is_dead_lettered_at_once() -> None:
    guard, sink = _guard()

    async def broken(event: CloudEvent) -> None:
        raise KeyError("bug")

    await _core(guard, broken).one(_event(0, GOOD))
    assert sink.dead[0]["attempts"] == 1 and isinstance(sink.dead[0]["exc"], KeyError)


async def test_failed_batch_falls_back_to_one_by_one() -> None:
    guard, sink = _guard()
    one_by_one: list[str] = []

    async def fast(events: list[CloudEvent]) -> None:
        raise RuntimeError("bulk statement failed")

    async def one(event: CloudEvent) -> None:
        if event.subject == "ord-bad":
            raise ValueError("this one is poison")
        one_by_one.append(event.subject)

    poison = order_placed("ord-bad", placed_at=datetime(2026, 11, 22, 10, tzinfo=UTC)).to_bytes()
    await _core(guard, one).process_together([_event(0, GOOD), _event(1, b"\xff"), _event(2, poison)], fast)
    assert one_by_one == ["ord-g1"]
    assert sorted(d["offset"] for d in sink.dead) == [1, 2]  # the bad bytes (once) and the poison


async def test_batch_fast_path_gets_only_valid_values() -> None:
    guard, sink = _guard()
    got: list[list[str]] = []

    async def fast(events: list[CloudEvent]) -> None:
        got.append([e.subject for e in events])

    async def one(event: CloudEvent) -> None:
        raise AssertionError("not used when the batch succeeds")

    await _core(guard, one).process_together([_event(0, GOOD), _event(1, b"[]")], fast)
    assert got == [["ord-g1"]]
    assert [d["offset"] for d in sink.dead] == [1]
