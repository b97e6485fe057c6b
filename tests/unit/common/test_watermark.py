"""The watermark: a tick fires nothing past what every input has been read up to, and everything once caught up."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.watermark import InputOffsets, Tick, Watermark

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
INPUTS = ("orders", "shipments", "payments")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tick(seconds: float, **ends: int) -> Tick:
    return Tick(at(seconds), {topic: InputOffsets(0, ends.get(topic, 0)) for topic in INPUTS})


def test_nothing_fires_until_every_input_is_read_to_the_ticks_snapshot() -> None:
    mark = Watermark(INPUTS)
    mark.read("orders", 0, 0, at(-86400))  # an old order.placed ...
    assert mark.at_tick(0, tick(10, orders=1, shipments=1)) is None  # ... its shipment not read yet
    mark.read("shipments", 0, 0, at(-90000))
    assert mark.at_tick(0, tick(11, orders=1, shipments=1)) == at(11)


def test_empty_and_idle_inputs_count_as_read() -> None:
    mark = Watermark(INPUTS)
    assert mark.at_tick(3, tick(5)) == at(5)
    assert mark.at_tick(3, tick(6)) == at(6)


def test_a_tick_read_before_records_published_before_it_falls_back_to_the_previous_one() -> None:
    """Steady traffic: a tick can be read before the records it counted; the one before still tells."""
    mark = Watermark(INPUTS)
    mark.read("orders", 0, 9, at(0.5))
    mark.read("shipments", 0, 4, at(0.2))
    assert mark.at_tick(0, tick(1, orders=10, shipments=5)) == at(1)
    mark.read("orders", 0, 10, at(1.5))
    assert mark.at_tick(0, tick(2, orders=12, shipments=7)) == at(1)  # neither input has reached tick 2's ends
    mark.read("shipments", 0, 6, at(1.9))
    mark.read("orders", 0, 11, at(1.9))
    assert mark.at_tick(0, tick(3, orders=14, shipments=7)) == at(2)  # orders read to tick 2's ends, and to 1.9 s


def test_catch_up_moves_the_watermark_once_the_records_a_tick_counted_are_read() -> None:
    mark = Watermark(INPUTS)
    assert mark.catch_up(0) is None  # not behind: nothing to do
    assert mark.at_tick(0, tick(1)) == at(1)
    assert mark.at_tick(0, tick(2, orders=2, shipments=1)) == at(1)  # read before the records it counted
    assert mark.catch_up(0) is None
    mark.read("orders", 0, 0)
    mark.read("orders", 0, 1)
    assert mark.catch_up(0) is None  # the shipment is still to come
    mark.read("shipments", 0, 0)
    assert mark.catch_up(0) == at(2)
    assert mark.catch_up(0) is None  # given once
    mark.read("orders", 0, 2)
    assert mark.catch_up(0) is None


def test_catch_up_walks_several_waiting_ticks() -> None:
    mark = Watermark(INPUTS)
    for second in range(1, 6):
        assert mark.at_tick(0, tick(second, orders=second)) is None  # nothing read yet
    for offset in range(3):
        mark.read("orders", 0, offset)
    assert mark.catch_up(0) == at(3)
    mark.read("orders", 0, 3)
    mark.read("orders", 0, 4)
    assert mark.catch_up(0) == at(5)
    assert mark.at_tick(0, tick(6, orders=5)) == at(6)


def test_event_time_read_lets_deadlines_fire_before_a_busy_input_is_drained() -> None:
    mark = Watermark(INPUTS)
    for offset in range(100):
        mark.read("orders", 0, offset, at(offset))
        mark.read("shipments", 0, offset, at(offset))
    mark.read("payments", 0, 0, at(500))
    assert mark.at_tick(0, tick(1000, orders=5000, shipments=5000, payments=1)) == at(99)


def test_a_partition_taken_over_is_judged_by_what_the_state_recorded() -> None:
    before = Watermark(INPUTS)
    before.read("orders", 2, 39)
    before.read("shipments", 2, 7)
    assert before.at_tick(2, tick(6, orders=40, shipments=8)) == at(6)
    recorded = before.positions(2)
    assert recorded == {"orders": 40, "shipments": 8}

    after = Watermark(INPUTS)  # a worker that read nothing of partition 2 yet, with its state
    assert after.at_tick(2, tick(7, orders=40, shipments=8)) is None
    assert after.at_tick(2, tick(8, orders=40, shipments=8), recorded) == at(8)
    assert after.at_tick(2, tick(9, orders=41, shipments=8), recorded) == at(8)  # one new order not read yet
    deleted = Tick(at(10), {"orders": InputOffsets(41, 41), "shipments": InputOffsets(0, 8),
                            "payments": InputOffsets(5, 5)})  # older records gone: nothing left to read
    assert after.at_tick(2, deleted, recorded) == at(10)


def test_a_tick_without_offsets_fires_only_on_event_time() -> None:
    mark = Watermark(INPUTS)
    assert mark.at_tick(0, Tick(at(3))) is None
    for topic in INPUTS:
        mark.read(topic, 0, 0, at(2))
    assert mark.at_tick(0, Tick(at(3))) == at(2)


def test_partitions_are_apart() -> None:
    mark = Watermark(INPUTS)
    mark.read("orders", 1, 0, at(0))
    assert mark.at_tick(0, tick(5, orders=1)) is None  # partition 0's order not read
    assert mark.at_tick(1, tick(5, orders=1)) == at(5)


def test_old_ticks_are_forgotten_once_read_past() -> None:
    mark = Watermark(INPUTS, remember=1000)
    for second in range(50):
        mark.read("orders", 0, second, at(second))
        assert mark.at_tick(0, tick(second + 0.5, orders=second + 1)) == at(second + 0.5)
    assert len(mark._ticks[0]) == 1


# -- the guarantee, over any interleaving of publishing, ticking and reading --------------------------

@dataclass
class _Log:
    records: list[tuple[datetime, datetime]] = field(default_factory=list)  # (published at, event time)
    read: int = 0


OPS = st.one_of(
    st.tuples(st.just("publish"), st.sampled_from(INPUTS), st.integers(-100_000, 100)),
    st.tuples(st.just("tick"), st.just(""), st.just(0)),
    st.tuples(st.just("read"), st.sampled_from(INPUTS), st.just(0)),
    st.tuples(st.just("read_tick"), st.just(""), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=80))
def test_the_watermark_never_passes_an_input_not_read_that_far(ops: list[tuple[str, str, int]]) -> None:
    """Whatever the interleaving: at a watermark w, each input has either been read up to event time w, or every
    record published to it before w has been read. So no deadline due by w can still be cleared by an unread record
    published before it."""
    mark = Watermark(INPUTS)
    logs = {topic: _Log() for topic in INPUTS}
    ticks: deque[Tick] = deque()
    for step, (op, topic, event_offset_s) in enumerate(ops):
        now = at(step)
        if op == "publish":
            logs[topic].records.append((now, now + timedelta(seconds=event_offset_s)))
        elif op == "tick":
            ticks.append(Tick(now, {t: InputOffsets(0, len(log.records)) for t, log in logs.items()}))
        elif op == "read" and logs[topic].read < len(logs[topic].records):
            log = logs[topic]
            mark.read(topic, 0, log.read, log.records[log.read][1])
            log.read += 1
            _holds(mark.catch_up(0), logs)
        elif op == "read_tick" and ticks:
            beat = ticks.popleft()
            w = mark.at_tick(0, beat)
            assert w is None or w <= beat.at
            _holds(w, logs)


def _holds(w: datetime | None, logs: dict[str, _Log]) -> None:
    if w is None:
        return
    for log in logs.values():
        read_to_w = any(event_time >= w for _, event_time in log.records[:log.read])
        unread_before_w = [r for r in log.records[log.read:] if r[0] < w]
        assert read_to_w or not unread_before_w


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(INPUTS), st.integers(-100_000, 100)), max_size=40))
def test_once_everything_is_read_a_fresh_tick_fires_up_to_its_time(published: list[tuple[str, int]]) -> None:
    mark = Watermark(INPUTS)
    counts = dict.fromkeys(INPUTS, 0)
    for topic, event_offset_s in published:
        mark.read(topic, 0, counts[topic], at(event_offset_s))
        counts[topic] += 1
    assert mark.at_tick(0, Tick(at(200), {t: InputOffsets(0, n) for t, n in counts.items()})) == at(200)
