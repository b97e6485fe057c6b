"""Table writes held back until a message's sends are acknowledged, then applied in one go.

A Faust table write goes to its changelog at once. If the worker dies after a state write reached
the changelog but before the incident it decided was acknowledged by the broker, the restarted
worker sees the message as handled (its event id is in the state) and the incident is lost.
So an agent reads and writes through a `Staged` view while it handles a message, sends its
output and waits for the acks, and only then `apply()`s the writes to the table. A crash before
that leaves the table as it was: the message is handled again and sends the same (deterministic)
ids again, which is at-least-once, never lost.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

__all__ = ["Staged"]

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
            if value is _DELETED:
                if key in self.table:
                    del self.table[key]
            else:
                self.table[key] = value
        self._writes.clear()

    def discard(self) -> None:
        """Forget the staged writes (the message will be handled again, or was dead-lettered)."""
        self._writes.clear()
