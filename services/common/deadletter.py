"""Dead letters: a message we cannot handle goes to `<topic>.dlq` with headers saying why.

Every dead letter of every agent goes through `DeadLetterSink.send`, and three promises hold there:

* **Whatever its size, the evidence survives.** A record that fits the producer's limit (set from
  the broker's `message.max.bytes`, see `services.common.sizes`) goes whole. One that does not,
  or that the broker refuses as too large anyway (a topic with a smaller `max.message.bytes`),
  goes as a *reference record*: the usual headers plus `original-size` and `reference`, and as
  its value the first KiB of the original (the key too, cut to a KiB).
* **Transient failures are retried** with backoff, each attempt bounded in time.
* **A dead letter that still cannot be written is never passed over.** The sink calls its
  `on_failure` action (in a service process: stop at once with a non-zero status, before any
  offset can be committed, see `services.common.runner`) and raises `DeadLetterFailed`, which
  no guard turns into a dead letter of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from services.common.masking import mask_pii
from services.common.sizes import DEFAULT_MAX_MESSAGE_BYTES, record_size

__all__ = [
    "HEADER_PREFIX",
    "REFERENCE_HEAD_BYTES",
    "DeadLetter",
    "DeadLetterFailed",
    "DeadLetterSink",
    "dead_letter_headers",
    "dead_letter_record",
    "describe_error",
    "reference_record",
]

logger = logging.getLogger(__name__)

HEADER_PREFIX = "forewarn.dlq."
MAX_ERROR_CHARS = 1000
REFERENCE_HEAD_BYTES = 1024
"""How much of a value (and of a key) a reference record keeps."""

TOO_LARGE: tuple[type[BaseException], ...] = (MessageSizeTooLargeError, RecordTooLargeError)
RETRYABLE: tuple[type[BaseException], ...] = (KafkaError, ConnectionError, TimeoutError, asyncio.TimeoutError)


class DeadLetterFailed(Exception):
    """A message could be neither handled nor dead-lettered: its offset must never be committed."""


def describe_error(exc: BaseException) -> str:
    """The error's message, PII-masked and bounded, fit for a header or a log line."""
    text = mask_pii(str(exc)) or exc.__class__.__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def dead_letter_headers(
    *, topic: str, partition: int, offset: int, exc: BaseException, service: str, attempts: int = 1,
    size: int | None = None,
) -> list[tuple[str, bytes]]:
    """Headers naming the original topic, partition, offset, size, error class and (masked) message."""
    values = {
        "original-topic": topic,
        "original-partition": str(partition),
        "original-offset": str(offset),
        "error-class": f"{exc.__class__.__module__}.{exc.__class__.__qualname__}",
        "error-message": describe_error(exc),
        "service": service,
        "attempts": str(attempts),
    }
    if size is not None:
        values["original-size"] = str(size)
    return [(HEADER_PREFIX + name, value.encode("utf-8")) for name, value in values.items()]


@dataclass(frozen=True)
class DeadLetter:
    """One record for a dead-letter topic; `reference` when it carries only the head of the original."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reference: bool = False


def reference_record(
    *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]], why: str
) -> DeadLetter:
    """What stands in the dead-letter topic for a record too large to go whole: its headers, why, and
    the first KiB of its key and value."""
    cut = REFERENCE_HEAD_BYTES
    extra = [(HEADER_PREFIX + "reference", f"first {cut} bytes".encode()),
             (HEADER_PREFIX + "reference-reason", why[:MAX_ERROR_CHARS].encode("utf-8"))]  # sizes, no data
    return DeadLetter(key=None if key is None else key[:cut], value=None if value is None else value[:cut],
                      headers=[*headers, *extra], reference=True)


def dead_letter_record(
    *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, exc: BaseException,
    service: str, attempts: int = 1, limit: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> DeadLetter:
    """The record to dead-letter: the original whole when it fits `limit` (bytes, as the producer counts
    them), else a reference record."""
    size = len(value or b"")
    headers = dead_letter_headers(topic=topic, partition=partition, offset=offset, exc=exc, service=service,
                                  attempts=attempts, size=size)
    needed = record_size(key, value, headers)
    if needed <= limit:
        return DeadLetter(key=key, value=value, headers=headers)
    why = f"a record of {needed} bytes is over the producer limit of {limit} bytes"
    return reference_record(key=key, value=value, headers=headers, why=why)


class _Sender(Protocol):
    async def send(self, *, key: Any, value: Any, headers: Any, partition: Any = None) -> Any: ...


FailureAction = Callable[[DeadLetterFailed], None]


class DeadLetterSink:
    """Sends a message's original bytes (or a reference record) to its dead-letter topic, and waits for
    the broker's ack before the message may be passed over."""

    def __init__(
        self, topics: dict[str, _Sender], service: str, *, limit: int = DEFAULT_MAX_MESSAGE_BYTES,
        attempts: int = 5, backoff_s: float = 0.2, backoff_max_s: float = 2.0, attempt_timeout_s: float = 10.0,
        on_failure: FailureAction | None = None,
    ) -> None:
        self._topics = topics  # original topic name -> its .dlq topic
        self._service = service
        self.limit = limit
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.attempt_timeout_s = attempt_timeout_s
        self.on_failure = on_failure

    async def send(
        self, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
        exc: BaseException, attempts: int = 1,
    ) -> None:
        dlq = self._topics.get(topic)
        if dlq is None:
            raise KeyError(f"no dead-letter topic wired for {topic}")
        record = dead_letter_record(topic=topic, partition=partition, offset=offset, key=key, value=value, exc=exc,
                                    service=self._service, attempts=attempts, limit=self.limit)
        try:
            try:
                await self._deliver(dlq, record)
            except TOO_LARGE as refused:
                if record.reference:
                    raise
                why = f"the broker refused the whole record: {refused.__class__.__name__}: {refused}"
                record = reference_record(key=key, value=value, headers=record.headers, why=why)
                await self._deliver(dlq, record)
        except Exception as failure:
            where = f"{topic}[{partition}]@{offset}"
            fatal = DeadLetterFailed(f"could not dead-letter {where}: {failure.__class__.__name__}: {failure}")
            logger.critical("%s; this message must not be committed", describe_error(fatal))
            if self.on_failure is not None:
                self.on_failure(fatal)
            raise fatal from failure
        logger.warning(
            "dead-lettered %s[%d]@%d%s: %s: %s", topic, partition, offset,
            f" as a reference record ({len(value or b'')} bytes)" if record.reference else "",
            exc.__class__.__name__, describe_error(exc),
        )

    async def _deliver(self, dlq: _Sender, record: DeadLetter) -> None:
        """Send and wait for the ack; retry what may pass on a second try, each attempt bounded in time."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.wait_for(self._send_once(dlq, record), self.attempt_timeout_s)
                return
            except TOO_LARGE:
                raise
            except RETRYABLE as exc:
                if attempt == self.attempts:
                    raise
                logger.warning("dead-letter write failed (attempt %d of %d): %s", attempt, self.attempts,
                               exc.__class__.__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    @staticmethod
    async def _send_once(dlq: _Sender, record: DeadLetter) -> None:
        pending = await dlq.send(key=record.key, value=record.value, headers=record.headers)
        if hasattr(pending, "__await__"):
            await pending  # the broker has it before we move past the original
