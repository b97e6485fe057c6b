"""The deadline index: ticks pop only what is due, in order, and touch only due buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.deadlines import DeadlineIndex, DueEntry

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
