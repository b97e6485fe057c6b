"""Deadlines indexed by due time, so a tick touches only what is due (no scan of open work).

The index lives in any mutable mapping: a Faust table in the services (its writes happen while
an agent processes a tick or an event, so they reach the changelog), a dict in unit tests.
Keys are `"<partition>|<bucket>"` (a bucket is `bucket_seconds` wide, 5 s by default), plus the
partition's `cursor` and what has been `read` of its inputs (see `watermark`); each bucket's value is
a small list of `[due_iso, ref, kind]`. Narrow buckets keep each schedule/cancel cheap (it rewrites one
bucket), while a tick reads only the buckets between the previous tick and now.
A cursor per partition remembers the last bucket drained, so each tick reads at most the
buckets between the previous tick and now.

A deadline born overdue (scheduled when its due time was already drained, e.g. an order placed
after its ship-by) is not fired at the next tick but `hold` later: whatever the store published
with the event that scheduled it (its shipment, its payment) has that long to be read first."""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DeadlineIndex", "DueEntry"]

BUCKET_SECONDS = 5


@dataclass(frozen=True, order=True)
class DueEntry:
    due: datetime
    ref: str  # what the deadline is about (an order id, a return id)
    kind: str  # which deadline (ship_by, delivery_by, refund_sla, ...)


class DeadlineIndex:
    """Schedule, cancel and pop due entries for one partition at a time."""

    def __init__(self, table: MutableMapping[str, Any], *, bucket_seconds: int | None = None,
                 hold: timedelta = timedelta(0)) -> None:
        self.table = table
        self.bucket_seconds = bucket_seconds or BUCKET_SECONDS
        self.hold_buckets = math.ceil(hold.total_seconds() / self.bucket_seconds)

    def _bucket(self, at: datetime) -> int:
        return int(at.timestamp()) // self.bucket_seconds

    @staticmethod
    def _key(partition: int, bucket: int) -> str:
        return f"{partition}|{bucket}"

    @staticmethod
    def _cursor_key(partition: int) -> str:
        return f"{partition}|cursor"

    def read_positions(self, partition: int) -> dict[str, int]:
        """What the state says was read of the partition's inputs (next offset per topic; see `watermark`)."""
        return dict(self.table.get(self._read_key(partition)) or {})

    def record_read(self, partition: int, positions: dict[str, int]) -> None:
        """Record, with the deadlines, how far the inputs that can clear them have been read."""
        if positions and positions != self.read_positions(partition):
            self.table[self._read_key(partition)] = positions

    @staticmethod
    def _read_key(partition: int) -> str:
        return f"{partition}|read"

    def cursor(self, partition: int) -> int | None:
        value = self.table.get(self._cursor_key(partition))
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
        row = [entry.due.astimezone(UTC).isoformat(), entry.ref, entry.kind]
        current = list(self.table.get(key) or [])
        if row not in current:
            current.append(row)
            self.table[key] = current  # reassign: an in-place change would not reach the changelog

    def cancel(self, partition: int, entry: DueEntry) -> None:
        for bucket in self._slots(partition, entry.due):
            key = self._key(partition, bucket)
            current = self.table.get(key)
            if not current:
                continue
            row = [entry.due.astimezone(UTC).isoformat(), entry.ref, entry.kind]
            kept = [r for r in current if r != row]
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
            self._put(key, [r for r in rows if r not in ready])
        drained = now_bucket - 1  # the current bucket may still hold entries due later in it
        if cursor is None or drained > cursor:
            self.table[self._cursor_key(partition)] = drained
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

    def _put(self, key: str, rows: list[list[str]]) -> None:
        if rows:
            self.table[key] = rows
        else:
            del self.table[key]
