"""Ticks: the stream's clock. A leader timer sends one tick per partition; agents act on them in stream context.

Each tick carries, for its partition, where every input that can clear a deadline stood on the
broker when it was sent (log start, end, and the group's committed offset), so the agent can
tell whether it has read those inputs far enough to fire what is due (see `watermark`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from services.common.clock import Clock
from services.common.watermark import InputOffsets, Tick

__all__ = ["TICK_TOPIC", "encode_tick", "install_ticker", "parse_tick"]

logger = logging.getLogger(__name__)

TICK_TOPIC = "ticks"

Snapshot = Callable[[Sequence[str], int], Awaitable[Mapping[int, Mapping[str, InputOffsets]]]]
"""(input topics, partitions) -> per partition, each input's offsets now."""


def encode_tick(tick: Tick) -> bytes:
    inputs = {topic: [o.start, o.end, o.committed] for topic, o in tick.inputs.items()}
    return json.dumps({"tick": tick.at.isoformat(), "inputs": inputs}).encode()


def parse_tick(value: bytes) -> Tick:
    """The tick; a malformed one raises ValueError (and is dead-lettered like any bad message).

    A tick without offsets (sent while the broker could not tell them) fires nothing on its own."""
    raw = json.loads(value)
    at = datetime.fromisoformat(raw["tick"])
    if at.tzinfo is None:
        raise ValueError("tick time must carry an offset")
    inputs: dict[str, InputOffsets] = {}
    for topic, offsets in dict(raw.get("inputs") or {}).items():
        start, end, committed = offsets
        if not all(isinstance(o, int) for o in (start, end)) or not isinstance(committed, int | None):
            raise ValueError(f"tick offsets of {topic} must be integers")
        inputs[str(topic)] = InputOffsets(start=start, end=end, committed=committed)
    return Tick(at=at, inputs=inputs)


class _BrokerSnapshot:
    """Input offsets from the broker: log start and end through a group-less consumer, committed through an admin.

    Both clients are opened on first use (nothing connects before the worker runs), opened afresh
    after a failure, and closed with the app. They are apart from Faust's consumer, whose thread
    answers such calls only between fetches."""

    def __init__(self, app: faust.App, bootstrap: str) -> None:
        self.app = app
        self.bootstrap = bootstrap
        self.clients: tuple[AIOKafkaConsumer, AIOKafkaAdminClient] | None = None
        app.on_before_shutdown.connect(self._close)

    async def __call__(self, inputs: Sequence[str], partitions: int) -> Mapping[int, Mapping[str, InputOffsets]]:
        tps = [TopicPartition(topic, partition) for topic in inputs for partition in range(partitions)]
        consumer, admin = await self._clients()
        try:
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(self.app.conf.id, partitions=tps)
        except Exception:
            await self._close()
            raise
        return {
            partition: {
                tp.topic: InputOffsets(start=starts[tp], end=ends[tp], committed=_committed(committed.get(tp)))
                for tp in tps if tp.partition == partition
            }
            for partition in range(partitions)
        }

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self.clients is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                await consumer.start()
                await admin.start()
            except Exception:
                await _stop(consumer, admin)
                raise
            self.clients = (consumer, admin)
        return self.clients

    async def _close(self, *args: Any, **kwargs: Any) -> None:
        clients, self.clients = self.clients, None
        if clients is not None:
            await _stop(*clients)


async def _stop(consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient) -> None:
    with contextlib.suppress(Exception):
        await consumer.stop()
    with contextlib.suppress(Exception):
        await admin.close()


def _committed(found: OffsetAndMetadata | None) -> int | None:
    return found.offset if found is not None and found.offset >= 0 else None


def install_ticker(
    app: faust.App, topic: faust.TopicT, *, interval: float, partitions: int, clock: Clock,
    inputs: Sequence[str], bootstrap: str, snapshot: Snapshot | None = None,
) -> Callable[[], Awaitable[None]]:
    """Every `interval` seconds the leader sends a tick to each partition of `topic`.

    `inputs` are the full names of the topics that can clear a deadline; each tick carries their
    offsets on its partition. The timer only sends; table changes happen where the ticks are
    consumed, inside an agent."""
    snapshot = snapshot or _BrokerSnapshot(app, bootstrap)

    @app.timer(interval=interval, on_leader=True)
    async def tick() -> None:
        at = clock.now()
        try:
            offsets = await snapshot(inputs, partitions)
        except Exception as exc:  # broker briefly away: no tick rather than a tick that cannot be judged
            logger.warning("input offsets not read, no tick this time: %s: %s", exc.__class__.__name__, exc)
            return
        for partition in range(partitions):
            value = encode_tick(Tick(at=at, inputs=offsets.get(partition, {})))
            try:
                await topic.send(key=b"tick", value=value, partition=partition)
            except Exception as exc:  # e.g. metadata of a just-created topic not known yet: the next tick comes
                logger.warning("tick to partition %d not sent: %s: %s", partition, exc.__class__.__name__, exc)
                return

    return tick  # type: ignore[no-any-return]
