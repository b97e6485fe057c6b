"""Every record of a committed partition reaches its agent: none skipped by Faust's fetch loop around a seek.

The scenarios run faust-streaming's own fetch loop (`Consumer._drain_messages`, the pinned version)
over a scripted partition: a fetch hands out a few records from the fetch position, and the rest of
a batch fetched before a seek still arrives after it, as with the real consumer thread; records are
queued in the queue class an agent's channel really has. Each scenario fails without the part of `rewind`
it is about (without them, `tests/chaos/test_kill.py` lost up to 41 of 80 SMS in most runs under CPU load).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP as FaustTP
from mode.utils.queues import FlowControlEvent, FlowControlQueue, ThrowableQueue

from services.common import rewind
from services.common.rewind import GIVE_UP_S, ReadOffsets
from services.common.settings import CommonSettings
from services.common.streams import create_app

pytestmark = pytest.mark.unit

TOPIC = "orders"
TP = FaustTP(TOPIC, 0)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Message:
    tp: Any
    offset: int
    topic: str = TOPIC
    key: bytes = b"k"
    value: bytes = b"v"


@dataclass
class _Event:
    message: _Message


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


class _Partition:
    """One partition of `TOPIC` with records `start`..`end - 1` (minus `missing`), read `batch` at a time, and a
    real Faust consumer whose fetch loop delivers them into an agent's flow-controlled queue.

    `hooks[offset]` runs while the record at `offset` is being delivered (before it is queued): a seek,
    a queue clear, whatever Faust does meanwhile."""

    def __init__(self, start: int, end: int, *, batch: int = 4, missing: frozenset[int] = frozenset()) -> None:
        self.app = create_app("rewind-test", CommonSettings(topic_prefix="unit-"))
        self.consumer = self.app.consumer
        self.offsets: ReadOffsets = self.consumer._read_offset
        self.position = start
        self.end = end
        self.batch = batch
        self.missing = missing
        self.seeks: list[int] = []
        # the queue class an agent's channel really has (`App.FlowControlQueue`: mode's ThrowableQueue, whose own
        # `clear` drops the queued records and cancels the puts waiting for room), on the app's flow control
        self.flow: FlowControlEvent = self.app.flow_control
        self.flow.resume()
        self.queue: ThrowableQueue[_Event] = self.app.FlowControlQueue(maxsize=0, clear_on_resume=True)
        self.taken: list[int] = []
        self.hooks: dict[int, Callable[[], None]] = {}
        self.before_fetch: dict[int, Callable[[], None]] = {}  # by the number of fetches made before
        self.fetches = 0
        self.app.topics.acks_enabled_for = lambda topic: topic == TOPIC

        async def seek(tp: Any, offset: int) -> None:
            self.seeks.append(offset)
            self.position = offset

        self.consumer._seek = seek

        async def earliest_offsets(*tps: Any) -> dict[Any, int]:
            return dict.fromkeys(tps, start)

        self.consumer.earliest_offsets = earliest_offsets

        async def deliver(message: _Message) -> None:
            hook = self.hooks.pop(message.offset, None)
            if hook is not None:
                hook()
                await asyncio.sleep(0)
            self.queue.put_nowait(_Event(message))

        self.consumer.callback = rewind._delivering_in_order(deliver, self.offsets, self.consumer)

    def fetch(self) -> list[int]:
        hook = self.before_fetch.pop(self.fetches, None)
        self.fetches += 1
        if hook is not None:
            hook()
        offsets = [o for o in range(self.position, min(self.position + self.batch, self.end)) if o not in self.missing]
        self.position = min(self.position + self.batch, self.end)
        return offsets

    def faust_seeks_to_committed(self, committed: int) -> None:
        """What Faust's `perform_seek` does: the consumer's position and the read offsets."""
        self.position = committed
        self.offsets.update({TP: committed})

    def take(self) -> None:
        """The agent takes what is queued (it is processed: never dropped after this)."""
        while not self.queue.empty():
            self.taken.append(self.queue.get_nowait().message.offset)

    async def run(self, *first: list[int]) -> list[int]:
        """Run Faust's fetch loop: first the given batches (fetched before), then fetches from the position until the
        end is reached; returns the offsets the agent took, in order."""
        fetcher = _Fetcher()
        scripted = list(first)

        async def getmany(timeout: float) -> AsyncIterator[tuple[Any, _Message]]:
            records = scripted.pop(0) if scripted else self.fetch()
            if not records and not scripted and self.position >= self.end and not rewind._seeking:
                fetcher._stopped.set()
            for offset in records:
                yield TP, _Message(TP, offset)
            await asyncio.sleep(0)

        self.consumer.getmany = getmany
        await self.consumer._drain_messages(fetcher)
        self.take()
        return self.taken


def _every_record_taken(taken: list[int], start: int, end: int) -> bool:
    return set(range(start, end)) <= set(taken)


async def test_a_stale_batch_after_a_seek_is_rewound_and_read_again_in_order() -> None:
    partition = _Partition(100, 153, batch=10)
    partition.faust_seeks_to_committed(100)  # a rebalance: Faust seeks to the committed offset, 100
    taken = await partition.run([150, 151, 152])  # the rest of a batch fetched before the seek
    assert partition.seeks[0] == 100, "the partition is read again from the committed offset"
    assert taken == list(range(100, 153)), "stale records are not delivered ahead of the ones they skipped"


async def test_a_stale_record_right_after_the_committed_offset_does_not_pass_for_the_next_one() -> None:
    """Faust keeps the next offset to read after a seek where its loop keeps the last one read: 101 looked next."""
    partition = _Partition(100, 104)
    partition.faust_seeks_to_committed(100)
    taken = await partition.run([101, 102])  # fetched before the seek, which brought the position back to 100
    assert _every_record_taken(taken, 100, 104), f"taken: {taken}"
    assert taken[taken.index(100):] == [100, 101, 102, 103]


async def test_a_delivery_in_flight_during_faust_s_seek_does_not_move_the_position_past_the_seek() -> None:
    """A restart: Faust's recovery resumes the partition, then seeks it to the committed offset 60 and clears the
    agents' queues, while its fetch loop is handing over records of the first fetch (from 60 too)."""
    partition = _Partition(60, 70)

    def seek_and_clear() -> None:
        partition.faust_seeks_to_committed(60)
        partition.flow.resume()  # clears the queues: 60, handed over before the seek, is dropped

    partition.hooks[61] = seek_and_clear
    taken = await partition.run()
    assert _every_record_taken(taken, 60, 70), f"taken: {taken}"


