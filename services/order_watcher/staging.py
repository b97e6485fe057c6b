"""Table writes held back until a message's sends are acknowledged, then applied in one go.

A Faust table write goes to its changelog at once. If the worker dies after a state write reached
the changelog but before the incident it decided was acknowledged by the broker, the restarted
worker sees the message as handled (its event id is in the state) and the incident is lost.
So an agent reads and writes through a `Staged` view while it handles a message, sends its
output and waits for the acks, and only then `apply()`s the writes to the table. A crash before
that leaves the table as it was: the message is handled again and sends the same (deterministic)
ids again, which is at-least-once, never lost.

An agent that takes messages in batches stacks two layers: each message is decided over its own
`Staged` view of a `BatchStaged` view of the table. A message whose step succeeds merges its
writes into the batch layer (so the next message of the batch reads them); one whose step fails is
dead-lettered and its writes dropped. Once every send of the batch is acknowledged, the batch
layer is applied, each key written on behalf of the message that last wrote it: Faust routes a
table write to the changelog partition (and the RocksDB partition store) of the current event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["BatchStaged", "Staged"]

_DELETED = object()


class Staged(MutableMapping[str, Any]):
    """A write-back overlay over a mapping (a Faust table, or a dict in tests)."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self._writes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._writes:
            value = self._writes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        value = self.table.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        self._writes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._writes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key in self.table:
            seen.add(key)
            if self._writes.get(key, None) is not _DELETED:
                yield key
        for key, value in self._writes.items():
            if key not in seen and value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def pending(self) -> int:
        """How many keys are waiting to be written."""
        return len(self._writes)

    def apply(self) -> None:
        """Write everything staged to the table (deletes of absent keys are no-ops), and start afresh."""
        for key, value in self._writes.items():
            self._write(key, value)
        self._writes.clear()

    def _write(self, key: str, value: Any) -> None:
        if value is _DELETED:
            if key in self.table:
                del self.table[key]
        else:
            self.table[key] = value

    def discard(self) -> None:
        """Forget the staged writes (the message will be handled again, or was dead-lettered)."""
        self._writes.clear()


class BatchStaged(Staged):
    """A `Staged` layer for a whole batch that remembers, per key, which message wrote it last.

    Set `owner` to the message being decided before its writes are merged in; `apply_as` then
    writes each key inside `acting(owner)`, the context a Faust table needs to place the write.
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        super().__init__(table)
        self.owner: Any = None
        self._owners: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._owners[key] = self.owner

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._owners[key] = self.owner

    def apply_as(self, acting: Callable[[Any], AbstractContextManager[Any]]) -> None:
        """Write everything staged to the table, each key as its owner, and start afresh."""
        for key, value in self._writes.items():
            with acting(self._owners[key]):
                self._write(key, value)
        self._writes.clear()
        self._owners.clear()

    def discard(self) -> None:
        super().discard()
        self._owners.clear()
