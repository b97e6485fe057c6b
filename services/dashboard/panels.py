"""The dashboard's panels: read through the edges (Kafka, the ledger), shape with the pure views.

Each method answers one panel of the page and one `/api/...` route. A source that cannot be read
raises KafkaUnavailable or LedgerUnavailable; the web layer turns that into a 503 for that panel."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from schemas import INCIDENTS
from services.common.settings import CommonSettings
from services.dashboard.kafka_reader import KafkaReader
from services.dashboard.lag import group_lag
from services.dashboard.ledger_reader import LedgerReader
from services.dashboard.metrics import Figures
from services.dashboard.rates import OffsetSample, RateTracker
from services.dashboard.records import PartitionOffsets, TopicPartitionKey
from services.dashboard.settings import DashboardSettings
from services.dashboard.views import (
    delivery_view,
    lag_view,
    latest_dead_letters,
    latest_incidents,
    registry_topics,
    topic_view,
    with_other_dead_letters,
)

__all__ = ["Panels", "group_name"]

logger = logging.getLogger(__name__)


def group_name(prefix: str, service: str) -> str:
    """The consumer group of a service, as the services' Faust app factory names it."""
    return f"{prefix}forewarn-{service}"


class Panels:
    """One method per panel, each returning the JSON the API serves and the page renders."""

    def __init__(
        self, *, settings: DashboardSettings, common: CommonSettings, kafka: KafkaReader, ledger: LedgerReader,
        monotonic: Callable[[], float] = time.monotonic, figures: Figures | None = None,
    ) -> None:
        self.settings = settings
        self.prefix = common.topic_prefix
        self.kafka = kafka
        self.ledger = ledger
        self.monotonic = monotonic
        self.rates = RateTracker(window_s=settings.rate_window_s)
        self.figures = figures if figures is not None else Figures()
        self.topics_of_registry = registry_topics(self.prefix)

    async def topics(self) -> dict[str, Any]:
        """Every registry topic and its `.dlq` (and any other dead-letter topic): partitions, end offsets,
        messages held, recent rate."""
        counts = await self.kafka.partitions()
        topics = with_other_dead_letters(self.topics_of_registry, self.prefix, counts)
        offsets = await self._offsets([t.name for t in topics], counts)
        rows = topic_view(topics, offsets, self.rates.rates())
        self.figures.topics = rows
        return {"generated_at": _now(), "topics": rows}

    async def lag(self) -> dict[str, Any]:
        """Committed offset against end offset, per service group and topic."""
        groups = [(service, group_name(self.prefix, service)) for service in self.settings.services]
        committed = await asyncio.gather(*(self.kafka.committed(group) for _, group in groups))
        offsets = await self.kafka.offsets({topic for answer in committed for topic, _ in answer})
        view = lag_view(group_lag(service, group, answer, offsets)
                        for (service, group), answer in zip(groups, committed, strict=True))
        self.figures.groups = view["groups"]
        self.figures.lag = view["lag"]
        return {"generated_at": _now(), **view}

    async def incidents(self) -> dict[str, Any]:
        """The newest incidents, from the tail of every partition of `incidents`."""
        topic = self.prefix + INCIDENTS
        offsets = await self.kafka.offsets([topic])
        per_partition = self.settings.incidents_per_partition
        records = await self.kafka.tail({key: (max(log.begin, log.end - per_partition), log.end)
                                         for key, log in offsets.items()})
        rows, unreadable = latest_incidents(records, self.settings.incidents_shown)
        return {"generated_at": _now(), "topic": topic, "incidents": rows, "unreadable": unreadable}

    async def notifications(self) -> dict[str, Any]:
        """The latest ledger rows (each message as the customer saw it, masked) and the count per state."""
        rows, states = await asyncio.gather(self.ledger.latest(self.settings.notifications_shown),
                                            self.ledger.state_counts())
        self.figures.states = states
        return {"generated_at": _now(), "notifications": [delivery_view(row) for row in rows],
                "states": [{"state": state, "count": count} for state, count in sorted(states.items())]}

    async def state_counts(self) -> dict[str, int]:
        states = await self.ledger.state_counts()
        self.figures.states = states
        return states

    async def dead_letters(self) -> dict[str, Any]:
        """Messages held per dead-letter topic, and the newest few with the headers saying why."""
        counts = await self.kafka.partitions()
        dead = [t for t in with_other_dead_letters(self.topics_of_registry, self.prefix, counts) if t.dead_letter]
        offsets = await self.kafka.offsets([t.name for t in dead], counts)
        shown = self.settings.dead_letters_shown
        records = await self.kafka.tail({key: (max(log.begin, log.end - shown), log.end)
                                         for key, log in offsets.items()})
        totals = [{"topic": row["topic"], "origin": row["topic"].removesuffix(".dlq"), "exists": row["exists"],
                   "messages": row["messages"]} for row in topic_view(dead, offsets, {})]
        return {"generated_at": _now(), "topics": totals, "latest": latest_dead_letters(records, shown)}

    async def sample(self) -> None:
        """Take one sample of end offsets for the rates (the background sampler calls this)."""
        await self.topics()

    async def _offsets(self, topics: list[str], counts: dict[str, int]) -> dict[TopicPartitionKey, PartitionOffsets]:
        """Offsets of `topics`, recorded as a sample for the rates."""
        offsets = await self.kafka.offsets(topics, counts)
        ends: dict[str, int] = {}
        for log in offsets.values():
            ends[log.topic] = ends.get(log.topic, 0) + log.end
        self.rates.add(OffsetSample(self.monotonic(), ends))
        return offsets


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
