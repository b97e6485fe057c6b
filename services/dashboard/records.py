"""What the dashboard reads from Kafka, as plain values: partition offsets and records."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PartitionOffsets", "Record", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]
"""(topic, partition): a plain key the pure code can use without aiokafka's TopicPartition."""


@dataclass(frozen=True)
class PartitionOffsets:
    """The log of one partition: `begin` is its first offset still kept, `end` the offset of the next record."""

    topic: str
    partition: int
    begin: int
    end: int

    @property
    def messages(self) -> int:
        """Records the partition holds now (retention may have dropped earlier ones)."""
        return max(0, self.end - self.begin)


@dataclass(frozen=True)
class Record:
    """One Kafka record, as read (timestamp in milliseconds since the epoch)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())
