"""care as a process on the real broker: bad input is dead-lettered with why, good input still reaches the desk,
and SIGTERM ends it within seconds."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.deadletter import HEADER_PREFIX
from tests.support.care import reply_event
from tests.support.kafka_io import produce, read_topic
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def test_poison_is_dead_lettered_and_the_next_reply_is_a_ticket(kafka: str, topic_prefix: str,
                                                                  tmp_path: Path) -> None:
    outbox = tmp_path / "desk.jsonl"
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
           "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"),
           "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'f.db'}",
           "FOREWARN_CARE_OUTBOX_PATH": str(outbox), "FOREWARN_CARE_STORY_WAIT_S": "0"}
    care = ServiceProcess("services.care", env, tmp_path).start()
    try:
        now = datetime.now(UTC)
        wrong = {"specversion": "1.0", "id": "esc-bad", "source": "x", "type": "escalation.opened",
                 "time": now.isoformat(), "subject": "cus_1", "data": {"escalation_id": "esc-bad", "tier": "high"}}
        asyncio.run(produce(kafka, f"{topic_prefix}escalations",
                            [(b"cus_1", b"{not json"), (b"cus_1", json.dumps(wrong).encode())]))
        reply = reply_event("rep-after-poison", at=now, customer_id="cus_1", body="Wo ist mein Paket?")
        asyncio.run(produce(kafka, f"{topic_prefix}customers", [(reply.key(), reply.to_bytes())]))
        dead = asyncio.run(read_topic(kafka, f"{topic_prefix}escalations.dlq", expect=2, timeout=30))
        assert len(dead) == 2
        for record in dead:
            headers = {key.removeprefix(HEADER_PREFIX): value for key, value in record.headers.items()}
            assert headers["original-topic"] == f"{topic_prefix}escalations".encode()
            assert headers["service"] == b"care" and headers["error-class"].endswith(b"ContractError")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (outbox.exists() and outbox.read_text().strip()):
            time.sleep(0.2)
        [ticket] = [json.loads(line) for line in outbox.read_text().splitlines()]
        assert ticket["event"] == "ticket.opened" and ticket["language"] == "de"
        assert care.proc is not None and care.proc.poll() is None
        started = time.monotonic()
        care.proc.send_signal(signal.SIGTERM)
        code = care.proc.wait(15)
        assert time.monotonic() - started < 10 and code == 0, care.log()[-2000:]
    finally:
        care.stop()