async def test_records_dropped_from_the_agent_s_queue_after_the_seek_are_read_again() -> None:
    partition = _Partition(60, 70, batch=3)
    partition.faust_seeks_to_committed(60)
    partition.hooks[63] = partition.flow.resume  # Faust resumes the flow: 60..62, queued since the seek, dropped
    taken = await partition.run()
    assert _every_record_taken(taken, 60, 70), f"taken: {taken}"
    assert 60 in partition.seeks


async def test_records_fetched_again_while_faust_seeks_to_the_committed_offset_are_not_lost() -> None:
    """Faust's seek to the committed offset is two steps: the consumer thread seeks (to 0 here), then, once that
    returns, the read offsets are set. Meanwhile the fetch loop read 0..5 again up to the end of the partition,
    all judged stale against the old position (6), and the flow's resume then dropped 0..5 from the queue: the
    position was back at 0, but nothing would be fetched from there again."""
    partition = _Partition(0, 6, batch=3)

    def thread_seeks() -> None:
        partition.position = 0

    def read_offsets_set_then_flow_resumed() -> None:
        partition.offsets.update({TP: 0})
        partition.flow.resume()  # clears the queues: 0..5 dropped

    partition.before_fetch[2] = thread_seeks  # 0..5 delivered (queued)
    partition.before_fetch[4] = read_offsets_set_then_flow_resumed  # 0..5 fetched again, stale
    taken = await partition.run()
    assert _every_record_taken(taken, 0, 6), f"taken: {taken}"


