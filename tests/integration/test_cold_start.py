"""Cold start is deterministic: fresh starts of order_watcher and returns on 4 partitions, each with a new topic
prefix, find every topic they need (changelogs and the leader topic included) with the right partition count,
and every agent alive and working; a changelog left with the wrong partition count makes the service refuse.

`FOREWARN_COLD_STARTS` sets the number of rounds (3 by default, to keep `make test` short)."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas import CloudEvent, make_event, parse_event
from services.common.kafka import app_topic_specs, ensure_topics, registry_topic_specs, topic_problems
from services.common.runner import EXIT_REFUSED
from services.common.settings import CommonSettings
from services.order_watcher.agents import INTERNAL_TOPICS
from services.order_watcher.agents import build as build_order_watcher
from services.returns.agents import TICKS as RETURNS_TICKS
from services.returns.agents import build as build_returns
from tests.support.events import order_placed
from tests.support.kafka_io import produce, read_topic, wait_caught_up
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

PARTITIONS = 4
ROUNDS = int(os.environ.get("FOREWARN_COLD_STARTS", "3"))
ORDERS = 8  # spread over the 4 partitions


def _env(kafka: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix,
            "FOREWARN_PARTITIONS": str(PARTITIONS), "FOREWARN_DATA_DIR": str(tmp_path / "data"),
            "FOREWARN_TICK_INTERVAL_S": "0.5"}


def _expected_topics(kafka: str, prefix: str, tmp_path: Path) -> list[NewTopic]:
    """Every topic the two services need, derived as the services derive it, from their built apps."""
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, partitions=PARTITIONS,
                            data_dir=str(tmp_path / "expected"))
    specs = registry_topic_specs(common, [*INTERNAL_TOPICS, RETURNS_TICKS])
    specs += app_topic_specs(build_order_watcher(common)) + app_topic_specs(build_returns(common))
    return specs


async def _topic_layout(kafka: str, prefix: str, wanted: list[NewTopic]) -> tuple[list[str], list[str], set[str]]:
    """(wrong partition counts, missing or leaderless topics, topics with the prefix that nobody expected)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        wrong, unsettled = topic_problems(wanted, await admin.describe_topics([spec.name for spec in wanted]))
        ours = {name for name in await admin.list_topics() if name.startswith(prefix)}
        return wrong, unsettled, ours - {spec.name for spec in wanted}
    finally:
        await admin.close()


def _shipment(order_id: str, status: str, at: datetime) -> CloudEvent:
    data = {"order_id": order_id, "shipment_id": f"sh-{order_id}", "carrier": "dhl", "tracking_number": "JD0146",
            "tracking_url": "https://track.example/JD0146", "status": status,
            "exception_reason": "weather" if status == "exception" else None, "estimated_delivery": None,
            "checkpoint_time": at, "checkpoint_location": "Leipzig"}
    return make_event("shipment.updated", data, source="store/acme", subject=order_id, time=at)


def _received(order_id: str, customer_id: str, at: datetime) -> CloudEvent:
    data = {"return_id": f"ret-{order_id}", "order_id": order_id, "customer_id": customer_id,
            "lines": [{"sku": "TR2-42", "product_name": "Trail Runner 2 shoes", "quantity": 1}],
            "refund_amount": {"amount": "89.00", "currency": "USD"}, "received_at": at}
    return make_event("return.received", data, source="store/acme", subject=order_id, time=at)


async def _send(kafka: str, topic: str, events: list[CloudEvent]) -> None:
    await produce(kafka, topic, [(e.key(), e.to_bytes()) for e in events])


