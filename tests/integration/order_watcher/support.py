"""Helpers for order_watcher's integration tests: run the service, build events, watch the consumer group."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas import CloudEvent, make_event, parse_event
from tests.support.kafka_io import produce, read_topic, wait_caught_up
from tests.support.processes import ServiceProcess

__all__ = [
    "declined",
    "events_on",
    "send",
    "start_watcher",
    "stock_changed",
    "succeeded",
    "wait_consumed",
]

GROUP = "forewarn-order-watcher"
PARTITIONS = 2


def start_watcher(kafka: str, prefix: str, tmp_path: Path, **watch: str) -> ServiceProcess:
    """order_watcher as a process on 2 partitions, ticking every 0.5 s; `watch` sets FOREWARN_WATCH_* knobs."""
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix,
        "FOREWARN_PARTITIONS": str(PARTITIONS), "FOREWARN_DATA_DIR": str(tmp_path / "data"),
        "FOREWARN_TICK_INTERVAL_S": "0.5",
        # A worker killed with SIGKILL stays in its consumer group until its session times out;
        # a short one lets the restarted worker take its partitions back in seconds, not a minute.
        "BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1",
        **{f"FOREWARN_WATCH_{name.upper()}": value for name, value in watch.items()},
    }
    return ServiceProcess("services.order_watcher", env, tmp_path).start()


def send(kafka: str, topic: str, events: Iterable[CloudEvent]) -> None:
    asyncio.run(produce(kafka, topic, [(e.key(), e.to_bytes()) for e in events]))


def events_on(kafka: str, topic: str, *, expect: int, settle: float, timeout: float = 60.0) -> list[CloudEvent]:
    """Every event on `topic`, read from the start until `expect` arrived and `settle` more seconds passed."""
    records = asyncio.run(read_topic(kafka, topic, expect=expect, timeout=timeout, settle=settle))
    return [parse_event(r.value or b"") for r in records]


def wait_consumed(kafka: str, prefix: str, topics: Iterable[str], timeout: float = 30.0) -> None:
    """Wait until the order_watcher group has committed everything on these (unprefixed) topics."""
    wait_caught_up(kafka, prefix + GROUP, [prefix + t for t in topics], partitions=PARTITIONS, timeout=timeout)


def _payment(type_: str, order_id: str, at: datetime, **data: Any) -> CloudEvent:
    body = {"order_id": order_id, "payment_id": f"pay-{order_id}", "customer_id": f"cus-{order_id}",
            "amount": {"amount": "89.00", "currency": "USD"}, **data}
    return make_event(type_, body, source="store/acme", subject=order_id, time=at)


def declined(order_id: str, at: datetime, code: str = "do_not_honor") -> CloudEvent:
    return _payment("payment.declined", order_id, at, attempt=1, decline_code=code, outcome_type="issuer_declined",
                    risk_level="normal", declined_at=at)


def succeeded(order_id: str, at: datetime) -> CloudEvent:
    return _payment("payment.succeeded", order_id, at, succeeded_at=at)


def stock_changed(sku: str, available: int, at: datetime) -> CloudEvent:
    return make_event("stock.changed", {"sku": sku, "available": available, "changed_at": at},
                      source="store/acme", subject=sku, time=at)
