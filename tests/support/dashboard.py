"""Test helpers for the dashboard: incident events, dead letters, committed offsets, a ledger, a server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import CloudEvent, make_event
from services.common.db import create_engine
from services.common.deadletter import dead_letter_headers
from services.common.kafka import ensure_topics
from services.common.settings import CommonSettings
from services.dashboard.bootstrap import serving
from services.dashboard.settings import DashboardSettings
from services.notifier.migrate import upgrade
from tests.support.postgres import fresh_database

__all__ = [
    "EMAIL",
    "PHONE",
    "commit_offsets",
    "create_topics",
    "dashboard",
    "incident_detected",
    "incident_resolved",
    "migrated_ledger_url",
    "produce_dead_letter",
]

PHONE = "+14155550123"
EMAIL = "ada.lovelace@example.com"


def incident_detected(
    incident_id: str, *, at: datetime, kind: str = "not_shipped", customer_id: str = "cus_1",
    order_id: str = "ord-1", product: str = "Alpine Down Jacket", escalate: bool = False, tier: int | None = None,
) -> CloudEvent:
    data = {
        "incident_id": incident_id, "kind": kind, "order_id": order_id, "store_id": "acme",
        "customer": {"id": customer_id, "first_name": "Ada", "last_name": "Lovelace", "email": EMAIL,
                     "phone": PHONE, "locale": "en", "timezone": "Europe/Berlin"},
        "facts": {"product_name": product}, "severity": "normal", "escalate": escalate, "escalation_tier": tier,
        "cause_event_ids": [f"evt-{incident_id}"], "detected_at": at,
    }
    return make_event("incident.detected", data, source="forewarn/order-watcher", subject=customer_id, time=at,
                      id=incident_id)


def incident_resolved(incident_id: str, *, at: datetime, kind: str = "not_shipped", customer_id: str = "cus_1",
                      order_id: str = "ord-1", reason: str = "delivered") -> CloudEvent:
    data = {"incident_id": incident_id, "kind": kind, "order_id": order_id, "customer_id": customer_id,
            "reason": reason, "resolved_at": at}
    return make_event("incident.resolved", data, source="forewarn/order-watcher", subject=customer_id, time=at,
                      id=f"{incident_id}:resolved")


async def create_topics(bootstrap: str, prefix: str, *, database_url: str, partitions: int = 2) -> CommonSettings:
    """The registry's topics (and their dead-letter topics) under `prefix`, as the services create them;
    the settings returned name that deployment and the ledger at `database_url`."""
    common = CommonSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=partitions,
                            database_url=database_url)
    await ensure_topics(common)
    return common


async def produce_dead_letter(
    bootstrap: str, dlq: str, *, original: str, offset: int, value: bytes, error: Exception, key: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """A dead letter as `DeadLetterSink` writes it (or with the headers given)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(dlq, value=value, key=key, partition=0, headers=headers or dead_letter_headers(
            topic=original, partition=0, offset=offset, exc=error, service="order-watcher"))
    finally:
        await producer.stop()


async def commit_offsets(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for `group` as a stopped service would have left them (no member stays behind)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = {TopicPartition(topic, partition): offset for (topic, partition), offset in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def migrated_ledger_url(backend: str, tmp_dir: str, postgres_url: str | None) -> str:
    """A fresh ledger database built by the notifier's Alembic migrations (SQLite file or PostgreSQL database)."""
    url = await fresh_database(backend, tmp_dir, postgres_url, "ledger")
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return url


@asynccontextmanager
async def dashboard(common: CommonSettings, **settings: Any) -> AsyncIterator[str]:
    """The dashboard served in this process on a free loopback port; yields its base URL."""
    unknown = set(settings) - set(DashboardSettings.model_fields)
    if unknown:
        raise TypeError(f"not dashboard settings: {sorted(unknown)}")
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "sample_interval_s": 0.5, **settings}
    async with serving(DashboardSettings(**values), common) as url:
        yield url.rstrip("/")