async def _history(kafka: str, prefix: str, sku: str) -> list[str]:
    """A store's history, waiting before the services start: every agent's first batch writes a table."""
    now = datetime.now(UTC)
    line = {"sku": sku, "product_name": "Alpine Down Jacket", "quantity": 1,
            "unit_price": {"amount": "89.00", "currency": "USD"}}
    ids = [f"ord-{n}" for n in range(ORDERS)]
    orders = [order_placed(oid, placed_at=now - timedelta(days=1), ship_in=timedelta(days=2),
                           deliver_in=timedelta(days=5), customer_id=f"cus-{oid}", lines=[line]) for oid in ids]
    await _send(kafka, f"{prefix}orders", orders)
    at = now - timedelta(hours=2)
    shipped = ids[: ORDERS // 2]  # a shipped line no longer needs stock: the others will be short
    checkpoints = [_shipment(oid, status, at + timedelta(minutes=n))
                   for oid in shipped for n, status in enumerate(("in_transit", "exception"))]
    await _send(kafka, f"{prefix}shipments", checkpoints)
    await _send(kafka, f"{prefix}returns", [_received(oid, f"cus-{oid}", at) for oid in ids])
    return ids


def _kinds_by_order(kafka: str, prefix: str, expect: int) -> dict[str, set[str]]:
    records = asyncio.run(read_topic(kafka, f"{prefix}incidents", expect=expect, timeout=60.0, settle=0.5))
    kinds: dict[str, set[str]] = {}
    for record in records:
        event = parse_event(record.value or b"")
        if event.type == "incident.detected":
            kinds.setdefault(event.data.order_id, set()).add(event.data.kind)
    return kinds


def _one_round(kafka: str, tmp_path: Path) -> None:
    prefix = f"cold{uuid.uuid4().hex[:8]}-"
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    wanted = _expected_topics(kafka, prefix, tmp_path)
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(common))  # the store's topics only: the services must create their own
    ids = asyncio.run(_history(kafka, prefix, sku))
    env = _env(kafka, prefix, tmp_path / prefix)
    services = [ServiceProcess(module, env, tmp_path / prefix).start(wait_ready=False)
                for module in ("services.order_watcher", "services.returns")]
    try:
        for service in services:  # started together, each waited for in turn
            service.wait_for_log(" ready", timeout=90)
        wrong, unsettled, unexpected = asyncio.run(_topic_layout(kafka, prefix, wanted))
        assert (wrong, unsettled, unexpected) == ([], [], set()), "\n".join(s.log()[-3000:] for s in services)
        # watch_orders (order-state) -> escalate (trouble-history): a delivery exception per shipped order;
        # watch_stock (sku-demand): a stockout per unshipped order once the stock is gone; returns: a receipt each.
        wait_caught_up(kafka, f"{prefix}forewarn-order-watcher", [f"{prefix}order-watcher.demand-by-sku"],
                       partitions=PARTITIONS, timeout=60)
        stock = make_event("stock.changed", {"sku": sku, "available": 0, "changed_at": datetime.now(UTC)},
                           source="store/acme", subject=sku, time=datetime.now(UTC))
        asyncio.run(_send(kafka, f"{prefix}inventory", [stock]))
        kinds = _kinds_by_order(kafka, prefix, expect=2 * ORDERS)
        logs = "\n".join(s.log()[-3000:] for s in services)
        half = ORDERS // 2
        expected = {oid: {"delivery_exception" if n < half else "stockout", "return_received"}
                    for n, oid in enumerate(ids)}
        assert {oid: kinds.get(oid, set()) & {"delivery_exception", "stockout", "return_received"}
                for oid in ids} == expected, logs
        assert [s.proc.poll() if s.proc else "not started" for s in services] == [None, None], logs
        for service in services:
            assert "PartitionsMismatch" not in service.log()
            assert "Ignoring missing topic" not in service.log()
    finally:
        for service in services:
            service.stop()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_fresh_start_has_every_topic_and_every_agent_alive(kafka: str, tmp_path: Path, round_: int) -> None:
    _one_round(kafka, tmp_path)


def test_a_changelog_with_the_wrong_partition_count_makes_the_service_refuse_to_start(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    changelog = f"{topic_prefix}forewarn-returns-return-state-changelog"

    async def one_partition_changelog() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(changelog, 1, 1, topic_configs={"cleanup.policy": "compact"})])
        finally:
            await admin.close()

    asyncio.run(one_partition_changelog())
    service = ServiceProcess("services.returns", _env(kafka, topic_prefix, tmp_path), tmp_path).start(wait_ready=False)
    assert service.proc is not None
    code = service.proc.wait(90)
    log = service.log()
    assert code == EXIT_REFUSED, log[-3000:]
    assert f"{changelog} has 1 partitions, needs 4" in log
    assert " ready" not in log
