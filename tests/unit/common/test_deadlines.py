"""The deadline index: ticks pop only what is due, in order, and touch only due buckets."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.deadlines import DeadlineIndex, DerivedDeadlines, DueEntry
from services.common.faust_patches import acting_for, stored_keys
from services.common.settings import CommonSettings
from services.common.streams import create_app
from tests.support.faust_events import Event, Message

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class CountingDict(dict[str, Any]):
    """A dict that counts reads, to show a tick does not scan the whole index."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_pop_due_returns_due_entries_once_in_order() -> None:
    index = DeadlineIndex({})
    index.pop_due(0, T0)  # start the cursor
    index.schedule(0, DueEntry(T0 + timedelta(minutes=5), "o2", "ship_by"))
    index.schedule(0, DueEntry(T0 + timedelta(minutes=2), "o1", "ship_by"))
    index.schedule(0, DueEntry(T0 + timedelta(hours=3), "o3", "delivery_by"))
    assert index.pop_due(0, T0 + timedelta(minutes=1)) == []
    due = index.pop_due(0, T0 + timedelta(minutes=6))
    assert [e.ref for e in due] == ["o1", "o2"]
    assert index.pop_due(0, T0 + timedelta(minutes=7)) == []
    assert [e.ref for e in index.pop_due(0, T0 + timedelta(hours=4))] == ["o3"]


def test_past_due_entry_fires_on_next_tick() -> None:
    index = DeadlineIndex({})
    index.pop_due(0, T0)
    index.schedule(0, DueEntry(T0 - timedelta(days=2), "late", "ship_by"))
    assert [e.ref for e in index.pop_due(0, T0 + timedelta(seconds=1))] == ["late"]


def test_an_entry_born_overdue_waits_the_hold_and_can_still_be_cancelled() -> None:
    index = DeadlineIndex({}, hold=timedelta(seconds=10))
    index.pop_due(0, T0)
    late, later = DueEntry(T0 - timedelta(days=2), "late", "ship_by"), DueEntry(T0 - timedelta(days=1), "x", "ship_by")
    index.schedule(0, late)
    index.schedule(0, later)
    assert index.pop_due(0, T0 + timedelta(seconds=1)) == []  # what was published with it may still come
    assert index.pop_due(0, T0 + timedelta(seconds=6)) == []
    index.cancel(0, later)  # the cursor moved since it was scheduled
    assert [e.ref for e in index.pop_due(0, T0 + timedelta(seconds=16))] == ["late"]
    assert index.pop_due(0, T0 + timedelta(minutes=5)) == []


def test_with_a_hold_the_first_tick_holds_what_is_already_due() -> None:
    index = DeadlineIndex({}, hold=timedelta(seconds=10))
    index.schedule(1, DueEntry(T0 - timedelta(hours=5), "old", "ship_by"))  # before the clock started
    index.schedule(1, DueEntry(T0 + timedelta(minutes=5), "future", "ship_by"))
    assert index.pop_due(1, T0) == []
    assert index.pop_due(1, T0 + timedelta(seconds=5)) == []
    assert [e.ref for e in index.pop_due(1, T0 + timedelta(seconds=15))] == ["old"]
    assert [e.ref for e in index.pop_due(1, T0 + timedelta(minutes=5))] == ["future"]


def test_entries_scheduled_before_first_tick_are_found() -> None:
    index = DeadlineIndex({})
    index.schedule(1, DueEntry(T0 - timedelta(hours=5), "old", "ship_by"))
    assert [e.ref for e in index.pop_due(1, T0)] == ["old"]


def test_cancel_and_partitions_are_separate() -> None:
    index = DeadlineIndex({})
    entry = DueEntry(T0 + timedelta(minutes=1), "o1", "ship_by")
    index.schedule(0, entry)
    index.schedule(1, DueEntry(T0 + timedelta(minutes=1), "o9", "ship_by"))
    index.cancel(0, entry)
    assert index.pop_due(0, T0 + timedelta(minutes=2)) == []
    assert [e.ref for e in index.pop_due(1, T0 + timedelta(minutes=2))] == ["o9"]


