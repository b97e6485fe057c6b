"""Consumer lag: committed offset against the log, per partition, topic and group."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dashboard.lag import group_lag, partition_lag
from services.dashboard.records import PartitionOffsets

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("committed", "begin", "end", "lag"),
    [
        (7, 0, 10, 3),  # the ordinary case
        (10, 0, 10, 0),  # caught up
        (None, 0, 10, 10),  # never committed: starts at the log start
        (None, 4, 10, 6),  # never committed, retention dropped the first records
        (2, 4, 10, 6),  # committed below the log start: those records are gone, the rest waits
        (12, 0, 10, 0),  # past the end (the topic was recreated): nothing to read
        (0, 0, 0, 0),  # an empty partition
    ],
)
def test_partition_lag(committed: int | None, begin: int, end: int, lag: int) -> None:
    assert partition_lag(committed, begin, end) == lag


@given(committed=st.none() | st.integers(0, 10_000), begin=st.integers(0, 5_000), extra=st.integers(0, 5_000))
def test_lag_is_never_negative_nor_more_than_the_log(committed: int | None, begin: int, extra: int) -> None:
    end = begin + extra
    assert 0 <= partition_lag(committed, begin, end) <= end - begin


def _log(topic: str, partition: int, begin: int, end: int) -> tuple[tuple[str, int], PartitionOffsets]:
    return (topic, partition), PartitionOffsets(topic, partition, begin, end)


def test_group_lag_counts_every_partition_of_each_committed_topic() -> None:
    offsets = dict([
        _log("incidents", 0, 0, 10), _log("incidents", 1, 0, 4),
        _log("customers", 0, 2, 8),
        _log("orders", 0, 0, 100),  # the group never committed here: not its topic
    ])
    committed = {("incidents", 0): 6, ("customers", 0): -1, ("gone", 0): 3}
    lag = group_lag("notifier", "forewarn-notifier", committed, offsets)

    assert [t.topic for t in lag.topics] == ["customers", "incidents"]  # "gone" no longer exists
    customers, incidents = lag.topics
    assert [(p.partition, p.committed, p.lag) for p in incidents.partitions] == [(0, 6, 4), (1, None, 4)]
    assert incidents.lag == 8
    assert incidents.end == 14
    assert incidents.committed == 6  # partition 1 counts from its log start, 0
    assert customers.partitions[0].committed is None  # Kafka's -1 means none
    assert customers.lag == 6
    assert lag.total == 14
    assert lag.has_commits


def test_a_group_that_never_committed_has_no_topics() -> None:
    lag = group_lag("returns", "forewarn-returns", {}, dict([_log("returns", 0, 0, 5)]))
    assert lag.topics == ()
    assert lag.total == 0
    assert not lag.has_commits
