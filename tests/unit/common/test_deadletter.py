"""Dead-letter headers name the original place and the error, with PII masked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from schemas import ContractError, parse_event
from services.common.deadletter import (
    REFERENCE_HEAD_BYTES,
    DeadLetterFailed,
    DeadLetterSink,
    dead_letter_headers,
    dead_letter_record,
)

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


class _RefusingTopic(_FakeTopic):
    """Refuses records larger than `max_value` as the broker does, or everything after `fail` transient errors."""

    def __init__(self, *, max_value: int | None = None, transient: int = 0, always: BaseException | None = None):
        super().__init__()
        self.max_value = max_value
        self.transient = transient
        self.always = always

    async def send(self, *, key: Any, value: Any, headers: Any, partition: Any = None) -> Any:
        if self.always is not None:
            raise self.always
        if self.transient:
            self.transient -= 1
            raise KafkaConnectionError("broker away")
        if self.max_value is not None and len(value or b"") > self.max_value:
            raise MessageSizeTooLargeError("too large")
        return await super().send(key=key, value=value, headers=headers)


def _sink(topic: Any, **options: Any) -> DeadLetterSink:
    return DeadLetterSink({"orders": topic}, "order-watcher", backoff_s=0.0, backoff_max_s=0.0, **options)


async def test_a_record_over_the_limit_goes_as_a_reference_record() -> None:
    dlq = _FakeTopic()
    value = b"x" * 50_000
    await _sink(dlq, limit=10_000).send(topic="orders", partition=2, offset=9, key=b"k" * 3000, value=value,
                                        exc=ValueError("bad"))
    [sent] = dlq.sent
    assert sent["value"] == value[:REFERENCE_HEAD_BYTES]
    assert sent["key"] == b"k" * REFERENCE_HEAD_BYTES
    headers = sent["headers"]
    assert headers["forewarn.dlq.original-size"] == b"50000"
    assert headers["forewarn.dlq.original-offset"] == b"9"
    assert headers["forewarn.dlq.reference"] == b"first 1024 bytes"
    assert b"over the producer limit of 10000 bytes" in headers["forewarn.dlq.reference-reason"]


def test_the_limit_counts_headers_and_batch_overhead() -> None:
    value = b"v" * 9_000
    whole = dead_letter_record(topic="orders", partition=0, offset=0, key=None, value=value, exc=ValueError("e"),
                               service="s", limit=9_000)
    assert whole.reference  # 9,000 bytes of value alone, but not with its headers in a batch
    assert not dead_letter_record(topic="orders", partition=0, offset=0, key=None, value=value, exc=ValueError("e"),
                                  service="s", limit=9_600).reference


async def test_a_record_the_broker_refuses_as_too_large_goes_as_a_reference_record() -> None:
    dlq = _RefusingTopic(max_value=2000)
    await _sink(dlq).send(topic="orders", partition=0, offset=3, key=b"k", value=b"y" * 5000, exc=ValueError("bad"))
    [sent] = dlq.sent
    assert sent["value"] == b"y" * REFERENCE_HEAD_BYTES
    assert b"MessageSizeTooLargeError" in sent["headers"]["forewarn.dlq.reference-reason"]


async def test_transient_failures_are_retried() -> None:
    dlq = _RefusingTopic(transient=2)
    await _sink(dlq, attempts=3).send(topic="orders", partition=0, offset=3, key=b"k", value=b"v", exc=ValueError("e"))
    assert [s["value"] for s in dlq.sent] == [b"v"]


@pytest.mark.parametrize("refusal", [KafkaConnectionError("broker away"), MessageSizeTooLargeError("too large")])
async def test_a_dead_letter_that_cannot_be_written_is_never_passed_over(refusal: BaseException) -> None:
    failures: list[DeadLetterFailed] = []
    sink = _sink(_RefusingTopic(always=refusal), attempts=3, on_failure=failures.append)
    with pytest.raises(DeadLetterFailed, match=r"orders\[1\]@44"):
        await sink.send(topic="orders", partition=1, offset=44, key=b"k", value=b"v", exc=ValueError("e"))
    assert len(failures) == 1


async def test_a_send_that_hangs_is_bounded() -> None:
    class Hanging(_FakeTopic):
        async def send(self, *, key: Any, value: Any, headers: Any, partition: Any = None) -> Any:
            await asyncio.sleep(60)

    with pytest.raises(DeadLetterFailed):
        await _sink(Hanging(), attempts=2, attempt_timeout_s=0.05).send(
            topic="orders", partition=0, offset=0, key=None, value=b"v", exc=ValueError("e"))
