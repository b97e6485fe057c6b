"""Produce and read raw records on the real broker from tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

__all__ = ["Record", "group_caught_up", "group_offsets", "produce", "read_topic", "rewind_group", "wait_caught_up"]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]], *,
                  max_request_size: int = 1_048_576) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                max_request_size=max_request_size)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0,
                     settle: float = 0.0) -> list[Record]:
    """Read from the beginning until `expect` records arrived (or timeout), then `settle` more seconds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"reader-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[Record] = []
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + timeout
        settle_until: float | None = None
        while loop.time() < deadline:
            if len(records) >= expect and settle_until is None:
                settle_until = loop.time() + settle
            if settle_until is not None and loop.time() >= settle_until:
                break
            batch = await consumer.getmany(timeout_ms=300)
            for messages in batch.values():
                records.extend(Record(m.topic, m.partition, m.offset, m.key, m.value,
                                      dict(m.headers or ())) for m in messages)
    finally:
        await consumer.stop()
    return records


async def rewind_group(bootstrap: str, group_id: str, topic: str) -> int:
    """Commit offset 0 on every partition of `topic` for `group_id` (its members must be stopped)."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.commit(dict.fromkeys(tps, 0))
        return len(tps)
    finally:
        await consumer.stop()


async def group_caught_up(bootstrap: str, group: str, topics: Iterable[str], partitions: int) -> bool:
    """True when `group` has committed every partition of `topics` up to its end (lag 0)."""
    standing = await group_offsets(bootstrap, group, topics, partitions=partitions)
    return all(end == 0 or (committed is not None and committed >= end)
               for offsets in standing.values() for committed, end in offsets)


async def group_offsets(bootstrap: str, group: str, topics: Iterable[str], *,
                        partitions: int | None = None) -> dict[str, list[tuple[int | None, int]]]:
    """Per topic, each partition's (offset `group` committed or None, end offset): where a group stands. The
    partitions are `range(partitions)`, or, not given, those the broker's metadata names."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        standing: dict[str, list[tuple[int | None, int]]] = {}
        for topic in topics:
            numbers: Sequence[int] = range(partitions) if partitions is not None else sorted(
                consumer.partitions_for_topic(topic) or ())
            if not numbers:
                await consumer._client.force_metadata_update()
                numbers = sorted(consumer.partitions_for_topic(topic) or ())
            tps = [TopicPartition(topic, p) for p in numbers]
            ends = await consumer.end_offsets(tps) if tps else {}
            standing[topic] = [(committed[tp].offset if tp in committed else None, ends[tp]) for tp in tps]
        return standing
    finally:
        await consumer.stop()
        await admin.close()


def wait_caught_up(bootstrap: str, group: str, topics: Iterable[str], *, partitions: int,
                   timeout: float = 30.0) -> None:
    """Wait until `group` has committed everything on `topics` (full names)."""
    import time

    names = list(topics)
    deadline = time.monotonic() + timeout
    while not asyncio.run(group_caught_up(bootstrap, group, names, partitions)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} did not consume {names} within {timeout}s")
        time.sleep(0.3)