def test_schedule_is_idempotent() -> None:
    index = DeadlineIndex({})
    entry = DueEntry(T0 + timedelta(minutes=1), "o1", "ship_by")
    index.schedule(0, entry)
    index.schedule(0, entry)
    assert len(index.pop_due(0, T0 + timedelta(minutes=2))) == 1


def test_tick_cost_does_not_grow_with_the_book() -> None:
    table = CountingDict()
    index = DeadlineIndex(table)
    index.pop_due(0, T0)
    for i in range(20_000):  # open orders with deadlines days away
        index.schedule(0, DueEntry(T0 + timedelta(days=2, seconds=i), f"o{i}", "ship_by"))
    table.reads = 0
    index.pop_due(0, T0 + timedelta(seconds=1))
    assert table.reads <= 4


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=-600, max_value=7200), min_size=1, max_size=40),
       st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=30))
def test_every_entry_fires_exactly_once_and_never_early(offsets: list[int], steps: list[int]) -> None:
    index = DeadlineIndex({})
    index.pop_due(0, T0)
    entries = [DueEntry(T0 + timedelta(seconds=o), f"o{i}", "k") for i, o in enumerate(offsets)]
    for entry in entries:
        index.schedule(0, entry)
    fired: list[DueEntry] = []
    now = T0
    for step in steps:
        now += timedelta(seconds=step)
        popped = index.pop_due(0, now)
        assert all(e.due <= now for e in popped)
        fired.extend(popped)
    final = T0 + timedelta(seconds=max(offsets) + 1)
    if final > now:
        fired.extend(index.pop_due(0, final))
    assert sorted(e.ref for e in fired) == sorted(e.ref for e in entries)


def test_the_clock_can_live_apart_from_the_buckets_and_survives_them() -> None:
    """A restart loses the in-memory buckets, never the clock: the cursor and what was read come back."""
    clock: dict[str, Any] = {}
    index = DeadlineIndex({}, clock=clock)
    index.pop_due(2, T0)
    index.record_read(2, {"orders": 7})
    assert set(clock) == {"2|clock"}  # one key a partition: one changelog record a batch at most
    restarted = DeadlineIndex({}, clock=clock)
    assert restarted.cursor(2) == index.cursor(2) is not None
    assert restarted.read_positions(2) == {"orders": 7}


def _entries(states: dict[str, list[DueEntry]]) -> Any:
    return lambda key: states.get(key, [])


def test_a_partition_assigned_is_rebuilt_from_its_state_and_one_revoked_is_dropped() -> None:
    derived = DerivedDeadlines()
    clock: dict[str, Any] = {}
    states = {"o1": [DueEntry(T0 + timedelta(minutes=1), "o1", "ship_by")],
              "o2": [DueEntry(T0 + timedelta(minutes=2), "o2", "ship_by")],
              "o9": [DueEntry(T0 + timedelta(minutes=3), "o9", "ship_by")]}
    derived.recovered(0, "o1")
    derived.recovered(1, "o9")
    rebuilt = derived.assigned({0, 1}, stored_keys=lambda p: ["o2"] if p == 0 else [], entries=_entries(states),
                               clock=clock)
    assert rebuilt == [0, 1] and derived.held == {0, 1}
    index = DeadlineIndex(derived.buckets, clock=clock)
    assert [e.ref for e in index.pop_due(0, T0 + timedelta(minutes=5))] == ["o1", "o2"]
    derived.assigned({0}, stored_keys=lambda p: [], entries=_entries(states), clock=clock)  # 1 went elsewhere
    assert derived.held == {0} and not [key for key in derived.buckets if key.startswith("1|")]
    assert index.pop_due(1, T0 + timedelta(minutes=5)) == []


