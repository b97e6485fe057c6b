"""Kafka admin at the edge: create the registry's topics (and their dead-letter topics) up front."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas import TOPICS, dlq_topic
from schemas.topics import DLQ_SUFFIX
from services.common.settings import CommonSettings

__all__ = ["ensure_topics", "registry_topic_specs", "wait_for_broker"]

logger = logging.getLogger(__name__)


def registry_topic_specs(settings: CommonSettings, extra: Iterable[str] = ()) -> list[NewTopic]:
    """Every registry topic and its `.dlq`, then each of `extra` (with its `.dlq` unless it is one), with the
    deployment's prefix and partition count.

    All topics share one partition count so that topics keyed alike are co-partitioned
    (Faust tables need their changelog to match the source topic)."""
    specs: list[NewTopic] = []
    names = dict.fromkeys([*TOPICS, *extra])  # once each, in order
    for base in names:
        topic = TOPICS.get(base)
        configs: dict[str, str] = {}
        if topic is not None:
            configs["cleanup.policy"] = topic.cleanup_policy
            if topic.retention_ms is not None:
                configs["retention.ms"] = str(topic.retention_ms)
        specs.append(NewTopic(settings.topic(base), settings.partitions, 1, topic_configs=configs))
        if not base.endswith(DLQ_SUFFIX):  # an extra dead-letter topic (the gateway's) has none of its own
            specs.append(NewTopic(settings.topic(dlq_topic(base)), settings.partitions, 1))
    return specs


async def wait_for_broker(bootstrap: str, timeout: float = 60.0) -> None:
    """Return once the broker answers a metadata request; raise after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaConnectionError, OSError) as exc:
            if loop.time() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap} did not answer within {timeout:.0f}s") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def ensure_topics(settings: CommonSettings, extra: Iterable[str] = ()) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns the names created."""
    await wait_for_broker(settings.kafka_bootstrap_servers)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [spec for spec in registry_topic_specs(settings, extra) if spec.name not in existing]
        if not wanted:
            return []
        with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
            await admin.create_topics(wanted)
        # create_topics may report per-topic errors in its response, and new topics take a moment to
        # show in metadata: look until they are all there.
        missing = [spec.name for spec in wanted]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while missing:
            now_existing = set(await admin.list_topics())
            missing = [name for name in missing if name not in now_existing]
            if missing and loop.time() > deadline:
                raise RuntimeError(f"could not create topics: {missing}")
            if missing:
                await asyncio.sleep(0.2)
        logger.info("created %d topics", len(wanted))
        return [spec.name for spec in wanted]
    finally:
        await admin.close()
