"""Ticks: the stream's clock. A leader timer sends one tick per partition; agents act on them in stream context.

Each tick carries, for its partition, where every input that can clear a deadline stood on the
broker when it was sent (log start and end offsets), so the agent can
tell whether it has read those inputs far enough to fire what is due (see `watermark`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from schemas import CloudEvent
from services.common.clock import Clock
from services.common.deadlines import DerivedDeadlines, DueEntry
from services.common.faust_patches import committed_offsets, stored_keys
from services.common.processing import BatchStaged
from services.common.streams import Guard
from services.common.watermark import InputOffsets, Tick, Watermark

__all__ = ["TICK_TOPIC", "Clocked", "clocked_step", "committed_positions", "derive_deadlines", "encode_tick",
           "install_ticker", "note_recovered", "parse_tick"]

logger = logging.getLogger(__name__)

TICK_TOPIC = "ticks"

Snapshot = Callable[[Sequence[str], int], Awaitable[Mapping[int, Mapping[str, InputOffsets]]]]
"""(input topics, partitions) -> per partition, each input's offsets now."""


def encode_tick(tick: Tick) -> bytes:
    inputs = {topic: [o.start, o.end] for topic, o in tick.inputs.items()}
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
        start, end = offsets
        if not (isinstance(start, int) and isinstance(end, int)):
            raise ValueError(f"tick offsets of {topic} must be integers")
        inputs[str(topic)] = InputOffsets(start=start, end=end)
    return Tick(at=at, inputs=inputs)


class _BrokerSnapshot:
    """Input offsets from the broker, read by a group-less consumer of the ticker's own.

    Opened on first use (nothing connects before the worker runs), afresh after a failure, and
    closed with the app. It is apart from Faust's consumer, whose thread answers such calls only
    between fetches."""

    def __init__(self, app: faust.App, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer: AIOKafkaConsumer | None = None
        app.on_before_shutdown.connect(self._close)

    async def __call__(self, inputs: Sequence[str], partitions: int) -> Mapping[int, Mapping[str, InputOffsets]]:
        tps = [TopicPartition(topic, partition) for topic in inputs for partition in range(partitions)]
        try:
            consumer = await self._consumer()
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
        except Exception:
            await self._close()
            raise
        return {
            partition: {tp.topic: InputOffsets(starts[tp], ends[tp]) for tp in tps if tp.partition == partition}
            for partition in range(partitions)
        }

    async def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await self.consumer.start()
        return self.consumer

    async def _close(self, *args: Any, **kwargs: Any) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()


def committed_positions(app: faust.App, topics: Sequence[str], partition: int) -> dict[str, int]:
    """The group's committed offsets of `topics` on `partition`, as this worker's consumer knows them.

    Everything before a committed offset was handled and its state written before the commit, so
    it is a lower bound of what the state has read (a worker restarted after a kill, whose last
    recorded positions did not reach the changelog, reads nothing new and would otherwise wait for
    a record that never comes). Faust keeps them in its consumer (see `faust_patches.committed_offsets`;
    `tests/unit/common/test_ticks.py` pins it)."""
    found = committed_offsets(app, topics, partition)
    return {topic: offset for topic, offset in found.items() if isinstance(offset, int) and offset > 0}


W_co = TypeVar("W_co", covariant=True)


class Clocked(Protocol[W_co]):
    """Per-key rules driven by their inputs and by ticks: what an order's or a return's step does."""

    def on_tick(self, tick: Tick, partition: int, committed: Mapping[str, int]) -> W_co: ...
    def event(self, event: CloudEvent, partition: int) -> W_co: ...


def clocked_step(
    app: faust.App, guard: Guard, tick_topic: str, watermark: Watermark,
    steps: Callable[[Sequence[BatchStaged]], Clocked[W_co]],
) -> Callable[[Any, Sequence[BatchStaged]], Awaitable[W_co | None]]:
    """The processing step of an agent that reads its inputs and its ticks (see `watermark`).

    A tick is decided with the group's committed offsets of the inputs on its partition (a lower
    bound of what the state has read); an input record is noted as read (dead-lettered or not),
    parsed against its contract (a bad value is dead-lettered, and the step returns None), noted
    with its event time, then decided. `steps(views)` builds the rules over the batch's views."""
    inputs = list(watermark.inputs)

    async def step(event: Any, views: Sequence[BatchStaged]) -> W_co | None:
        message = event.message
        if message.topic == tick_topic:
            committed = committed_positions(app, inputs, message.partition)
            return steps(views).on_tick(parse_tick(event.value), message.partition, committed)
        watermark.read(message.topic, message.partition, message.offset)
        parsed = await guard.parse(event)
        if parsed is None:
            return None
        watermark.read(message.topic, message.partition, message.offset, parsed.time)
        return steps(views).event(parsed, message.partition)

    return step


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


def note_recovered(derived: DerivedDeadlines) -> Callable[[Any], Awaitable[None]]:
    """The state table's `on_changelog_event`: each record read back into the state during recovery is
    noted with its partition (the memory store keeps no partition of its own for a key)."""

    async def note(event: Any) -> None:
        derived.recovered(event.message.partition, event.key)

    return note


def derive_deadlines(
    app: faust.App, state: Any, clock: Any, derived: DerivedDeadlines, *,
    entries: Callable[[Any], Iterable[DueEntry]], hold: timedelta,
) -> None:
    """Keep `derived` (the in-memory deadline buckets) in step with the `state` table's partitions.

    Once the state of a rebalance is recovered (Faust runs the table's recover callbacks before the
    streams resume), each partition newly assigned is rebuilt from its state, one kept re-asserts
    the keys recovered into it, one gone is dropped (see `DerivedDeadlines.assigned`). `entries(value)`
    are the deadlines a stored state implies (none for a value that no longer parses: the state's own
    step dead-letters what it cannot read). The state table must note its recovery (`note_recovered`)."""
    changelog = state.changelog_topic_name

    def entries_of(key: str) -> Iterable[DueEntry]:
        value = state.get(key)
        if value is None:
            return []
        try:
            return list(entries(value))
        except Exception:  # a state that no longer parses: it fires nothing, as before the restart
            logger.exception("deadlines of %s not rebuilt: its state does not parse", key)
            return []

    @state.on_recover
    async def rebuild() -> None:
        started = time.perf_counter()
        active = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}
        rebuilt = derived.assigned(active, stored_keys=lambda partition: stored_keys(state, partition),
                                   entries=entries_of, clock=clock, hold=hold)
        logger.info("deadline index: partitions %s rebuilt from %s, %d buckets held, in %.2f s", rebuilt,
                    state.name, len(derived.buckets), time.perf_counter() - started)
