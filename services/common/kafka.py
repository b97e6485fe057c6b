"""Kafka admin at the edge: every topic a service needs exists, with the right partition count, before it runs.

A service needs the registry's topics (and their dead-letter topics), its own internal topics, and
the topics Faust would otherwise create lazily once the worker runs: each table's changelog and the
leader-election topic. Left to Faust, a changelog can be missing, or not yet fully visible, when the
first rebalance and the first table write happen, and the agent dies with `PartitionsMismatch`
while the process carries on. So `ensure_topics` creates them all up front from the built app,
waits until every partition has a leader, and refuses (`TopicLayoutError`) a topic that exists
with another partition count, or an agent source that nothing creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from mode.utils.times import want_seconds

from schemas import TOPICS, dlq_topic
from schemas.topics import DLQ_SUFFIX
from services.common.settings import CommonSettings

__all__ = [
    "TopicLayoutError",
    "app_topic_specs",
    "broker_message_max_bytes",
    "ensure_topics",
    "registry_topic_specs",
    "topic_problems",
    "wait_for_broker",
]

logger = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 30.0
"""How long new topics may take to show every partition with a leader."""
MISMATCH_CONFIRMATIONS = 3
"""A wrong partition count seen this many times in a row (metadata is not still settling) is final."""


class TopicLayoutError(RuntimeError):
    """The broker's topics do not match what the service needs: it must not start."""


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


def _faust_topic_spec(app: faust.App, topic: Any) -> NewTopic:
    """A Faust topic as Faust itself would declare it (`Topic.declare`): partitions, replicas, cleanup, retention."""
    configs = {str(key): str(value) for key, value in (topic.config or {}).items()}
    policy = [flag for flag, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on]
    if policy:
        configs["cleanup.policy"] = ",".join(sorted(policy))
    if topic.retention:
        configs["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    partitions = topic.partitions or app.conf.topic_partitions
    replicas = topic.replicas or app.conf.topic_replication_factor or 1
    return NewTopic(topic.get_topic_name(), partitions, replicas, topic_configs=configs)


def app_topic_specs(app: faust.App) -> list[NewTopic]:
    """The topics Faust creates lazily for `app`: every table's changelog, and the leader topic unless disabled.

    The leader topic (used by `on_leader` timers, such as the ticker) is named by Faust's
    `LeaderAssignor`, a private part pinned by `tests/unit/common/test_kafka_specs.py`."""
    specs = [_faust_topic_spec(app, table.changelog_topic) for table in app.tables.values()]
    if not app.conf.topic_disable_leader:
        specs.append(_faust_topic_spec(app, app._leader_assignor._leader_topic))
    return specs


def _agent_sources(app: faust.App) -> dict[str, str]:
    """Every topic an agent of `app` reads, with the agent's name."""
    return {topic: agent.name for agent in app.agents.values() for topic in agent.get_topic_names()}


def topic_problems(wanted: Sequence[NewTopic], described: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Compare `describe_topics` output with what is wanted: (wrong partition counts, not settled yet).

    A topic missing, or with a partition that has no leader yet, may still be settling after its
    creation; one listed with another partition count is wrong."""
    by_name = {item["topic"]: item for item in described}
    wrong: list[str] = []
    unsettled: list[str] = []
    for spec in wanted:
        item = by_name.get(spec.name)
        partitions = (item.get("partitions") or []) if item is not None else []
        if item is None or item.get("error_code") or not partitions:
            unsettled.append(f"{spec.name} (not listed yet)")
        elif len(partitions) != spec.num_partitions:
            wrong.append(f"{spec.name} has {len(partitions)} partitions, needs {spec.num_partitions}")
        elif any(p.get("error_code") or p.get("leader", -1) < 0 for p in partitions):
            unsettled.append(f"{spec.name} (a partition has no leader yet)")
    return wrong, unsettled


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


async def broker_message_max_bytes(bootstrap: str) -> list[int]:
    """Each broker's `message.max.bytes`, as the brokers say it (describe_configs)."""
    await wait_for_broker(bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        brokers = (await admin.describe_cluster())["brokers"]
        resources = [ConfigResource(ConfigResourceType.BROKER, str(broker["node_id"]),
                                    configs={"message.max.bytes": None}) for broker in brokers]
        limits: list[int] = []
        for response in await admin.describe_configs(resources):
            for _code, _message, _type, _name, entries in response.resources:
                limits.extend(int(entry[1]) for entry in entries if entry[0] == "message.max.bytes")
        return limits
    finally:
        await admin.close()


async def ensure_topics(
    settings: CommonSettings, extra: Iterable[str] = (), *, app: faust.App | None = None,
    timeout: float = SETTLE_TIMEOUT_S,
) -> list[str]:
    """Create the missing topics the service needs (the registry's, `extra`, and `app`'s own), then wait
    until every one of them shows its partition count with a leader on each partition.

    Raises `TopicLayoutError` when a topic exists with another partition count, when an agent
    reads a topic none of these names, or when topics do not settle within `timeout` seconds.
    Returns the names created."""
    specs = {spec.name: spec for spec in registry_topic_specs(settings, extra)}
    if app is not None:
        for spec in app_topic_specs(app):
            specs.setdefault(spec.name, spec)
        unknown = {topic: agent for topic, agent in _agent_sources(app).items() if topic not in specs}
        if unknown:
            raise TopicLayoutError(
                "agents read topics the service does not create: "
                + ", ".join(f"{topic} ({agent})" for topic, agent in sorted(unknown.items())))
    wanted = list(specs.values())
    await wait_for_broker(settings.kafka_bootstrap_servers)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        created = [spec for spec in wanted if spec.name not in existing]
        if created:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                await admin.create_topics(created)
        await _settle(admin, wanted, timeout)
        if created:
            logger.info("created %d topics", len(created))
        return [spec.name for spec in created]
    finally:
        await admin.close()


async def _settle(admin: AIOKafkaAdminClient, wanted: Sequence[NewTopic], timeout: float) -> None:
    """Wait until every wanted topic is listed with its partition count and a leader on each partition."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    confirmations = 0
    while True:
        wrong, unsettled = topic_problems(wanted, await admin.describe_topics([spec.name for spec in wanted]))
        confirmations = confirmations + 1 if wrong else 0
        if confirmations >= MISMATCH_CONFIRMATIONS:
            raise TopicLayoutError("topics exist with the wrong partition count: " + "; ".join(wrong))
        if not wrong and not unsettled:
            return
        if loop.time() > deadline:
            raise TopicLayoutError(f"topics not ready within {timeout:.0f}s: " + "; ".join(wrong + unsettled))
        await asyncio.sleep(0.2)
