"""Deadlines indexed by due time, so a tick touches only what is due (no scan of open work).

The buckets live in a mutable mapping with keys `"<partition>|<bucket>"` (a bucket is
`bucket_seconds` wide, 5 s by default), each value a small tuple of `(due_iso, ref, kind)`. Narrow
buckets keep each schedule/cancel cheap (it rewrites one bucket), while a tick reads only the
buckets between the previous tick and now. Rows and buckets are tuples of strings: the garbage collector
stops tracking those, where it walks every list at each full collection (two or three rows per open order:
as lists, 200,000 events through order_watcher spent 7 s in full collections, the longest 200 ms; as
tuples 1 s, the longest 55 ms). Each partition's *clock* lives apart, under
`"<partition>|clock"`: the `cursor` (the last bucket drained) and what has been `read` of the
inputs (see `watermark`).

In the services the two have different homes. Every bucket entry is a function of one key's
state (the rules' `pending_deadlines`), so the buckets are kept in memory only
(`DerivedDeadlines`): rebuilt from the state when a partition is assigned, dropped when it goes,
never changelogged. The clock cannot be derived, so it lives in a small changelogged table, one
key per partition (written at most once per partition per batch). A unit test may keep both in
one dict.

A deadline born overdue (scheduled when its due time was already drained, e.g. an order placed
after its ship-by) is not fired at the next tick but `hold` later: whatever the store published
with the event that scheduled it (its shipment, its payment) has that long to be read first."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DeadlineIndex", "DerivedDeadlines", "DueEntry"]

BUCKET_SECONDS = 5
Row = tuple[str, str, str]
"""A bucket's entry: (due time, ISO 8601 in UTC; ref; kind)."""


@dataclass(frozen=True, order=True)
class DueEntry:
    due: datetime
    ref: str  # what the deadline is about (an order id, a return id)
    kind: str  # which deadline (ship_by, delivery_by, refund_sla, ...)


class DeadlineIndex:
    """Schedule, cancel and pop due entries for one partition at a time.

    `table` holds the buckets; `clock` each partition's cursor and read positions (the same
    mapping when not given)."""

    def __init__(self, table: MutableMapping[str, Any], *, clock: MutableMapping[str, Any] | None = None,
                 bucket_seconds: int | None = None, hold: timedelta = timedelta(0)) -> None:
        self.table = table
        self.clock = table if clock is None else clock
        self.bucket_seconds = bucket_seconds or BUCKET_SECONDS
        self.hold_buckets = math.ceil(hold.total_seconds() / self.bucket_seconds)

    def _bucket(self, at: datetime) -> int:
        return int(at.timestamp()) // self.bucket_seconds

    @staticmethod
    def _key(partition: int, bucket: int) -> str:
        return f"{partition}|{bucket}"

    @staticmethod
    def clock_key(partition: int) -> str:
        """The key of the partition's clock (cursor and read positions) in the clock mapping."""
        return f"{partition}|clock"

    def _clock(self, partition: int) -> dict[str, Any]:
        return dict(self.clock.get(self.clock_key(partition)) or {})

    def _set_clock(self, partition: int, **changes: Any) -> None:
        self.clock[self.clock_key(partition)] = {**self._clock(partition), **changes}  # a new value: it is written

    def read_positions(self, partition: int) -> dict[str, int]:
        """What the state says was read of the partition's inputs (next offset per topic; see `watermark`)."""
        return dict(self._clock(partition).get("read") or {})

    def record_read(self, partition: int, positions: dict[str, int]) -> None:
        """Record, with the clock, how far the inputs that can clear the deadlines have been read."""
        if positions and positions != self.read_positions(partition):
            self._set_clock(partition, read=positions)

    def cursor(self, partition: int) -> int | None:
        value = self._clock(partition).get("cursor")
        return int(value) if value is not None else None

    def _slots(self, partition: int, due: datetime) -> list[int]:
        """The buckets an entry due at `due` can be in: its own, or (born overdue) the hold after the cursor."""
        bucket = self._bucket(due)
        cursor = self.cursor(partition)
        if cursor is None or bucket > cursor:
            return [bucket]
        return list(range(cursor + 1, cursor + 2 + self.hold_buckets))

    def schedule(self, partition: int, entry: DueEntry) -> None:
        """Add an entry (idempotent per ref+kind+due). A due time already drained lands `hold` after the cursor."""
        bucket = self._slots(partition, entry.due)[-1]
        key = self._key(partition, bucket)
        row = _row(entry)
        current = self.table.get(key) or ()
        if row not in current:
            self.table[key] = (*current, row)  # a new value: written through a staged view like any other

    def cancel(self, partition: int, entry: DueEntry) -> None:
        for bucket in self._slots(partition, entry.due):
            key = self._key(partition, bucket)
            current = self.table.get(key)
            if not current:
                continue
            row = _row(entry)
            kept = tuple(r for r in current if r != row)
            if len(kept) != len(current):
                self._put(key, kept)

    def pop_due(self, partition: int, now: datetime) -> list[DueEntry]:
        """Remove and return every entry due at or before `now`, earliest first."""
        now_bucket = self._bucket(now)
        cursor = self.cursor(partition)
        start = now_bucket - 1 if cursor is None else cursor
        due: list[DueEntry] = []
        if cursor is None:
            # First tick on this partition: anything scheduled before a cursor existed sits in
            # buckets at or before its due time; scan back over the scheduled keys once.
            start = min([now_bucket, *self._buckets(partition)]) - 1
        for bucket in range(start, now_bucket + 1):
            key = self._key(partition, bucket)
            rows = self.table.get(key)
            if not rows:
                continue
            ready = [r for r in rows if datetime.fromisoformat(r[0]) <= now]
            if not ready:
                continue
            due.extend(DueEntry(datetime.fromisoformat(r[0]), r[1], r[2]) for r in ready)
            self._put(key, tuple(r for r in rows if r not in ready))
        drained = now_bucket - 1  # the current bucket may still hold entries due later in it
        if cursor is None or drained > cursor:
            self._set_clock(partition, cursor=drained)
        if cursor is None and self.hold_buckets:
            # The first tick on this partition: what is due was scheduled before the clock started, so
            # whether it was born overdue is unknown; it waits the hold as if it were.
            for entry in due:
                self.schedule(partition, entry)
            return []
        return sorted(due)

    def _buckets(self, partition: int) -> list[int]:
        prefix = f"{partition}|"
        suffixes = (key[len(prefix):] for key in list(self.table.keys()) if key.startswith(prefix))
        return [int(suffix) for suffix in suffixes if suffix.isdigit()]

    def _put(self, key: str, rows: tuple[Row, ...]) -> None:
        if rows:
            self.table[key] = rows
        else:
            del self.table[key]


