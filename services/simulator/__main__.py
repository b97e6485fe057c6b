"""`python -m services.simulator`: publish the demo scenarios to the local broker."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from services.common.clock import utc_now
from services.common.kafka import ensure_topics
from services.common.logging import configure_logging
from services.common.settings import CommonSettings
from services.simulator.scenarios import demo_events

logger = logging.getLogger("services.simulator")


async def publish() -> int:
    settings = CommonSettings()
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        events = demo_events(utc_now())
        for topic, event in events:
            await producer.send_and_wait(settings.topic(topic), value=event.to_bytes(), key=event.key())
            logger.info("published %s %s to %s", event.type, event.subject, topic)
        return len(events)
    finally:
        await producer.stop()


if __name__ == "__main__":
    configure_logging("INFO", service="simulator")
    count = asyncio.run(publish())
    logger.info("published %d demo events", count)
