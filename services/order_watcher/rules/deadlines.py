"""Deadlines the rules ask the caller to fire: one per (kind, order) at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = [
    "DECLINE_WINDOW",
    "DELIVERY_BY",
    "FORGET",
    "SHIP_BY",
    "TRACKING_STALL",
    "Deadline",
]

SHIP_BY: Final = "ship_by"
"""promised_ship_by + ship_grace: not_shipped when the carrier has nothing by then."""
TRACKING_STALL: Final = "tracking_stall"
"""Last carrier checkpoint + tracking_stall_after: tracking_stalled."""
DELIVERY_BY: Final = "delivery_by"
"""promised_delivery_by + delivery_grace: not_delivered."""
DECLINE_WINDOW: Final = "decline_window"
"""Earliest pending likely-false decline + decline_window: false_decline."""
FORGET: Final = "forget"
"""Housekeeping: the order's state may be dropped (no incident ever comes of it)."""


@dataclass(frozen=True, order=True)
class Deadline:
    """A point in event time at which the rules want to look at an order again."""

    due: datetime
    kind: str
    order_id: str

    def key(self) -> str:
        """Identity of the deadline regardless of its due time: a new one with the same key replaces it."""
        return f"{self.kind}|{self.order_id}"
