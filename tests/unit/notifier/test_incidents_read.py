"""read_until: how far (wall clock) the notifier's group has handled `incidents`, from end-offset snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.incidents_read import KEEP, read_until

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
P0, P1 = TopicPartition("incidents", 0), TopicPartition("incidents", 1)


def test_nothing_is_read_before_the_group_reaches_a_snapshot() -> None:
    reached, kept = read_until([(T0, {P0: 4, P1: 1})], {P0: 3, P1: 1})
    assert reached is None and len(kept) == 1


def test_the_latest_snapshot_reached_counts_and_older_ones_are_dropped() -> None:
    snapshots = [(T0, {P0: 4, P1: 1}), (T0 + timedelta(seconds=1), {P0: 5, P1: 1}),
                 (T0 + timedelta(seconds=2), {P0: 9, P1: 2})]
    reached, kept = read_until(snapshots, {P0: 5, P1: 1})
    assert reached == T0 + timedelta(seconds=1) and kept == snapshots[2:]


def test_a_partition_never_committed_is_read_only_while_empty() -> None:
    assert read_until([(T0, {P0: 0, P1: 0})], {})[0] == T0
    assert read_until([(T0, {P0: 0, P1: 3})], {P0: None})[0] is None


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=40),
       st.integers(0, 60), st.integers(0, 60))
def test_reached_means_every_partition_read_past_that_snapshot(
    ends: list[tuple[int, int]], read0: int, read1: int,
) -> None:
    grown: list[tuple[int, int]] = []
    for a, b in ends:  # end offsets only grow
        grown.append((max(a, grown[-1][0]) if grown else a, max(b, grown[-1][1]) if grown else b))
    snapshots = [(T0 + timedelta(seconds=i), {P0: a, P1: b}) for i, (a, b) in enumerate(grown)]
    reached, kept = read_until(snapshots, {P0: read0, P1: read1})
    covered = [at for at, offsets in snapshots if offsets[P0] <= read0 and offsets[P1] <= read1]
    assert reached == (max(covered) if covered else None)
    assert all(reached is None or at > reached for at, _ in kept) and len(kept) <= KEEP
