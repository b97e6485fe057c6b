"""Deadlines per-order rules ask their caller to fire: at most one per (kind, order) at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = ["FORGET", "Deadline"]

FORGET: Final = "forget"
"""Housekeeping: the order's state may be dropped (no incident ever comes of it)."""


@dataclass(frozen=True, order=True)
class Deadline:
    """A point in event time at which the rules want to look at an order again (ordered by due, kind, order)."""

    due: datetime
    kind: str
    order_id: str

    def key(self) -> str:
        """Identity of the deadline regardless of its due time: a new one with the same key replaces it."""
        return f"{self.kind}|{self.order_id}"
