"""A batch's table writes in bulk (`faust_patches.write_through`) leave what Faust's own `table[key] = value` leaves.

Two RocksDB tables of one app get the same writes (sets, an overwrite, a delete, a delete of an absent key), one
through Faust's path (`table[key] = value` inside `acting_for(event)`), one through `write_through`, one through the
processing core's batch layer (`BatchStaged.write`, which picks `write_through` for a Faust table); then the
changelog topics on the real broker hold the same records (partition, key, value, tombstones included), the
stores the same keys in the same partitions, and each store's persisted offset is its changelog's last offset.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition
from faust.types import TP

from services.common.faust_patches import acting_for, changelogged, stored_keys, write_through
from services.common.processing import BatchStaged
from services.common.settings import CommonSettings
from services.common.streams import create_app
from tests.support.faust_events import Event, Message

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _event(partition: int, offset: int) -> Event:
    return Event(Message("orders", partition, offset, b"k", b"v"))


WRITES: list[tuple[Event, str, bytes | None]] = [
    (_event(0, 1), "ord-1", b'{"a":1}'),
    (_event(1, 2), "ord-2", b'{"b":2}'),
    (_event(3, 3), "ord-3", b'{"c":3}'),
    (_event(0, 4), "ord-4", b'{"d":4}'),
    (_event(1, 5), "ord-5", b'{"e":5}'),
]
LATER: list[tuple[Event, str, bytes | None]] = [
    (_event(0, 6), "ord-1", b'{"a":2}'),  # an overwrite
    (_event(1, 7), "ord-2", None),  # a delete
    (_event(2, 8), "ord-9", None),  # a delete of a key never written: nothing at all
]


async def _changelog(kafka: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[tuple[int, bytes | None, bytes | None]] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                records += [(tp.partition, m.key, m.value) for m in messages]
        return sorted(records, key=lambda r: (r[0], r[1] or b""))
    finally:
        await consumer.stop()


async def test_bulk_writes_leave_what_faust_s_own_writes_leave(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    app = create_app("write-through-test", CommonSettings(
        kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix, store="rocksdb://", data_dir=str(tmp_path)))
    tables = {name: app.Table(name, default=None, partitions=PARTITIONS, key_type=str, value_type=bytes)
              for name in ("by-faust", "in-bulk", "by-layer")}
    topics = {name: table.changelog_topic.get_topic_name() for name, table in tables.items()}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics.values()])
    finally:
        await admin.close()
    await app.producer.start()
    try:
        assert changelogged(tables["in-bulk"]) and not changelogged({})
        for writes in (WRITES, LATER):
            faust_table: Any = tables["by-faust"]
            for event, key, value in writes:
                with acting_for(event):
                    if value is None:
                        if key in faust_table:
                            del faust_table[key]
                    else:
                        faust_table[key] = value
            await write_through(tables["in-bulk"], writes)
            layer = BatchStaged(tables["by-layer"])
            for event, key, value in writes:
                layer.owner = event
                if value is None:
                    if key in layer:
                        del layer[key]
                else:
                    layer[key] = value
            await layer.write()
            await app.producer.flush()
        await asyncio.sleep(0.5)  # the ack callbacks of the last sends
        by_faust, in_bulk = await _changelog(kafka, topics["by-faust"]), await _changelog(kafka, topics["in-bulk"])
        assert in_bulk == by_faust
        assert await _changelog(kafka, topics["by-layer"]) == by_faust
        assert (1, b'"ord-2"', None) in in_bulk and not any(r[1] == b'"ord-9"' for r in in_bulk)  # one tombstone
        assert len(in_bulk) == 7
        for p in range(PARTITIONS):
            assert sorted(stored_keys(tables["in-bulk"], p)) == sorted(stored_keys(tables["by-faust"], p))
            assert sorted(stored_keys(tables["by-layer"], p)) == sorted(stored_keys(tables["by-faust"], p))
            expected = max((i for i, r in enumerate(r for r in in_bulk if r[0] == p)), default=None)
            for name in tables:  # each changelog got the same records, so the same last offset
                assert tables[name].data.persisted_offset(TP(topics[name], p)) == expected
        assert sorted(stored_keys(tables["in-bulk"], 0)) == ["ord-1", "ord-4"]
        with acting_for(_event(0, 9)):
            assert tables["in-bulk"]["ord-1"] == b'{"a":2}'
        with acting_for(_event(1, 9)):
            assert tables["in-bulk"].get("ord-2") is None
    finally:
        await app.producer.stop()