def _row(entry: DueEntry) -> Row:
    return entry.due.astimezone(UTC).isoformat(), entry.ref, entry.kind


@dataclass
class DerivedDeadlines:
    """The deadline buckets of the partitions this process owns, in memory, derived from their state.

    Not changelogged: each entry is a function of one key's state, so the index cannot disagree
    with the state after a crash (two tables, one of them behind, as a kill -9 between their
    changelog writes could leave them). The agent's step writes `buckets` through its staged view,
    like a table; what the state's recovery brings in is `recovered` (key by partition); once the
    state is recovered, `assigned` rebuilds each partition not held here from its state, re-asserts
    the deadlines of keys recovered into a partition already held, and drops the partitions that
    went elsewhere. Pure: the agent wires it to its tables (`services.common.ticks.derive_deadlines`).
    """

    buckets: dict[str, Any] = field(default_factory=dict)
    """`"<partition>|<bucket>"` -> rows, as `DeadlineIndex` keeps them."""
    held: set[int] = field(default_factory=set)
    """Partitions whose buckets are here (rebuilt since they were assigned)."""
    _recovered: dict[int, set[str]] = field(default_factory=dict)

    def recovered(self, partition: int, key: str) -> None:
        """A record of the state's changelog for `key` was read back into the state (recovery)."""
        self._recovered.setdefault(partition, set()).add(key)

    def assigned(
        self, active: Iterable[int], *, stored_keys: Callable[[int], Iterable[str]],
        entries: Callable[[str], Iterable[DueEntry]], clock: MutableMapping[str, Any],
        hold: timedelta = timedelta(0),
    ) -> list[int]:
        """The state of the `active` partitions is recovered: make the buckets agree with it; the rebuilt
        partitions, in order.

        A partition not held here is rebuilt from the keys its recovery brought in and those its store
        already held (`stored_keys`: a durable store recovers only what it lacks); one held here only
        re-asserts the deadlines of the keys recovered into it (its own writes read back, or another
        owner's in between: a stale entry left behind detects nothing when it fires). `entries(key)`
        are the deadlines the key's state implies now (none once it is gone). Scheduling goes through
        the partition's clock: an entry already drained waits the `hold`, as if born overdue."""
        active = set(active)
        for partition in sorted(self.held - active):
            self.drop(partition)
        rebuilt = []
        for partition in sorted(active):
            keys = self._recovered.pop(partition, set())
            index = DeadlineIndex(self.buckets, clock=clock, hold=hold)  # reads the cursor only
            if partition not in self.held:
                self.drop(partition)
                keys |= set(stored_keys(partition))
                rebuilt.append(partition)
            for key in sorted(keys):
                for entry in entries(key):
                    index.schedule(partition, entry)
            self.held.add(partition)
        self._recovered.clear()
        return rebuilt

    def drop(self, partition: int) -> None:
        """Forget the partition's buckets (it went to another worker, or is about to be rebuilt)."""
        prefix = f"{partition}|"
        for key in [key for key in self.buckets if key.startswith(prefix)]:
            del self.buckets[key]
        self.held.discard(partition)