def test_a_partition_kept_re_asserts_what_its_recovery_read_and_keeps_the_rest() -> None:
    derived = DerivedDeadlines()
    clock: dict[str, Any] = {}
    kept = DueEntry(T0 + timedelta(minutes=1), "o1", "ship_by")
    states = {"o1": [kept]}
    derived.assigned({0}, stored_keys=lambda p: ["o1"], entries=_entries(states), clock=clock)
    states["o3"] = [DueEntry(T0 + timedelta(minutes=2), "o3", "ship_by")]  # written by another owner meanwhile
    derived.recovered(0, "o3")
    assert derived.assigned({0}, stored_keys=lambda p: [], entries=_entries(states), clock=clock) == []
    fired = DeadlineIndex(derived.buckets, clock=clock).pop_due(0, T0 + timedelta(minutes=5))
    assert [e.ref for e in fired] == ["o1", "o3"]


def test_a_rebuilt_entry_already_drained_waits_the_hold_like_one_born_overdue() -> None:
    derived = DerivedDeadlines()
    clock: dict[str, Any] = {}
    DeadlineIndex({}, clock=clock).pop_due(0, T0)  # the clock of an earlier owner
    states = {"o1": [DueEntry(T0 - timedelta(hours=1), "o1", "ship_by")]}  # its firing never reached the state
    derived.assigned({0}, stored_keys=lambda p: ["o1"], entries=_entries(states), clock=clock,
                     hold=timedelta(seconds=10))
    index = DeadlineIndex(derived.buckets, clock=clock, hold=timedelta(seconds=10))
    assert index.pop_due(0, T0 + timedelta(seconds=1)) == []
    assert [e.ref for e in index.pop_due(0, T0 + timedelta(seconds=20))] == ["o1"]


def test_a_rocksdb_store_lists_the_keys_it_holds_for_one_partition(tmp_path: Path) -> None:
    """A durable store recovers only what it lacks, so a rebuild also reads what the partition's store already
    holds (`ticks.stored_keys`, which reads private parts of faust-streaming's RocksDB store: pinned here)."""
    app = create_app("derived-test", CommonSettings(topic_prefix="unit-", store="rocksdb://", data_dir=str(tmp_path)))
    table = app.Table("order-state", default=None, partitions=4, key_type=str, value_type=bytes)
    for partition, key in ((1, "o-1"), (2, "o-2"), (1, "o-3")):
        with acting_for(Event(Message("unit-orders", partition, 0, key.encode(), b"{}"))):
            table.data[key] = b"{}"
    assert sorted(stored_keys(table, 1)) == ["o-1", "o-3"]
    assert stored_keys(table, 2) == ["o-2"] and stored_keys(table, 3) == []
    memory = create_app("derived-mem", CommonSettings(topic_prefix="unit-", data_dir=str(tmp_path / "m")))
    assert stored_keys(memory.Table("t", default=None, partitions=4, key_type=str), 1) == []


def test_the_index_leaves_the_garbage_collector_nothing_to_walk() -> None:
    """Every full collection walks each object the collector tracks; the index holds two or three rows per open
    order, so it must hold none: its rows and buckets are tuples of strings, which the collector stops tracking
    (lists it walks every time: 200,000 events through order_watcher spent 7 s in full collections with lists,
    1 s with tuples)."""
    buckets: dict[str, Any] = {}
    index = DeadlineIndex(buckets)
    index.pop_due(0, T0)
    for i in range(200):
        index.schedule(0, DueEntry(T0 + timedelta(seconds=30 * i), f"o{i}", "ship_by"))
        index.schedule(0, DueEntry(T0 + timedelta(seconds=30 * i, hours=48), f"o{i}", "delivery_by"))
    index.cancel(0, DueEntry(T0 + timedelta(seconds=30), "o1", "ship_by"))
    assert [entry.ref for entry in index.pop_due(0, T0 + timedelta(minutes=1))] == ["o0", "o2"]
    gc.collect()
    gc.collect()  # the collector untracks a tuple once what it holds is untracked: rows first, buckets next
    assert len(buckets) > 100
    assert [value for value in buckets.values() if gc.is_tracked(value)] == []
