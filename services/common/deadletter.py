"""Dead letters: a message we cannot handle goes to `<topic>.dlq` with headers saying why."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from services.common.masking import mask_pii

__all__ = ["HEADER_PREFIX", "DeadLetterSink", "dead_letter_headers", "describe_error"]

logger = logging.getLogger(__name__)

HEADER_PREFIX = "forewarn.dlq."
MAX_ERROR_CHARS = 1000


def describe_error(exc: BaseException) -> str:
    """The error's message, PII-masked and bounded, fit for a header or a log line."""
    text = mask_pii(str(exc)) or exc.__class__.__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def dead_letter_headers(
    *, topic: str, partition: int, offset: int, exc: BaseException, service: str, attempts: int = 1
) -> list[tuple[str, bytes]]:
    """Headers naming the original topic, partition, offset, error class and (masked) message."""
    values = {
        "original-topic": topic,
        "original-partition": str(partition),
        "original-offset": str(offset),
        "error-class": f"{exc.__class__.__module__}.{exc.__class__.__qualname__}",
        "error-message": describe_error(exc),
        "service": service,
        "attempts": str(attempts),
    }
    return [(HEADER_PREFIX + name, value.encode("utf-8")) for name, value in values.items()]


class _Sender(Protocol):
    async def send(self, *, key: Any, value: Any, headers: Any, partition: Any = None) -> Any: ...


class DeadLetterSink:
    """Sends the original bytes to the dead-letter topic and waits for the broker's ack."""

    def __init__(self, topics: dict[str, _Sender], service: str) -> None:
        self._topics = topics  # original topic name -> its .dlq topic
        self._service = service

    async def send(
        self, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
        exc: BaseException, attempts: int = 1,
    ) -> None:
        headers = dead_letter_headers(
            topic=topic, partition=partition, offset=offset, exc=exc, service=self._service, attempts=attempts
        )
        dlq = self._topics.get(topic)
        if dlq is None:
            raise KeyError(f"no dead-letter topic wired for {topic}")
        pending = await dlq.send(key=key, value=value, headers=headers)
        if hasattr(pending, "__await__"):
            await pending  # the broker has it before we move past the original
        logger.warning(
            "dead-lettered %s[%d]@%d: %s: %s", topic, partition, offset, exc.__class__.__name__, describe_error(exc)
        )
