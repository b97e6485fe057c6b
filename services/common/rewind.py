"""Every record of a committed partition reaches its agent, in order: none skipped around a restart or a rebalance.

Faust's fetch loop (`Consumer._drain_messages`) keeps, per partition, the offset of the last
record it handed over (`_read_offset`), takes a record below it for a duplicate and drops it, and
takes a record above the next one for a hole in the log (compacted records, transaction markers),
which it counts as processed (`_add_gap`). That bookkeeping is wrong around a seek, in the ways
measured here (`tests/e2e/test_chaos_kill.py` lost 1 to 5 of 240 incidents in about one run in
three, with no error anywhere):

* **A batch fetched before a seek goes on after it.** When a rebalance or a restart seeks to the
  committed offsets, the rest of a batch fetched before arrives far ahead of the new position;
  Faust counts the hole as processed, so the next commit passes over records no agent ever saw.
* **A delivery in flight during the seek moves the position after it.** The loop writes the
  offset of the record it was handing over once the hand-over ends, even when Faust sought to the
  committed offsets meanwhile (Faust's recovery resumes the partitions before it seeks them). Its
  seek also leaves the *next* offset to read where the loop keeps the *last* one read, so a stale
  record right after the committed offset passes as the next one. Either way the re-read copies
  of the records in between are then taken for duplicates and dropped.
* **Records handed over are dropped.** Faust clears the agents' queues when it resumes the flow
  after a rebalance (`FlowControlEvent.resume`), after it sought: records the loop handed over in
  between are gone, and the loop's position is already past them. With nothing committed yet on a
  partition, Faust's seek does not even move the consumer back: records handed over before it and
  dropped are never fetched again. The clear also cancels the puts waiting for room in a full
  queue (records of any partition of the agent's topics).
* **Records fetched during Faust's seek are dropped.** Faust's seek to the committed offsets is two
  steps: the consumer thread seeks, then the read offsets are set once that returns. In between,
  the fetch loop reads the partition again from the committed offset, judged against the old
  position (taken for duplicates), possibly to its end; when the position then goes back, nothing
  is fetched from there again.
* **A fetch returned while the flow is stopped is dropped whole.** Faust then seeks to the
  committed offsets, which does not move the consumer of a partition with nothing committed: its
  records are never fetched again (returns' `returns[0]` and `returns[3]` after a restart).
* **Records skipped unprocessed are acknowledged.** The stream acknowledges a record it takes while
  the flow is suspended or from a past generation, without handing it to the agent; a revoke
  forgets the committed offset until the next seek, so a commit meanwhile passes over every record
  up to it. Such acks are not counted (`Consumer.ack`): the record is read again, as is a batch
  finished across a rebalance or during a stop (handled twice at worst, never skipped).

An agent's queue is mode's `ThrowableQueue` (Faust's `App.FlowControlQueue`), whose `clear`
replaces `FlowControlQueue.clear` without calling it: patching only the latter left every drop
unseen (`tests/chaos/test_kill.py`, one seed, two busy loops alongside: 11 to 41 of 80 SMS lost in 5 of
6 runs, every one a record a restarted order_watcher handed over during its recovery and dropped; with
the queue fixed, 3 and 24 lost in 2 of 4 runs, records fetched again during its seek).

So, for every partition whose records are acknowledged (the topics agents consume; not the
changelogs, which Faust's recovery reads with its own bookkeeping), `install()` makes the position
exact: the offset of the next record to deliver. Only a seek sets it (Faust's seek to the
committed offsets, or ours); only a completed delivery advances it, and not when a seek came
while it was in flight. A record below it is not delivered again; a record above it means that
records did not come: the partition is sought back to the position and marked as rewinding, and
until the record at the position comes, no other record of the partition is delivered (they are
stale; the re-fetch brings them again, in order). A record dropped from an agent's queue rewinds
its partition the same way, and so does a put a clear cut short. Faust's seek is made again by ours
once the read offsets are set, as a rewind to the committed offset, or, with nothing committed, to the
partition's first offset (where the group starts it).

A hole can be genuine: our own topics have neither compaction nor transactions, but a store may
publish with a transactional producer (each commit marker takes an offset). So a hole is first
read again, and only a hole met again at the same place after the re-read is taken as genuine
(and handed to Faust's own `_add_gap`, so the commit can pass over it). Should the record a
rewind waits for never come (past retention, say), the rewind gives up `GIVE_UP_S` after it began.

This relies on private parts of faust-streaming's `Consumer` and of mode's `FlowControlQueue`
(the versions pinned in constraints.txt); `tests/unit/common/test_rewind.py` runs Faust's own
fetch loop against them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["GIVE_UP_S", "ReadOffsets", "install"]

logger = logging.getLogger(__name__)

_MISSING = object()
GIVE_UP_S = 30.0

DELIVER, STALE, REWIND, GAP = "deliver", "stale", "rewind", "gap"


class ReadOffsets(dict[Any, int | None]):
    """Faust's per-partition read offsets (`Consumer._read_offset`), kept exact for the partitions `tracks` names.

    For those, what Faust reads is the offset before the next record to deliver (Faust's "last
    read"), and what Faust's fetch loop writes after handing a record over is ignored: only a seek
    (`update`, `seek`, `rewind`) and a completed delivery (`delivered`) move the position. Other
    partitions (changelogs) keep Faust's own values.
    """

    def __init__(self, tracks: Callable[[Any], bool] = lambda tp: True,
                 clock: Callable[[], float] = time.monotonic,
                 reseek: Callable[[Any, int | None], None] = lambda tp, offset: None) -> None:
        super().__init__()
        self.tracks = tracks
        self.clock = clock
        self.reseek = reseek
        """Seeks the consumer itself to an offset, None: to the partition's first (after Faust's seek to the
        committed offsets: see `update`)."""
        self.next: dict[Any, int] = {}
        """The offset of the next record to deliver, per tracked partition (absent: not known yet)."""
        self.epoch: defaultdict[Any, int] = defaultdict(int)
        """Counts the seeks of each partition: a delivery that straddles one does not move the position."""
        self.sought: defaultdict[Any, int] = defaultdict(int)
        """Counts Faust's seeks to the committed offsets and the revokes of each partition."""
        self.rewinding: dict[Any, int] = {}
        self.since: dict[Any, float] = {}
        self.reread: dict[Any, tuple[int, int]] = {}  # the last hole read again, per partition

    # -- what Faust reads and writes -------------------------------------------------------------------

    def __getitem__(self, tp: Any) -> int | None:
        if not self.tracks(tp):
            return super().get(tp)
        position = self.next.get(tp)
        return None if position is None else position - 1

    def get(self, tp: Any, default: Any = None) -> Any:
        value = self[tp]
        return default if value is None else value

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if not self.tracks(tp):
            super().__setitem__(tp, offset)
        # else: the fetch loop's note of the record it handed over, written even when the hand-over was cut
        # short or a seek came meanwhile: `delivered` moves the position (Faust seeks these with `update`)

    def __delitem__(self, tp: Any) -> None:
        self.pop(tp, None)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Faust's seek to the committed offsets (`Consumer.perform_seek`): the consumer thread seeks first, and the
        read offsets are set only once that returns. Meanwhile the fetch loop goes on, and the records it fetched
        again from the committed offset were judged against the old position (taken as stale, dropped): the
        consumer may already be at the end of the partition when the position goes back. So the position is
        set, and the consumer sought there once more, as a rewind: what was fetched before it is stale.

        With nothing committed, Faust's seek leaves the consumer where it is, past any record fetched before
        and dropped (Faust drops a whole fetch that returns while its flow is stopped, then "seeks back to the
        committed offsets"); the group starts such a partition at its first offset, so the consumer is
        sought there (`reseek(tp, None)`, which rewinds once that offset is known)."""
        for tp, offset in dict(*args, **kwargs).items():
            if not self.tracks(tp):
                super().__setitem__(tp, offset)
                continue
            self.sought[tp] += 1
            if offset is None or offset < 0:
                self.seek(tp, None)
                self.reseek(tp, None)
            else:
                self.rewind(tp, offset)
                self.reseek(tp, offset)

    def pop(self, tp: Any, default: Any = _MISSING) -> Any:  # a revoked partition
        value = self[tp]
        self.epoch[tp] += 1
        self.sought[tp] += 1
        for state in (self.next, self.rewinding, self.since, self.reread):
            state.pop(tp, None)
        super().pop(tp, None)
        return default if value is None and default is not _MISSING else value

    # -- the position ------------------------------------------------------------------------------------

    def seek(self, tp: Any, offset: int | None) -> None:
        """The partition was sought to `offset` (the next record to read): any rewind ends there."""
        self.epoch[tp] += 1
        self.rewinding.pop(tp, None)
        if offset is None or offset < 0:
            self.next.pop(tp, None)
        else:
            self.next[tp] = offset

    def rewind(self, tp: Any, offset: int) -> None:
        """Seek back to `offset` and deliver nothing else of the partition until the record there comes."""
        self.seek(tp, offset)
        self.rewinding[tp] = offset
        self.since[tp] = self.clock()

    def check(self, tp: Any, offset: int) -> str:
        """What to do with the record at `offset` of a tracked partition: DELIVER it, drop it as STALE, REWIND
        (the records before it did not come: read them again first), or deliver it past a genuine GAP."""
        position = self.next.get(tp)
        if position is None or offset == position:
            self.rewinding.pop(tp, None)
            return DELIVER
        if offset < position:
            return STALE  # delivered already since the last seek, or before the committed offset
        if self.reread.get(tp) == (position, offset):
            del self.reread[tp]  # the same hole after a re-read: genuine (transaction markers, compaction)
            self.rewinding.pop(tp, None)
            return GAP
        waiting = self.rewinding.get(tp)
        if waiting is not None:
            if self.clock() - self.since[tp] < GIVE_UP_S:
                return STALE  # fetched before the rewind's seek: the re-fetch brings it again, in order
            logger.error("record %d of %s never came back after a rewind; going on from %d", waiting, tp, offset)
            del self.rewinding[tp]
            return GAP
        self.reread[tp] = (position, offset)
        self.rewind(tp, position)
        return REWIND

    def delivered(self, tp: Any, offset: int, epoch: int) -> None:
        """The record at `offset` reached its agents; unless a seek came meanwhile, the next one is due."""
        if self.epoch[tp] == epoch:
            self.next[tp] = offset + 1

    def dropped(self, tp: Any, offset: int) -> bool:
        """A delivered record was dropped before any agent took it: rewind to it unless the position is before it.

        With no position (nothing committed yet: Faust's seek leaves the consumer where it was, past the
        records delivered before it), the dropped record is where reading must go on."""
        position = self.next.get(tp)
        if not self.tracks(tp) or (position is not None and offset >= position):
            return False
        self.rewind(tp, offset)
        return True


SEEK_TIMEOUT_S = 30.0
"""Longest a seek waits for the consumer thread (one that is stopping never makes it)."""

_faust_add_gap: Callable[..., Awaitable[None]] | None = None
_consumers: weakref.WeakSet[Any] = weakref.WeakSet()
_seeking: set[asyncio.Future[None]] = set()


def _delivering_in_order(
    callback: Callable[[Any], Awaitable[Any]], offsets: ReadOffsets, consumer: Any
) -> Callable[[Any], Awaitable[Any]]:
    """Wrap the consumer's delivery callback: only the next record of a tracked partition is delivered."""

    async def deliver(message: Any) -> Any:
        tp, offset = message.tp, message.offset
        if not offsets.tracks(tp):
            return await callback(message)
        position = offsets.next.get(tp)
        verdict = offsets.check(tp, offset)
        if verdict == STALE:
            return None
        if verdict == REWIND and position is not None:  # `check` rewinds only from a known position
            logger.warning("records %d..%d of %s were skipped by the fetch loop; reading them again from %d",
                           position, offset - 1, tp, position)
            await _seek(consumer, tp, position)
            return None
        if verdict == GAP and _faust_add_gap is not None and position is not None:
            await _faust_add_gap(consumer, tp, position, offset - 1)
        epoch = offsets.epoch[tp]
        result = await callback(message)
        offsets.delivered(tp, offset, epoch)
        return result

    return deliver


async def _hole_seen_on_delivery(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Replaces `Consumer._add_gap`: the delivery (`_delivering_in_order`) reads a hole again or accounts for it."""


def _rewind_dropped(items: Iterable[Any]) -> None:
    """Records dropped from an agent's queue (Faust clears them when it resumes the flow) are read again."""
    lowest: dict[Any, int] = {}
    for item in items:
        message = getattr(item, "message", item)
        tp, offset = getattr(message, "tp", None), getattr(message, "offset", None)
        if tp is not None and isinstance(offset, int) and offset < lowest.get(tp, offset + 1):
            lowest[tp] = offset
    for consumer in list(_consumers):
        offsets = consumer._read_offset
        for tp, offset in lowest.items():
            if isinstance(offsets, ReadOffsets) and offsets.dropped(tp, offset):
                logger.warning("records of %s from %d were dropped before an agent took them; reading them again",
                               tp, offset)
                _seek_soon(consumer, tp, offset)


def _seek_soon(consumer: Any, tp: Any, offset: int) -> None:
    _soon(_seek(consumer, tp, offset))


def _soon(seeking: Awaitable[None]) -> None:
    task = asyncio.ensure_future(seeking)
    _seeking.add(task)  # kept until done (the loop holds only weak references to tasks)
    task.add_done_callback(_seeking.discard)


async def _rewind_to_start(consumer: Any, offsets: ReadOffsets, tp: Any, sought: int) -> None:
    """Rewind `tp` to its first offset, unless Faust sought it again (or it was revoked) meanwhile."""
    try:
        start = (await consumer.earliest_offsets(tp))[tp]
    except Exception as exc:  # revoked meanwhile, say: the next assignment seeks again anyway
        logger.warning("could not find where %s starts: %s: %s", tp, exc.__class__.__name__, exc)
        return
    if offsets.sought[tp] == sought:
        offsets.rewind(tp, start)
        await _seek(consumer, tp, start)


async def _seek(consumer: Any, tp: Any, offset: int) -> None:
    try:
        await consumer._seek(tp, offset)  # in the consumer thread (`_seeking_in_the_consumer_thread`)
    except Exception as exc:  # revoked meanwhile, say: the next assignment seeks to the committed offset anyway
        logger.warning("could not seek %s back to %d: %s: %s", tp, offset, exc.__class__.__name__, exc)


async def _seeking_in_the_consumer_thread(self: Any, partition: Any, offset: int) -> None:
    """Replaces `ThreadDelegateConsumer._seek`, which seeks the aiokafka consumer from the event loop's thread
    while the consumer thread may be handing fetched records over: aiokafka is not thread-safe, and a seek that
    dropped a partition's fetched records in the middle of `Fetcher.fetched_records` crashed the worker
    (KeyError on that partition). The seek is queued to the consumer thread, which makes it between its calls."""
    thread = self._thread
    await asyncio.wait_for(thread.call_thread(thread.seek, partition, offset), timeout=SEEK_TIMEOUT_S)


def _rewinding_what_clear_drops(original: Callable[[Any], None]) -> Callable[[Any], None]:
    def clear(self: Any) -> None:
        dropped = list(self._queue)
        original(self)
        if dropped:
            _rewind_dropped(dropped)

    return clear


def _rewinding_a_cut_put(original: Callable[[Any, Any], Awaitable[None]]) -> Callable[[Any, Any], Awaitable[None]]:
    async def put(self: Any, value: Any) -> None:
        try:
            await original(self, value)
        except asyncio.CancelledError:  # a clear cancels the puts waiting for room: the record never got in
            _rewind_dropped([value])
            raise

    return put


def _counting_only_acks_of_this_generation(original: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """Faust's stream acknowledges a record it skips unprocessed (taken from its queue while the flow is
    suspended, or fetched in a past generation: `Stream._py_aiter`), and a revoke forgets the committed offset
    until the next seek, so the next commit can pass over everything up to such a record. Acks made then are
    not counted: the record is read again from the committed offset (at worst handled twice, never skipped)."""

    def ack(self: Any, message: Any) -> bool:
        app = self.app
        if (getattr(message, "generation_id", None) not in (None, app.consumer_generation_id)
                or not app.flow_control.is_active()):
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        return original(self, message)

    return ack


def install() -> None:
    """Patch Faust's consumer class and mode's flow-control queues once (idempotent); consumers created afterwards
    deliver every record in order.

    Both queue classes are patched: an agent's channel has mode's `ThrowableQueue` (`App.FlowControlQueue`),
    whose `clear` replaces `FlowControlQueue.clear` without calling it and also cancels the puts waiting for
    room in a full queue (the conductor's, for a record of any partition of the agent's topics)."""
    from faust.transport.consumer import Consumer, ThreadDelegateConsumer
    from mode.utils.queues import FlowControlQueue, ThrowableQueue

    global _faust_add_gap
    if getattr(Consumer, "_forewarn_rewind", False):
        return
    _faust_add_gap = Consumer._add_gap
    original_init = Consumer.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)

        def tracks(tp: Any) -> bool:  # the partitions whose records are acknowledged (and committed)
            return bool(self.app.topics.acks_enabled_for(tp.topic))

        def reseek(tp: Any, offset: int | None) -> None:
            if offset is not None:
                _seek_soon(self, tp, offset)
            else:
                _soon(_rewind_to_start(self, offsets, tp, offsets.sought[tp]))

        offsets = ReadOffsets(tracks, reseek=reseek)
        offsets.update(self._read_offset)
        self._read_offset = offsets
        self.callback = _delivering_in_order(self.callback, offsets, self)
        _consumers.add(self)

    Consumer.__init__ = __init__
    Consumer._add_gap = _hole_seen_on_delivery
    ThreadDelegateConsumer._seek = _seeking_in_the_consumer_thread
    Consumer.ack = _counting_only_acks_of_this_generation(Consumer.ack)
    Consumer._forewarn_rewind = True
    for queue_class in (FlowControlQueue, ThrowableQueue):
        queue_class.clear = _rewinding_what_clear_drops(queue_class.__dict__["clear"])
    FlowControlQueue.put = _rewinding_a_cut_put(FlowControlQueue.put)
