"""How far the notifier has read `incidents`, on the wall clock: a promise is decided only once that is past it.

A follow-up goes out only while the order is still open. A resolution published before the
promise fell due must be read first, or a customer whose parcel came while the notifier was down
or behind would be told "no news yet". Each pass notes the topic's end offsets at wall-clock time
T; once the notifier group's committed offsets reach them, everything published before T has
been handled (a batch of incidents is committed only after it is handled and its resolutions are
in the ledger), so promises due up to T may be decided (`Dispatcher.send_due`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from services.common.clock import Clock

__all__ = ["IncidentsRead", "Snapshot", "read_until"]

logger = logging.getLogger(__name__)

Snapshot = tuple[datetime, Mapping[TopicPartition, int]]
KEEP = 256  # snapshots kept while the group is behind (older ones only make the answer earlier)


def read_until(snapshots: Sequence[Snapshot], committed: Mapping[TopicPartition, int | None]
               ) -> tuple[datetime | None, list[Snapshot]]:
    """The latest snapshot time the committed offsets have reached (None: none yet), and the snapshots after it.

    A partition the group never committed counts as read up to offset 0 (an empty partition is read)."""
    reached: datetime | None = None
    for at, ends in snapshots:
        if all((committed.get(tp) or 0) >= end for tp, end in ends.items()):
            reached = at if reached is None else max(reached, at)
    later = [s for s in snapshots if reached is None or s[0] > reached]
    return reached, later[-KEEP:]


class IncidentsRead:
    """Asks the broker, each call, how far the notifier's group has read `topics`; remembers what it learnt.

    An admin client (partitions, the group's committed offsets) and a group-less consumer (end
    offsets): neither joins the group. Both are opened on first use, afresh after a failure, and
    closed by `close`."""

    def __init__(self, *, bootstrap: str, group_id: str, topics: Sequence[str], clock: Clock) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topics = list(topics)
        self.clock = clock
        self.consumer: AIOKafkaConsumer | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.snapshots: list[Snapshot] = []
        self.reached: datetime | None = None

    async def __call__(self) -> datetime | None:
        """The wall-clock time up to which every incident event was handled, as far as is known."""
        now = self.clock.now()
        try:
            consumer, admin = await self._clients()
            tps = [TopicPartition(str(topic["topic"]), int(p["partition"]))
                   for topic in await admin.describe_topics(self.topics) if not topic.get("error_code")
                   for p in topic["partitions"]]
            ends = await consumer.end_offsets(tps) if tps else {}
            offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=tps) if tps else {}
            committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        except Exception as exc:  # broker briefly away: what was known stands
            logger.warning("incidents read position not known: %s: %s", exc.__class__.__name__, exc)
            await self.close()
            return self.reached
        if not tps:
            return self.reached
        self.snapshots.append((now, dict(ends)))
        reached, self.snapshots = read_until(self.snapshots, committed)
        if reached is not None:
            self.reached = reached
        return self.reached

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await self.consumer.start()
        if self.admin is None:
            self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await self.admin.start()
        return self.consumer, self.admin

    async def close(self, *_: Any, **__: Any) -> None:
        consumer, self.consumer = self.consumer, None
        admin, self.admin = self.admin, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()
