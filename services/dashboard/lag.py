"""Consumer lag: how far each service's consumer group is behind the end of the topics it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.dashboard.records import PartitionOffsets, TopicPartitionKey

__all__ = ["GroupLag", "PartitionLag", "TopicLag", "group_lag", "partition_lag"]


def partition_lag(committed: int | None, begin: int, end: int) -> int:
    """Records the group has still to read on one partition.

    With no committed offset, or one below the log start (retention dropped what it had not read),
    the group starts at the log start: our services reset to `earliest`, so that is what they will
    read. A committed offset past the end (the topic was recreated) counts as no lag."""
    start = begin if committed is None or committed < begin else committed
    return max(0, end - start)


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    begin: int
    end: int
    lag: int


@dataclass(frozen=True)
class TopicLag:
    topic: str
    partitions: tuple[PartitionLag, ...]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def end(self) -> int:
        return sum(p.end for p in self.partitions)

    @property
    def committed(self) -> int:
        """The sum of committed offsets (a partition never committed counts as its log start)."""
        return sum(p.begin if p.committed is None else p.committed for p in self.partitions)


@dataclass(frozen=True)
class GroupLag:
    service: str
    group: str
    topics: tuple[TopicLag, ...]

    @property
    def total(self) -> int:
        return sum(t.lag for t in self.topics)

    @property
    def has_commits(self) -> bool:
        """False for a group that never committed (not started yet, or a wrong name)."""
        return bool(self.topics)


def group_lag(
    service: str, group: str, committed: Mapping[TopicPartitionKey, int],
    offsets: Mapping[TopicPartitionKey, PartitionOffsets],
) -> GroupLag:
    """The lag of `group` on every partition of each topic it has committed on.

    A partition of such a topic that the group never committed is counted too (from the log start):
    that is where records wait that nobody has read. Committed topics that no longer exist are left
    out. A negative committed offset (Kafka's "none") counts as never committed."""
    topics = sorted({topic for topic, _ in committed} & {topic for topic, _ in offsets})
    result: list[TopicLag] = []
    for topic in topics:
        partitions: list[PartitionLag] = []
        for key in sorted(k for k in offsets if k[0] == topic):
            log = offsets[key]
            offset = committed.get(key)
            if offset is not None and offset < 0:
                offset = None
            partitions.append(PartitionLag(log.partition, offset, log.begin, log.end,
                                           partition_lag(offset, log.begin, log.end)))
        result.append(TopicLag(topic, tuple(partitions)))
    return GroupLag(service, group, tuple(result))