async def test_a_fetch_faust_drops_on_a_partition_with_nothing_committed_is_read_again_from_its_start() -> None:
    """A fetch that returns while Faust's flow is stopped is dropped whole (`Consumer.getmany`), and Faust then
    "seeks back to the committed offsets": with nothing committed, that leaves the consumer past the records."""
    partition = _Partition(0, 6, batch=6)

    def fetched_dropped_then_faust_seeks() -> None:
        partition.position = 6  # 0..5 fetched, never handed over
        partition.offsets.update({TP: None})  # nothing committed: the consumer is not moved

    partition.before_fetch[0] = fetched_dropped_then_faust_seeks
    taken = await partition.run()
    assert taken == list(range(6)), "read again from the partition's first offset"
    assert partition.seeks == [0]


async def test_records_dropped_on_a_partition_with_nothing_committed_are_read_again() -> None:
    """A worker killed before its first commit: the next one reads from the start, Faust's seek to "no committed
    offset" leaves the consumer where it is, past the records handed over before it, and the flow's resume drops
    them from the queue."""
    partition = _Partition(0, 8, batch=3)

    def seek_nowhere_and_clear() -> None:
        partition.offsets.update({TP: None})  # no committed offset: the consumer's position is not moved
        partition.flow.resume()  # 0..2 dropped

    partition.hooks[3] = seek_nowhere_and_clear
    taken = await partition.run()
    assert _every_record_taken(taken, 0, 8), f"taken: {taken}"
    assert 0 in partition.seeks


