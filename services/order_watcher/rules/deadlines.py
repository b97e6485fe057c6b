"""The kinds of deadline order_watcher's rules ask the caller to fire (`Deadline` is the per-order core's)."""

from __future__ import annotations

from typing import Final

from services.common.order_rules import FORGET, Deadline

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

