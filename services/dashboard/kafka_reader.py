"""Kafka at the edge, read-only: topic metadata, offsets, committed group offsets, and the tail of a topic.

The reader never joins a consumer group (its consumers have no group id and are assigned partitions
by hand), never commits, and never creates a topic: offsets are asked only for partitions that the
all-topics metadata lists, so even a broker with `auto.create.topics.enable` creates nothing for us.
Consumers live for one read each, so no stale topic list outlives a deleted topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.masking import mask_pii
from services.dashboard.records import PartitionOffsets, Record, TopicPartitionKey

__all__ = ["KafkaReader", "KafkaUnavailable"]

logger = logging.getLogger(__name__)

CLIENT_ID = "forewarn-dashboard"
T = TypeVar("T")


class KafkaUnavailable(Exception):
    """Kafka did not answer (in time, or at all); the panel says so instead of failing the page."""


class KafkaReader:
    """Read-only access to the cluster; one admin client kept open, consumers made per read."""

    def __init__(self, bootstrap: str, *, timeout_s: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._admin: AIOKafkaAdminClient | None = None
        self._admin_lock = asyncio.Lock()

    async def close(self) -> None:
        async with self._admin_lock:
            await self._drop_admin()

    async def partitions(self) -> dict[str, int]:
        """Every topic of the cluster and its partition count (metadata for all topics: nothing is created)."""
        described: list[dict[str, Any]] = await self._with_admin(lambda admin: admin.describe_topics(None))
        counts: dict[str, int] = {}
        for topic in described:
            if topic.get("error_code", 0) == 0:
                counts[topic["topic"]] = len(topic.get("partitions") or ())
        return counts

    async def offsets(
        self, topics: Iterable[str], partitions: Mapping[str, int] | None = None,
    ) -> dict[TopicPartitionKey, PartitionOffsets]:
        """First and next offsets of every partition of the given topics that exist (missing ones are left out).

        `partitions` is a fresh answer of `partitions()`, when the caller has one."""
        wanted = set(topics)
        counts = await self.partitions() if partitions is None else partitions
        tps = [TopicPartition(topic, p) for topic in sorted(wanted & counts.keys()) for p in range(counts[topic])]
        if not tps:
            return {}

        async def read(consumer: AIOKafkaConsumer) -> dict[TopicPartitionKey, PartitionOffsets]:
            # Assigned, the partitions' leaders are looked up at once (unassigned, aiokafka waits seconds
            # for its next metadata round); paused, no record is fetched.
            consumer.assign(tps)
            consumer.pause(*tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            return {(tp.topic, tp.partition): PartitionOffsets(tp.topic, tp.partition, begins[tp], ends[tp])
                    for tp in tps}

        return await self._with_consumer(read)

    async def committed(self, group: str) -> dict[TopicPartitionKey, int]:
        """The offsets `group` has committed (an OffsetFetch: it does not touch the group's members)."""
        answer: dict[Any, Any] = await self._with_admin(lambda admin: admin.list_consumer_group_offsets(group))
        return {(tp.topic, tp.partition): int(meta.offset) for tp, meta in answer.items()}

    async def tail(self, ranges: Mapping[TopicPartitionKey, tuple[int, int]]) -> list[Record]:
        """The records of each partition from `start` up to (not including) `end`, by manual assignment."""
        todo = {TopicPartition(t, p): span for (t, p), span in ranges.items() if span[0] < span[1]}
        if not todo:
            return []

        async def read(consumer: AIOKafkaConsumer) -> list[Record]:
            consumer.assign(list(todo))
            for tp, (start, _) in todo.items():
                consumer.seek(tp, start)
            records: list[Record] = []
            remaining = set(todo)
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=200)
                for tp, messages in batch.items():
                    end = todo[tp][1]
                    records.extend(
                        Record(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value, tuple(m.headers or ()))
                        for m in messages if m.offset < end)
                for tp in list(remaining):
                    if await consumer.position(tp) >= todo[tp][1]:
                        remaining.discard(tp)
            return records

        return await self._with_consumer(read)

    # -- plumbing ---------------------------------------------------------------------------------
    async def _with_admin(self, call: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._admin_lock:
                    if self._admin is None:
                        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=CLIENT_ID,
                                                    request_timeout_ms=int(self.timeout_s * 1000))
                        try:
                            await admin.start()
                        except BaseException:
                            await admin.close()
                            raise
                        self._admin = admin
                    admin = self._admin
                return await call(admin)
        except (KafkaError, OSError, TimeoutError) as exc:
            async with self._admin_lock:
                await self._drop_admin()  # reconnect from scratch next time
            raise KafkaUnavailable(_describe(exc, self.bootstrap)) from exc

    async def _with_consumer(self, read: Callable[[AIOKafkaConsumer], Awaitable[T]]) -> T:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, client_id=CLIENT_ID, group_id=None, enable_auto_commit=False,
            request_timeout_ms=int(self.timeout_s * 1000), auto_offset_reset="earliest",
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                await consumer.start()
                return await read(consumer)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise KafkaUnavailable(_describe(exc, self.bootstrap)) from exc
        finally:
            await _bounded(consumer.stop(), self.timeout_s, "stopping a Kafka consumer")

    async def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await _bounded(admin.close(), self.timeout_s, "closing the Kafka admin client")


async def _bounded(closing: Awaitable[Any], timeout_s: float, what: str) -> None:
    """Close a client without letting a broken one hang the caller, or hide why it broke."""
    try:
        async with asyncio.timeout(timeout_s):
            await closing
    except Exception:
        logger.debug("%s failed", what, exc_info=True)


def _describe(exc: BaseException, bootstrap: str) -> str:
    detail = mask_pii(str(exc)) or exc.__class__.__name__
    if isinstance(exc, TimeoutError):
        detail = "no answer in time"
    return f"Kafka at {bootstrap} is unavailable: {detail}"
