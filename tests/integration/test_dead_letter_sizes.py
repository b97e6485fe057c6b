"""No size can lose data: big values are dead-lettered (whole, or as a reference record) between good orders,
and a dead letter that cannot be written stops the process without committing past its message.

Checked that they can fail: on the code before the fix (run from a checkout of it against the same
broker), the 1.04 MB value made the dead-letter send raise `MessageSizeTooLargeError` (Faust's
producer limit of 1,000,000 bytes), the agent died, the orders after it were neither processed nor
dead-lettered, and `orders.dlq` stayed empty; and a dead letter refused by the broker acked its
batch on the way out, so the offset past the unhandled message was committed.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas import parse_event
from services.common.deadletter import REFERENCE_HEAD_BYTES
from services.common.runner import EXIT_DEAD_LETTER_FAILED
from tests.support.events import order_placed
from tests.support.kafka_io import produce, read_topic, wait_caught_up
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

ONE_MB = 1_040_000
FIVE_MB = 5_000_000


def _env(kafka: str, prefix: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix,
            "FOREWARN_PARTITIONS": "1", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
            "FOREWARN_TICK_INTERVAL_S": "0.5", **extra}


async def _produce(kafka: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    await produce(kafka, topic, list(records), max_request_size=8_000_000)


def _late_order(n: int) -> tuple[bytes, bytes]:
    order = order_placed(f"ord-big-{n}", placed_at=datetime.now(UTC) - timedelta(hours=2), customer_id=f"cus-{n}")
    return order.key(), order.to_bytes()


def _big(size: int, fill: bytes) -> bytes:
    return b'{"specversion": "1.0", "pad": "' + fill * (size - 40) + b'"}'


@pytest.mark.parametrize("limit", [None, "2000000"], ids=["broker-limit", "lower-limit"])
def test_big_values_between_good_orders(kafka: str, topic_prefix: str, tmp_path: Path, limit: str | None) -> None:
    """15 good orders with a 1.04 MB and a 5 MB value between them: every good order processed, each big value
    in orders.dlq (whole when it fits the limit, else a reference record), and the agent alive after."""
    extra = {"FOREWARN_MAX_MESSAGE_BYTES": limit} if limit else {}
    watcher = ServiceProcess("services.order_watcher", _env(kafka, topic_prefix, tmp_path, **extra), tmp_path).start()
    one_mb, five_mb = _big(ONE_MB, b"a"), _big(FIVE_MB, b"b")
    goods = [_late_order(n) for n in range(15)]
    records = [*goods[:5], (b"big-1", one_mb), *goods[5:10], (b"big-5", five_mb), *goods[10:]]
    try:
        asyncio.run(_produce(kafka, f"{topic_prefix}orders", records))
        dead = asyncio.run(read_topic(kafka, f"{topic_prefix}orders.dlq", expect=2, timeout=90))
        incidents = asyncio.run(read_topic(kafka, f"{topic_prefix}incidents", expect=15, timeout=90))
        assert watcher.proc is not None and watcher.proc.poll() is None, watcher.log()[-3000:]
        asyncio.run(_produce(kafka, f"{topic_prefix}orders", [_late_order(99)]))
        after = asyncio.run(read_topic(kafka, f"{topic_prefix}incidents", expect=16, timeout=60))
    finally:
        watcher.stop()

    orders = {parse_event(r.value or b"").data.order_id for r in incidents}
    assert orders == {f"ord-big-{n}" for n in range(15)}, watcher.log()[-3000:]
    assert f"ord-big-{99}" in {parse_event(r.value or b"").data.order_id for r in after}
    by_key = {r.key: r for r in dead}
    assert set(by_key) == {b"big-1", b"big-5"}, watcher.log()[-3000:]
    for key, value, offset in ((b"big-1", one_mb, 5), (b"big-5", five_mb, 11)):
        record = by_key[key]
        headers = record.headers
        assert headers["forewarn.dlq.original-topic"] == f"{topic_prefix}orders".encode()
        assert headers["forewarn.dlq.original-partition"] == b"0"
        assert headers["forewarn.dlq.original-offset"] == str(offset).encode()
        assert headers["forewarn.dlq.original-size"] == str(len(value)).encode()
        assert headers["forewarn.dlq.error-class"] == b"schemas.envelope.ContractError"
        fits = limit is None or len(value) < int(limit)
        if fits:
            assert record.value == value
            assert "forewarn.dlq.reference" not in headers
        else:
            assert record.value == value[:REFERENCE_HEAD_BYTES]
            assert headers["forewarn.dlq.reference"] == f"first {REFERENCE_HEAD_BYTES} bytes".encode()
            assert b"over the producer limit" in headers["forewarn.dlq.reference-reason"]


async def _dlq_refusing_all(kafka: str, topic: str) -> None:
    """The dead-letter topic, created first with a record limit nothing we send can meet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "200"})])
    finally:
        await admin.close()


async def _committed(kafka: str, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        meta = offsets.get(TopicPartition(topic, 0))
        return None if meta is None or meta.offset < 0 else meta.offset
    finally:
        await admin.close()


def test_a_dead_letter_that_cannot_be_written_stops_without_committing(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    """orders.dlq refuses every record: the bad value's offset is never committed and the process exits non-zero
    (after its retries and the reference-record fallback), while what came before it stays committed."""
    orders = f"{topic_prefix}orders"
    group = f"{topic_prefix}forewarn-order-watcher"
    asyncio.run(_dlq_refusing_all(kafka, f"{orders}.dlq"))
    watcher = ServiceProcess("services.order_watcher", _env(kafka, topic_prefix, tmp_path), tmp_path).start()
    try:
        asyncio.run(_produce(kafka, orders, [_late_order(n) for n in range(5)]))  # offsets 0..4
        wait_caught_up(kafka, group, [orders], partitions=1, timeout=60)
        bad_offset = 5
        asyncio.run(_produce(kafka, orders, [(b"bad", b"{not json" + b"x" * 2000),
                                             *[_late_order(n) for n in range(5, 10)]]))
        assert watcher.proc is not None
        try:
            status = watcher.proc.wait(90)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running past a lost dead letter:\n" + watcher.log()[-3000:]) from None
    finally:
        watcher.kill()

    assert status == EXIT_DEAD_LETTER_FAILED, watcher.log()[-3000:]
    assert "could not dead-letter" in watcher.log()
    assert asyncio.run(_committed(kafka, group, orders)) == bad_offset, watcher.log()[-3000:]
    dead = asyncio.run(read_topic(kafka, f"{orders}.dlq", expect=1, timeout=3))
    assert dead == []
