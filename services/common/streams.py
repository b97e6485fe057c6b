"""The Faust app factory, raw topics, and the guard that parses messages and dead-letters what cannot be handled."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaError
from sqlalchemy.exc import OperationalError

from schemas import CloudEvent, ContractError, dlq_topic, parse_event
from services.common import faust_patches
from services.common.deadletter import DeadLetterFailed, DeadLetterSink
from services.common.faust_patches import acting_for
from services.common.settings import CommonSettings
from services.common.sizes import DEFAULT_MAX_MESSAGE_BYTES

__all__ = ["Guard", "TransientError", "acting_for", "create_app", "on_dead_letter_failure", "raw_topic"]

logger = logging.getLogger(__name__)


class TransientError(Exception):
    """A failure worth retrying (a dependency is briefly away), as opposed to a bad message."""


TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError, ConnectionError, TimeoutError, asyncio.TimeoutError, KafkaError, OperationalError,
)


def create_app(service: str, settings: CommonSettings, **overrides: Any) -> faust.App:
    """A Faust app for one service; nothing connects until the worker starts."""
    # refuses an untested faust-streaming
    faust_patches.install(fetch_max_wait_ms=settings.fetch_max_wait_ms, fetch_min_bytes=settings.fetch_min_bytes)
    datadir = Path(settings.data_dir) / f"{settings.topic_prefix}{service}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap_servers.split(",") if host.strip()]
    options: dict[str, Any] = {
        "broker": brokers,
        "store": settings.store,
        "datadir": str(datadir),
        "web_enabled": False,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": 1,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_linger_ms": settings.producer_linger_ms,
        # Agreed with the broker's message.max.bytes at start (`runner`), so a value the broker took can be
        # dead-lettered whole; see `services.common.sizes`.
        "producer_max_request_size": settings.max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES,
        "broker_session_timeout": settings.session_timeout_s,
        # Every commit flushes the producer first (Faust's `Consumer._commit_offsets`): see `commit_every`.
        "broker_commit_every": settings.commit_every,
        "broker_commit_interval": settings.commit_interval_s,
        "broker_max_poll_records": settings.max_poll_records,
        "consumer_max_fetch_size": settings.fetch_max_partition_bytes,
        "stream_wait_empty": True,
        "table_standby_replicas": 0,
        "autodiscover": False,
    }
    options.update(overrides)
    return faust.App(f"{settings.topic_prefix}forewarn-{service}", **options)


def raw_topic(app: faust.App, *names: str, partitions: int | None = None) -> faust.TopicT:
    """A topic whose keys and values stay bytes: we validate them ourselves, so bad ones can be dead-lettered."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=partitions, internal=False, allow_empty=True,
    )


_FAILURE_ACTIONS: weakref.WeakKeyDictionary[faust.App, Callable[[DeadLetterFailed], None]] = (
    weakref.WeakKeyDictionary())


def on_dead_letter_failure(app: faust.App, action: Callable[[DeadLetterFailed], None]) -> None:
    """What `app` does when a dead letter cannot be written: a service process ends at once (`runner`), before
    an offset past the message can be committed. Unset (an app in a test), `DeadLetterFailed` is raised."""
    _FAILURE_ACTIONS[app] = action


def _failed(app: faust.App, failure: DeadLetterFailed) -> None:
    action = _FAILURE_ACTIONS.get(app)
    if action is not None:
        action(failure)


class Guard:
    """Parse a message against its topic's contract, and dead-letter what cannot be handled (through one
    `DeadLetterSink`); the processing core (`services.common.processing`) runs the handling itself.

    `topics` maps each full topic name this guard consumes to its registry base name, so a
    parsed event is checked against the contract of the topic it came from."""

    def __init__(
        self, *, service: str, app: faust.App, topics: dict[str, str], attempts: int = 5,
        backoff_s: float = 0.2, backoff_max_s: float = 5.0,
    ) -> None:
        self.service = service
        self.topics = topics
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.sink = DeadLetterSink(
            {full: raw_topic(app, dlq_topic(full)) for full in topics}, service,
            limit=app.conf.producer_max_request_size, on_failure=partial(_failed, app))

    def base(self, topic: str) -> str:
        return self.topics[topic]

    async def parse(self, event: Any) -> CloudEvent | None:
        """The event's contract value, or None after dead-lettering a value that breaks the contract."""
        try:
            return parse_event(event.value, topic=self.topics.get(event.message.topic))
        except ContractError as exc:
            await self._dead_letter(event, exc, attempts=1)
            return None

    async def dead_letter(self, event: Any, exc: BaseException, *, attempts: int = 1) -> None:
        """Send one Faust event's message to its dead-letter topic, with why."""
        await self._dead_letter(event, exc, attempts=attempts)

    async def _dead_letter(self, event: Any, exc: BaseException, *, attempts: int) -> None:
        message = event.message
        await self.sink.send(
            topic=message.topic, partition=message.partition, offset=message.offset,
            key=message.key, value=message.value, exc=exc, attempts=attempts,
        )


def full_names(settings: CommonSettings, bases: Sequence[str]) -> dict[str, str]:
    """Map full topic names to registry base names for a Guard."""
    return {settings.topic(base): base for base in bases}
