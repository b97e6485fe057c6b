"""Helpers for the returns service's integration tests: run it, build return events, read what it published."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAlreadyExistsError

from schemas import CloudEvent, make_event, parse_event
from services.common.kafka import registry_topic_specs
from services.common.settings import CommonSettings
from services.order_watcher.agents import INTERNAL_TOPICS as WATCHER_TOPICS
from services.returns.agents import TICKS
from tests.support.kafka_io import produce, read_topic, wait_caught_up
from tests.support.processes import ServiceProcess

__all__ = [
    "PARTITIONS",
    "create_topics",
    "events_on",
    "received",
    "refunded",
    "requested",
    "send",
    "start_returns",
    "wait_consumed",
]

GROUP = "forewarn-returns"
PARTITIONS = 2


async def _create_topics(kafka: str, prefix: str, timeout: float) -> None:
    settings = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, partitions=PARTITIONS)
    specs = registry_topic_specs(settings, [TICKS, *WATCHER_TOPICS])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(specs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not {spec.name for spec in specs} <= set(await admin.list_topics()):
            if loop.time() > deadline:
                raise TimeoutError(f"topics with prefix {prefix} not listed within {timeout}s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def create_topics(kafka: str, prefix: str, timeout: float = 30.0) -> None:
    """Create the test's topics (order_watcher's too: its escalation step publishes what returns finds)
    and wait until the broker lists them.

    The services create missing topics at start, but a topic just created may not be listed
    at once, and their start-up check then fails; created here first, they find them all."""
    asyncio.run(_create_topics(kafka, prefix, timeout))


def start_returns(kafka: str, prefix: str, tmp_path: Path, **knobs: str) -> ServiceProcess:
    """The returns service as a process on 2 partitions, ticking every 0.5 s; `knobs` set FOREWARN_RETURNS_*."""
    create_topics(kafka, prefix)
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix,
        "FOREWARN_PARTITIONS": str(PARTITIONS), "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_TICK_INTERVAL_S": "0.5",
        # A worker killed with SIGKILL stays in its consumer group until its session times out;
        # a short one lets the restarted worker take its partitions back in seconds, not a minute.
        "BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1",
        **{f"FOREWARN_RETURNS_{name.upper()}": value for name, value in knobs.items()},
    }
    return ServiceProcess("services.returns", env, tmp_path).start()


def send(kafka: str, topic: str, events: Iterable[CloudEvent]) -> None:
    asyncio.run(produce(kafka, topic, [(e.key(), e.to_bytes()) for e in events]))


def events_on(kafka: str, topic: str, *, expect: int, settle: float, timeout: float = 60.0) -> list[CloudEvent]:
    """Every event on `topic`, read from the start until `expect` arrived and `settle` more seconds passed."""
    records = asyncio.run(read_topic(kafka, topic, expect=expect, timeout=timeout, settle=settle))
    return [parse_event(r.value or b"") for r in records]


def _return_event(type_: str, data: dict[str, Any], at: datetime) -> CloudEvent:
    return make_event(type_, data, source="store/acme", subject=data["order_id"], time=at)


def received(order_id: str, at: datetime, *, return_id: str = "ret-1", customer_id: str = "cus_1") -> CloudEvent:
    """The return parcel of `order_id` arrived at `at`."""
    data = {
        "return_id": return_id, "order_id": order_id, "customer_id": customer_id,
        "lines": [{"sku": "TR2-42", "product_name": "Trail Runner 2 shoes", "quantity": 1}],
        "refund_amount": {"amount": "89.00", "currency": "USD"}, "received_at": at,
    }
    return _return_event("return.received", data, at)


def requested(order_id: str, at: datetime, *, delivered_at: datetime, return_id: str = "ret-1",
              customer_id: str = "cus_1") -> CloudEvent:
    """The customer asked at `at` to return what was delivered at `delivered_at`."""
    data = {
        "return_id": return_id, "order_id": order_id, "customer_id": customer_id,
        "lines": [{"sku": "TR2-42", "product_name": "Trail Runner 2 shoes", "quantity": 1}],
        "reason": "size_too_small", "requested_at": at, "order_delivered_at": delivered_at,
    }
    return _return_event("return.requested", data, at)


def refunded(order_id: str, at: datetime, *, return_id: str = "ret-1", customer_id: str = "cus_1") -> CloudEvent:
    """The refund for the return was issued at `at`."""
    data = {
        "refund_id": f"ref-{return_id}", "return_id": return_id, "order_id": order_id, "customer_id": customer_id,
        "amount": {"amount": "89.00", "currency": "USD"}, "method": "original_payment", "issued_at": at,
    }
    return _return_event("refund.issued", data, at)


def wait_consumed(kafka: str, prefix: str, topics: Iterable[str], timeout: float = 30.0) -> None:
    """Wait until the returns service's group has committed everything on these (unprefixed) topics."""
    wait_caught_up(kafka, prefix + GROUP, [prefix + t for t in topics], partitions=PARTITIONS, timeout=timeout)
