"""The Kafka edge: an idempotent producer (acks=all) that returns only once the broker has the record."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from schemas import CloudEvent
from services.common.settings import CommonSettings

__all__ = ["Publisher"]

logger = logging.getLogger(__name__)


class Publisher:
    """Created stopped; `start()` connects (nothing connects at import or construction time)."""

    def __init__(self, common: CommonSettings, *, timeout_s: float, max_request_size: int = 1_048_576) -> None:
        self.common = common
        self.timeout_s = timeout_s
        self.max_request_size = max_request_size
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.common.kafka_bootstrap_servers, client_id="forewarn-gateway",
            enable_idempotence=True, acks="all", linger_ms=2, max_request_size=self.max_request_size,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def publish(self, topic: str, event: CloudEvent) -> None:
        """Send one event to the registry topic `topic` (prefixed here) and wait for the ack."""
        await self.send(self.common.topic(topic), key=event.key(), value=event.to_bytes())

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Raw send to a full topic name; TimeoutError when the ack does not come in time (the record may
        still land: the caller treats that as not published, and the retry carries the same event id)."""
        if self._producer is None:
            raise RuntimeError("the publisher is not started")
        await asyncio.wait_for(
            self._producer.send_and_wait(topic, value=value, key=key, headers=headers), self.timeout_s)
