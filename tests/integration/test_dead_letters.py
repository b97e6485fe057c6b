"""A malformed value on `orders` lands on `orders.dlq` with error headers, and the stream goes on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import parse_event
from tests.support.events import order_placed
from tests.support.kafka_io import produce, read_topic
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def test_malformed_order_is_dead_lettered_and_next_order_processed(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
           "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"), "FOREWARN_TICK_INTERVAL_S": "0.5"}
    watcher = ServiceProcess("services.order_watcher", env, tmp_path).start()
    try:
        late = order_placed("ord-dlq-2", placed_at=datetime.now(UTC) - timedelta(hours=2))
        records: list[tuple[bytes | None, bytes | None]] = [
            (b"ord-dlq-1", b"{not json"),
            (b"ord-dlq-1", b'{"specversion": "1.0", "type": "order.placed", "id": "x"}'),
            (b"ord-dlq-2", late.to_bytes()),
        ]
        asyncio.run(produce(kafka, f"{topic_prefix}orders", records))
        dead = asyncio.run(read_topic(kafka, f"{topic_prefix}orders.dlq", expect=2, timeout=60))
        incidents = asyncio.run(read_topic(kafka, f"{topic_prefix}incidents", expect=1, timeout=60))
    finally:
        watcher.stop()

    assert len(dead) == 2, watcher.log()[-3000:]
    assert sorted(r.value for r in dead) == sorted(v for _, v in records[:2])
    for record in dead:
        assert record.key == b"ord-dlq-1"
        headers = record.headers
        assert headers["forewarn.dlq.original-topic"] == f"{topic_prefix}orders".encode()
        assert headers["forewarn.dlq.original-partition"].isdigit()
        assert headers["forewarn.dlq.original-offset"].isdigit()
        assert headers["forewarn.dlq.error-class"] == b"schemas.envelope.ContractError"
        assert headers["forewarn.dlq.error-message"]
    offsets = sorted(int(r.headers["forewarn.dlq.original-offset"]) for r in dead)
    assert offsets == [0, 1]  # one key, one partition, in order
    messages = sorted(r.headers["forewarn.dlq.error-message"].decode() for r in dead)
    assert any("JSON" in m for m in messages), messages
    assert any(m.startswith("data") or "source" in m or "time" in m for m in messages), messages

    assert len(incidents) == 1, watcher.log()[-3000:]
    incident = parse_event(incidents[0].value or b"")
    assert incident.type == "incident.detected"
    assert incident.data.kind == "not_shipped"
    assert incident.data.order_id == "ord-dlq-2"
