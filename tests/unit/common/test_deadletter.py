"""Dead-letter headers name the original place and the error, with PII masked."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import ContractError, parse_event
from services.common.deadletter import DeadLetterSink, dead_letter_headers

pytestmark = pytest.mark.unit


def test_headers_name_topic_partition_offset_and_error() -> None:
    try:
        parse_event(b"{nope")
    except ContractError as exc:
        error = exc
    headers = dict(dead_letter_headers(topic="orders", partition=3, offset=41, exc=error, service="order-watcher"))
    assert headers["forewarn.dlq.original-topic"] == b"orders"
    assert headers["forewarn.dlq.original-partition"] == b"3"
    assert headers["forewarn.dlq.original-offset"] == b"41"
    assert headers["forewarn.dlq.error-class"] == b"schemas.envelope.ContractError"
    assert b"JSON" in headers["forewarn.dlq.error-message"]


def test_error_message_is_masked_and_bounded() -> None:
    exc = ValueError("cannot text +14155550123 or mail ada@example.com " + "x" * 5000)
    headers = dict(dead_letter_headers(topic="t", partition=0, offset=0, exc=exc, service="s"))
    message = headers["forewarn.dlq.error-message"].decode()
    assert "+14155550123" not in message
    assert "ada@example.com" not in message
    assert len(message) <= 1000


class _FakeTopic:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, *, key: Any, value: Any, headers: Any, partition: Any = None) -> Any:
        self.sent.append({"key": key, "value": value, "headers": dict(headers)})
        return None


async def test_sink_sends_original_bytes_to_the_topics_dlq() -> None:
    dlq = _FakeTopic()
    sink = DeadLetterSink({"orders": dlq}, "order-watcher")
    await sink.send(topic="orders", partition=1, offset=7, key=b"k", value=b"\xff\xfe", exc=ValueError("bad"))
    assert dlq.sent == [{"key": b"k", "value": b"\xff\xfe", "headers": dlq.sent[0]["headers"]}]
    assert dlq.sent[0]["headers"]["forewarn.dlq.original-offset"] == b"7"
    with pytest.raises(KeyError):
        await sink.send(topic="payments", partition=0, offset=0, key=None, value=None, exc=ValueError("x"))
