"""IncidentsRead on the real broker: the notifier group's committed offsets against snapshots of the end offsets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.clock import FixedClock
from services.notifier.incidents_read import IncidentsRead
from tests.support.kafka_io import produce

pytestmark = pytest.mark.integration

T1 = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


async def commit_to_end(bootstrap: str, group: str, topic: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        consumer.assign(tps)
        await consumer.commit(dict(await consumer.end_offsets(tps)))
    finally:
        await consumer.stop()


async def test_promises_may_be_decided_up_to_the_last_snapshot_the_group_has_read(kafka: str) -> None:
    topic, group = f"it-incidents-{uuid.uuid4().hex[:10]}", f"it-notifier-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    await produce(kafka, topic, [(f"k{i}".encode(), b"{}") for i in range(3)])
    clock = FixedClock(T1)
    read = IncidentsRead(bootstrap=kafka, group_id=group, topics=[topic], clock=clock)
    try:
        assert await read() is None  # the group has read nothing yet
        await commit_to_end(kafka, group, topic)
        clock.set(T1 + timedelta(seconds=1))
        assert await read() == T1 + timedelta(seconds=1)
        await produce(kafka, topic, [(b"k9", b"{}")])  # a resolution not read yet
        clock.set(T1 + timedelta(seconds=2))
        assert await read() == T1 + timedelta(seconds=1)
        await commit_to_end(kafka, group, topic)
        clock.set(T1 + timedelta(seconds=3))
        assert await read() == T1 + timedelta(seconds=3)
    finally:
        await read.close()
