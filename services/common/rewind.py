"""Rewind instead of skipping: a fix for records Faust's consumer can lose around a rebalance.

Faust's fetch loop (`Consumer._drain_messages`) iterates a batch it fetched before awaiting each
delivery. If a rebalance happens meanwhile, the partitions are re-seeked to their committed
offsets, and the rest of the old batch then arrives far ahead of that new read offset. Faust
takes the hole for compacted records or transaction markers (`_add_gap`): it counts the hole as
processed, so the next commit passes over records no agent ever saw, and it drops the records of
the hole when the re-fetch brings them. Measured here: a SIGKILLed worker restarting while its
dead predecessor was still in the group lost 2 to 5 of 240 incidents in about one run in six
(`tests/e2e/test_chaos_kill.py`).

A hole can also be genuine: our own topics have neither compaction nor transactions, but a store
may publish with a transactional producer (each commit marker takes an offset). So a hole is first
read again, and only a hole met again at the same place after the re-read is taken as genuine
(and handed to Faust's own `_add_gap`). `install()` changes three things in every Faust consumer:

* a hole is not counted as processed the first time: the partition is sought back to the read
  offset (where the next record should have come from) and marked as rewinding;
* while a partition rewinds, records other than the one at the rewind offset are not delivered
  (they are stale: the re-fetch brings them again, in order);
* while a partition rewinds, the loop's bookkeeping of the last read offset is not advanced by
  those stale records, so the re-fetched ones are not taken for duplicates.

The rewind ends when the record at the rewind offset arrives, or when Faust seeks or revokes the
partition itself, or (a safety valve, should that record be gone, e.g. past retention) when a
record arrives `GIVE_UP_S` after the rewind began.

This relies on private parts of faust-streaming's `Consumer` (the version pinned in
constraints.txt); `tests/unit/common/test_rewind.py` pins the behaviour.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ReadOffsets", "install"]

logger = logging.getLogger(__name__)

_MISSING = object()
GIVE_UP_S = 30.0


class ReadOffsets(defaultdict[Any, int | None]):
    """Faust's per-partition read offsets, plus the partitions being rewound and the offset each waits for."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(lambda: None)
        self.rewinding: dict[Any, int] = {}
        self.since: dict[Any, float] = {}
        self.reread: dict[Any, tuple[int, int]] = {}  # the last hole read again, per partition
        self.clock = clock

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        waiting = self.rewinding.get(tp)
        if waiting is not None and offset != waiting:
            return  # a stale record's offset: the re-fetch starts at `waiting`
        super().__setitem__(tp, offset)

    def update(self, *args: Any, **kwargs: Any) -> None:  # Faust's own seek to committed offsets
        for tp, offset in dict(*args, **kwargs).items():
            self.rewinding.pop(tp, None)
            super().__setitem__(tp, offset)

    def pop(self, tp: Any, default: Any = _MISSING) -> Any:  # a revoked partition
        self.rewinding.pop(tp, None)
        self.reread.pop(tp, None)
        return super().pop(tp) if default is _MISSING else super().pop(tp, default)

    def rewind(self, tp: Any, offset: int) -> None:
        self.rewinding[tp] = offset
        self.since[tp] = self.clock()
        super().__setitem__(tp, offset)

    def admits(self, tp: Any, offset: int) -> bool:
        """Whether a record may be delivered; the one at the rewind offset ends the rewind."""
        waiting = self.rewinding.get(tp)
        if waiting is None:
            return True
        if offset != waiting and self.clock() - self.since[tp] < GIVE_UP_S:
            return False
        if offset != waiting:
            logger.error("record %d of %s never came back after a rewind; going on from %d", waiting, tp, offset)
        del self.rewinding[tp]
        super().__setitem__(tp, offset)
        return True


def _delivering_only_admitted(
    callback: Callable[[Any], Awaitable[Any]], offsets: ReadOffsets
) -> Callable[[Any], Awaitable[Any]]:
    async def deliver(message: Any) -> Any:
        if not offsets.admits(message.tp, message.offset):
            return None
        return await callback(message)

    return deliver


_faust_add_gap: Callable[..., Awaitable[None]] | None = None


async def _rewind_instead_of_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Replaces `Consumer._add_gap(tp, read_offset + 1, offset)`: seek back to the read offset, once per hole."""
    offsets: ReadOffsets = self._read_offset
    target = offset_from - 1
    if tp in offsets.rewinding:
        return  # already rewinding: this is another stale record of the same batch
    if offsets.reread.get(tp) == (offset_from, offset_to):
        del offsets.reread[tp]  # the same hole after a re-read: genuine (transaction markers, compaction)
        if _faust_add_gap is not None:
            await _faust_add_gap(self, tp, offset_from, offset_to)
        return
    logger.warning("records %d..%d of %s were skipped by the fetch loop; reading them again from %d",
                   offset_from, offset_to - 1, tp, target)
    offsets.reread[tp] = (offset_from, offset_to)
    offsets.rewind(tp, target)
    await self._seek(tp, target)


def install() -> None:
    """Patch Faust's consumer class once (idempotent); every consumer created afterwards rewinds."""
    from faust.transport.consumer import Consumer

    global _faust_add_gap
    if getattr(Consumer, "_forewarn_rewind", False):
        return
    _faust_add_gap = Consumer._add_gap
    original_init = Consumer.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        offsets = ReadOffsets()
        offsets.update(self._read_offset)
        self._read_offset = offsets
        self.callback = _delivering_only_admitted(self.callback, offsets)

    Consumer.__init__ = __init__
    Consumer._add_gap = _rewind_instead_of_gap
    Consumer._forewarn_rewind = True
