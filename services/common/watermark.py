"""The stream clock of one partition: how far every input that can clear a deadline has been read.

A deadline is cleared by its own partition's inputs (orders, shipments and payments are
co-partitioned by order id; orders and returns likewise). When history arrives in a burst (a
catch-up after downtime, a replay into empty state, a backlog), Faust reads those topics at
different speeds: a tick can be read after `order.placed` but before the `shipment.updated` that
clears its ship-by deadline. So a tick never fires "what is due by the wall clock"; it fires
what is due by the partition's watermark:

    watermark(p) = min(tick time, min over inputs t of reach(p, t))
    reach(p, t)  = the later of
                   - the time of the latest tick whose snapshot end offset of (t, p) has been read
                     (everything published to t before that tick is in our state), and
                   - the latest event time read from (t, p) (it has been read up to that time).

An input with no reach yet holds every deadline of its partition back: while a partition lags
behind, its deadlines wait. A tick carries, for its partition, each input's log start and end at
the moment it was sent (`services.common.ticks`). An input counts as read up to an offset when
this process has handled every record before it, or the log starts past it (nothing older is
left to read), or the state says so: at each tick the agent records what has been read next to
its deadlines (`DeadlineIndex.record_read`), so a worker that takes a partition over after a
rebalance or a restart, with that state, knows it too. (Not the group's committed offsets: after
a replay into empty state they would claim records the new state has not seen.)

Deadlines born already overdue wait a little more (`DeadlineIndex(hold=...)`): events a store
publishes together on several topics (an order and its shipment) can reach the broker after a
tick's snapshot was taken.

Pure: no Kafka here; the agent reports what it read and hands over the ticks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["InputOffsets", "Tick", "Watermark"]


@dataclass(frozen=True)
class InputOffsets:
    """One input partition as the broker saw it when a tick was sent."""

    start: int
    """The log start offset (older records are gone)."""
    end: int
    """The log end offset: the offset the next record published will get."""


@dataclass(frozen=True)
class Tick:
    """The stream clock's beat on one partition: the wall time it was sent, and the inputs' offsets then."""

    at: datetime
    inputs: Mapping[str, InputOffsets] = field(default_factory=dict)
    """By full topic name, for the tick's partition. Empty when the ticker could not read them."""


class Watermark:
    """What an agent has read of each input partition, and so the time up to which deadlines may fire.

    One per agent and process: what it read lives in memory; what an earlier owner of a partition
    read comes in with each tick (`recorded`), from the state.
    """

    def __init__(self, inputs: Iterable[str], *, remember: int = 600) -> None:
        self.inputs = tuple(inputs)
        self.remember = remember
        self._next: dict[tuple[str, int], int] = {}
        self._latest: dict[tuple[str, int], datetime] = {}
        self._ticks: dict[int, deque[Tick]] = {}
        self._behind: set[int] = set()
        """Partitions whose latest tick counted records not read yet (see `catch_up`)."""
        self._given: dict[int, datetime] = {}

    def read(self, topic: str, partition: int, offset: int, at: datetime | None = None) -> None:
        """The record at `offset` has been handled (decided or dead-lettered); `at` is its event time, if any."""
        key = (topic, partition)
        if offset >= self._next.get(key, 0):
            self._next[key] = offset + 1
        if at is not None and (key not in self._latest or at > self._latest[key]):
            self._latest[key] = at

    def positions(self, partition: int) -> dict[str, int]:
        """The next offset to read of each input of the partition read so far: what to record with the state."""
        return {topic: self._next[(topic, partition)] for topic in self.inputs if (topic, partition) in self._next}

    def at_tick(self, partition: int, tick: Tick, recorded: Mapping[str, int] | None = None) -> datetime | None:
        """The partition's watermark at this tick; None while some input has not been read far enough to tell.

        `recorded` is what the state says was read of the partition's inputs (see `positions`)."""
        for topic, offset in (recorded or {}).items():
            if topic in self.inputs and offset > 0:
                self.read(topic, partition, offset - 1)
        ticks = self._ticks.setdefault(partition, deque(maxlen=self.remember))
        if tick.inputs:
            ticks.append(tick)
        reaches = [self._reach(topic, partition, ticks) for topic in self.inputs]
        self._forget_reached(ticks, partition)
        if ticks and not self._all_read(ticks[-1], partition, ticks):
            self._behind.add(partition)
        else:
            self._behind.discard(partition)
        if any(reach is None for reach in reaches):
            return None
        return self._give(partition, min([tick.at, *(reach for reach in reaches if reach is not None)]))

    def catch_up(self, partition: int) -> datetime | None:
        """Between ticks: the partition's watermark if it moved since the last one given, else None.

        Under steady traffic a tick is often read before the records its snapshot counted; once
        they are read, deadlines need not wait for the next tick. Cheap enough to ask after every
        record: nothing to do unless the partition is behind its latest tick, and then only the
        oldest ticks waiting are looked at (a tick every input has read past counts as its time)."""
        if partition not in self._behind:
            return None
        ticks = self._ticks[partition]
        reached = None
        while ticks and self._all_read(ticks[0], partition, ticks):
            reached = ticks[0]
            if len(ticks) == 1 or not self._all_read(ticks[1], partition, ticks):
                break
            ticks.popleft()
        if reached is None:
            return None
        if reached is ticks[-1]:
            self._behind.discard(partition)
        given = self._given.get(partition)
        return None if given is not None and reached.at <= given else self._give(partition, reached.at)

    def _give(self, partition: int, watermark: datetime) -> datetime:
        given = self._given.get(partition)
        if given is None or watermark > given:
            self._given[partition] = watermark
        return watermark

    def _all_read(self, tick: Tick, partition: int, ticks: deque[Tick]) -> bool:
        return all(topic in tick.inputs and tick.inputs[topic].end <= self._position(topic, partition, ticks)
                   for topic in self.inputs)

    def _position(self, topic: str, partition: int, ticks: deque[Tick]) -> int:
        """Every record of (topic, partition) before this offset is in our state."""
        position = self._next.get((topic, partition), 0)
        latest = ticks[-1].inputs.get(topic) if ticks else None
        return max(position, latest.start) if latest is not None else position

    def _reach(self, topic: str, partition: int, ticks: deque[Tick]) -> datetime | None:
        reach = self._latest.get((topic, partition))
        position = self._position(topic, partition, ticks)
        for tick in reversed(ticks):  # newest first: the first one read is the latest
            offsets = tick.inputs.get(topic)
            if offsets is not None and offsets.end <= position:
                if reach is None or tick.at > reach:
                    reach = tick.at
                break
        return reach

    def _forget_reached(self, ticks: deque[Tick], partition: int) -> None:
        """Drop ticks older than the newest one every input has read past: they can tell nothing new."""
        for index in range(len(ticks) - 1, 0, -1):
            if self._all_read(ticks[index], partition, ticks):
                for _ in range(index):
                    ticks.popleft()
                return
