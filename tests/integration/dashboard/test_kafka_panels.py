"""Topics, lag, incidents and dead letters through the JSON API, against the real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas import TOPICS
from services.common.deadletter import HEADER_PREFIX
from services.common.settings import CommonSettings
from tests.support.dashboard import (
    EMAIL,
    PHONE,
    commit_offsets,
    create_topics,
    dashboard,
    incident_detected,
    incident_resolved,
    produce_dead_letter,
)
from tests.support.kafka_io import produce

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TIMEOUT = aiohttp.ClientTimeout(total=60)


async def _get(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        body: dict[str, object] = await response.json()
        return body


async def create_extra_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()


async def _groups(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {group[0] for group in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def _groups_reading(bootstrap: str, groups: set[str], topic_prefix: str) -> set[str]:
    """Those of `groups` with offsets on this test's topics (other tests, run alongside, make groups of their own)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {group for group in groups
                if any(tp.topic.startswith(topic_prefix) for tp in await admin.list_consumer_group_offsets(group))}
    finally:
        await admin.close()


async def test_api_reports_offsets_lag_incidents_and_dead_letters(kafka: str, topic_prefix: str,
                                                                  tmp_path: Path) -> None:
    async with asyncio.timeout(120):  # a hang fails here, with the coroutine that hung in the traceback
        common = await create_topics(kafka, topic_prefix, database_url=f"sqlite+aiosqlite:///{tmp_path}/absent.db")
        incidents_topic = f"{topic_prefix}incidents"
        events = [
            incident_detected("inc-a", at=AT, customer_id="cus_1", kind="not_shipped"),
            incident_detected("inc-b", at=AT + timedelta(minutes=5), customer_id="cus_2", kind="stockout",
                              escalate=True, tier=2),
            incident_detected("inc-c", at=AT + timedelta(minutes=10), customer_id="cus_3", kind="false_decline"),
            incident_resolved("inc-a", at=AT + timedelta(minutes=20), customer_id="cus_1", reason="shipped"),
        ]
        await produce(kafka, incidents_topic, [(e.key(), e.to_bytes()) for e in events])
        await produce(kafka, incidents_topic, [(b"cus_9", b"{not an incident")])
        poison = json.dumps({"type": "order.placed", "customer": {"email": EMAIL, "phone": PHONE},
                             "filler": "z" * 300}).encode()
        for offset in (3, 8):
            await produce_dead_letter(kafka, f"{topic_prefix}orders.dlq", original=f"{topic_prefix}orders",
                                      offset=offset, value=poison, key=b"ord-9",
                                      error=ValueError(f"bad total {offset}"))
        # A dead letter from a producer that did not mask: the dashboard masks again.
        await produce_dead_letter(kafka, f"{topic_prefix}customers.dlq", original=f"{topic_prefix}customers",
                                  offset=0, value=b"{}", key=PHONE.encode(), error=ValueError(), headers=[
                                      (HEADER_PREFIX + "error-class", b"builtins.KeyError"),
                                      (HEADER_PREFIX + "error-message", f"unknown contact {EMAIL}".encode())])
        # A dead-letter topic outside the registry (the gateway's raw webhooks) is found and counted.
        await create_extra_topic(kafka, f"{topic_prefix}gateway.dlq")
        await produce_dead_letter(kafka, f"{topic_prefix}gateway.dlq", original="webhooks/shopify", offset=0,
                                  value=b"{}", key=None, error=ValueError("unmapped topic"))
        # The notifier's group read part of `incidents` and stopped: committed offsets, no members.
        notifier_group = f"{topic_prefix}forewarn-notifier"
        await commit_offsets(kafka, notifier_group, {(incidents_topic, 0): 1, (incidents_topic, 1): 0})
        groups_before = await _groups(kafka)

        async with dashboard(common) as url, \
                aiohttp.ClientSession(timeout=TIMEOUT) as session:
            topics = await _get(session, f"{url}/api/topics")
            lag = await _get(session, f"{url}/api/lag")
            incidents = await _get(session, f"{url}/api/incidents")
            dead = await _get(session, f"{url}/api/dead-letters")
            # A rate needs two samples at least a second apart; write 6 orders between them.
            await asyncio.sleep(1.1)
            await produce(kafka, f"{topic_prefix}orders", [(b"ord-r", b"{}")] * 6)
            later = await _get(session, f"{url}/api/topics")
            metrics = await (await session.get(f"{url}/metrics")).text()
            page = await (await session.get(f"{url}/")).text()
        groups_after = await _groups(kafka)

    # Topics: every registry topic and its .dlq, with partitions and end offsets.
    by_name = {row["topic"]: row for row in topics["topics"]}  # type: ignore[union-attr, index]
    assert set(by_name) == {f"{topic_prefix}{base}{suffix}" for base in TOPICS for suffix in ("", ".dlq")} | {
        f"{topic_prefix}gateway.dlq"}
    incident_row = by_name[incidents_topic]
    assert (incident_row["exists"], incident_row["partitions"]) == (True, 2)
    assert incident_row["end_offset"] == incident_row["messages"] == 5
    assert sum(incident_row["end_offsets"]) == 5
    assert by_name[f"{topic_prefix}orders.dlq"]["end_offsets"] == [2, 0]
    assert by_name[f"{topic_prefix}escalations"]["messages"] == 0
    later_orders = {row["topic"]: row for row in later["topics"]}[f"{topic_prefix}orders"]  # type: ignore[union-attr, index]
    assert later_orders["end_offset"] == 6
    assert later_orders["rate_per_s"] is not None and 0 < later_orders["rate_per_s"] <= 6 / 1.1

    # Lag: the notifier's committed offsets against the end; a group that never committed shows none.
    groups = {g["service"]: g for g in lag["groups"]}  # type: ignore[union-attr, index]
    assert groups["notifier"]["group"] == notifier_group
    assert groups["notifier"]["total_lag"] == 5 - 1
    assert groups["returns"] == {"service": "returns", "group": f"{topic_prefix}forewarn-returns", "total_lag": 0,
                                 "topics": 0, "has_commits": False}
    (notifier_lag,) = [row for row in lag["lag"] if row["service"] == "notifier"]  # type: ignore[union-attr]
    assert (notifier_lag["topic"], notifier_lag["committed"], notifier_lag["end"], notifier_lag["lag"]) == (
        incidents_topic, 1, 5, 4)

    # Incidents: newest first, detected and resolved, the unreadable one counted, contacts left out.
    rows = incidents["incidents"]
    assert [(r["incident_id"], r["status"]) for r in rows] == [  # type: ignore[union-attr]
        ("inc-a", "resolved"), ("inc-c", "detected"), ("inc-b", "detected"), ("inc-a", "detected")]
    inc_b = rows[2]  # type: ignore[index]
    assert (inc_b["kind"], inc_b["escalation_tier"], inc_b["customer_id"]) == ("stockout", 2, "cus_2")
    assert incidents["unreadable"] == 1

    # Dead letters: counts per topic, and why the latest failed; never the value in full.
    counts = {row["topic"]: row["messages"] for row in dead["topics"]}  # type: ignore[union-attr, index]
    assert counts[f"{topic_prefix}orders.dlq"] == 2
    assert counts[f"{topic_prefix}customers.dlq"] == 1
    assert counts[f"{topic_prefix}gateway.dlq"] == 1
    assert sum(counts.values()) == 4
    latest = {(r["topic"], r["original_offset"]): r for r in dead["latest"]}  # type: ignore[union-attr, index]
    orders_dead = latest[(f"{topic_prefix}orders.dlq", "8")]
    assert orders_dead["error_class"] == "builtins.ValueError"
    assert orders_dead["error_message"] == "bad total 8"
    assert orders_dead["original_topic"] == f"{topic_prefix}orders"
    assert orders_dead["value_bytes"] == len(poison)
    customers_dead = latest[(f"{topic_prefix}customers.dlq", None)]
    assert customers_dead["error_message"] == "unknown contact a***@example.com"
    assert customers_dead["key"] == "+*******0123"

    everything = json.dumps([topics, lag, incidents, dead]) + page
    assert EMAIL not in everything and PHONE not in everything
    assert poison.decode() not in everything

    # The page shows the same, and /metrics the figures.
    assert "inc-c" in page and "stockout" in page and "bad total 8" in page
    assert f'forewarn_consumer_lag{{group="{notifier_group}",service="notifier",topic="{incidents_topic}"}} 4.0' \
        in metrics
    assert f'forewarn_topic_messages{{topic="{incidents_topic}"}} 5.0' in metrics

    # Reading never joined or created a consumer group.
    assert {g for g in groups_after if topic_prefix in g} == {notifier_group}
    assert await _groups_reading(kafka, groups_after - groups_before, topic_prefix) == set()


async def test_kafka_down_is_a_503_for_its_panels_not_a_crash(tmp_path: Path) -> None:
    common = CommonSettings(kafka_bootstrap_servers="127.0.0.1:9", topic_prefix="nowhere-",
                            database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    async with dashboard(common, kafka_timeout_s=2.0) as url, \
            aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(f"{url}/api/topics") as response:
            assert response.status == 503
            assert "Kafka at 127.0.0.1:9 is unavailable" in (await response.json())["error"]
        async with session.get(f"{url}/healthz") as response:
            assert response.status == 200
        async with session.get(f"{url}/") as response:
            assert response.status == 200
            assert "unavailable: Kafka at 127.0.0.1:9" in await response.text()
        async with session.get(f"{url}/metrics") as response:
            assert response.status == 200
            assert 'forewarn_dashboard_source_up{source="kafka"} 0.0' in await response.text()