async def test_a_record_waiting_for_room_in_a_full_queue_when_the_flow_resumes_is_read_again() -> None:
    """The conductor waits for room to put a record into a full queue (records of other partitions fill it); the
    resume's clear cancels that put, and the record is gone unless its partition is read again from it."""
    partition = _Partition(0, 8)
    other = FaustTP(TOPIC, 1)
    partition.offsets.update({TP: 5, other: 0})  # 0..4 of TP taken by the agent
    partition.offsets.delivered(other, 0, partition.offsets.epoch[other])  # 0 of the other partition is queued
    queue = partition.app.FlowControlQueue(maxsize=1, clear_on_resume=True)
    queue.put_nowait(_Event(_Message(other, 0)))
    waiting = asyncio.ensure_future(queue.put(_Event(_Message(TP, 5))))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "the queue is full: the put waits for room"
    partition.offsets.delivered(TP, 5, partition.offsets.epoch[TP])  # the delivery moved on meanwhile (put in flight)
    partition.flow.resume()  # clears the queues: the queued record and the waiting put are dropped
    await asyncio.gather(waiting, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert partition.offsets.rewinding.get(TP) == 5, "the partition is read again from the record whose put was cut"
    assert partition.offsets.rewinding.get(other) == 0
    assert 5 in partition.seeks


async def test_a_hole_met_again_after_the_re_read_is_genuine_and_left_to_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transactional producer's commit markers take offsets: such a hole is there on every read."""
    gaps: list[tuple[Any, int, int]] = []

    async def faust_add_gap(consumer: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        gaps.append((tp, offset_from, offset_to))

    monkeypatch.setattr(rewind, "_faust_add_gap", faust_add_gap)
    partition = _Partition(10, 15, batch=5, missing=frozenset({12}))  # 12 is a commit marker: not a record
    partition.faust_seeks_to_committed(10)
    taken = await partition.run()
    assert partition.seeks == [10, 12], "Faust's seek to 10 is made again by ours; then read again once from the hole"
    assert gaps == [(TP, 12, 12)], "then the hole is Faust's to count"
    assert taken == [10, 11, 13, 14]


async def test_a_revoke_ends_a_rewind_and_a_seek_of_faust_replaces_it() -> None:
    sought: list[tuple[Any, int]] = []
    offsets = ReadOffsets(reseek=lambda tp, offset: sought.append((tp, offset)))
    offsets.rewind(TP, 10)
    offsets.pop(TP, None)
    assert TP not in offsets.rewinding
    offsets.rewind(TP, 10)
    offsets.update({TP: 40})
    assert offsets.rewinding[TP] == 40, "until the record at 40 comes, what was fetched before the seek is stale"
    assert sought == [(TP, 40)], "the consumer is sought there once more"
    assert offsets[TP] == 39, "Faust reads the offset before the next one to deliver"
    offsets.update({TP: None})
    assert TP not in offsets.rewinding and offsets[TP] is None


def test_the_fetch_loop_s_own_writes_do_not_move_the_position() -> None:
    offsets = ReadOffsets()
    offsets.update({TP: 60})
    offsets[TP] = 61  # written after a hand-over that straddled the seek
    assert offsets.next[TP] == 60
    epoch = offsets.epoch[TP]
    offsets.update({TP: 60})
    offsets.delivered(TP, 61, epoch)
    assert offsets.next[TP] == 60, "a delivery that straddled a seek does not count"
    offsets.delivered(TP, 60, offsets.epoch[TP])
    assert offsets.next[TP] == 61


def test_partitions_not_tracked_keep_faust_s_values() -> None:
    offsets = ReadOffsets(lambda tp: tp.topic == TOPIC)
    changelog = FaustTP("t-order-state-changelog", 0)
    offsets[changelog] = 7
    assert offsets[changelog] == 7
    assert offsets.pop(changelog, None) == 7
    assert offsets[changelog] is None


def test_a_record_that_never_comes_back_does_not_stall_the_partition_for_ever() -> None:
    clock = _Clock()
    offsets = ReadOffsets(clock=clock)
    offsets.rewind(TP, 10)
    assert offsets.check(TP, 12) == rewind.STALE
    clock.now += GIVE_UP_S + 1
    assert offsets.check(TP, 12) == rewind.GAP
    assert TP not in offsets.rewinding


def test_every_faust_consumer_of_our_apps_rewinds() -> None:
    from faust.transport.consumer import Consumer

    app = create_app("rewind-test", CommonSettings(topic_prefix="unit-"))
    assert Consumer._add_gap is rewind._hole_seen_on_delivery
    assert isinstance(app.consumer._read_offset, ReadOffsets)
    assert FlowControlQueue.clear.__module__ == rewind.__name__
    assert ThrowableQueue.clear.__module__ == rewind.__name__, "the queue class Faust's channels have"
    assert type(app.FlowControlQueue(maxsize=1)) is ThrowableQueue


def test_an_ack_faust_makes_for_a_record_it_skipped_or_of_a_past_generation_is_not_counted() -> None:
    """The stream acknowledges what it skips unprocessed (flow suspended, past generation); a revoke forgets the
    committed offset, so counting such an ack lets the next commit pass over every record before it."""
    from faust.types import Message

    app = create_app("rewind-test", CommonSettings(topic_prefix="unit-"))
    consumer = app.consumer
    app.topics.acks_enabled_for = lambda topic: topic == TOPIC
    app.consumer_generation_id = 7

    def message(offset: int, generation: int) -> Message:
        return Message(TOPIC, 0, offset, 0.0, 0, {}, b"k", b"v", None, generation_id=generation)

    app.flow_control.resume()
    assert consumer.ack(message(5, 6)) is False, "fetched in generation 6, acknowledged in 7"
    app.flow_control.suspend()
    assert consumer.ack(message(6, 7)) is False, "acknowledged while the flow is suspended (a rebalance)"
    assert not consumer._acked[TP], "neither is counted: the next commit cannot pass over them"
    app.flow_control.resume()
    assert consumer.ack(message(7, 7)) is True
    assert list(consumer._acked[TP]) == [7]
