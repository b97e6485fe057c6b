"""Deadlines the return rules ask the caller to fire: at most one per (kind, order) at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = ["ACKNOWLEDGE", "FORGET", "LABEL_SCAN", "REFUND_ESCALATE", "REFUND_SLA", "Deadline"]

ACKNOWLEDGE: Final = "acknowledge"
"""received_at: return_received ("we have it, refund by ..."), decided when the stream clock gets there, so a
refund or a refusal published with the receipt has been read first and the message is not sent at all."""

REFUND_SLA: Final = "refund_sla"
"""received_at + refund_sla: refund_overdue when no refund was issued by then."""
REFUND_ESCALATE: Final = "refund_escalate"
"""received_at + refund_sla + refund_escalate_after: the overdue refund goes to a person."""
LABEL_SCAN: Final = "label_scan"
"""requested_at + label_scan_reminder_after: one return_stalled reminder with the label link."""
FORGET: Final = "forget"
"""Housekeeping: the order's state may be dropped (no incident ever comes of it)."""


@dataclass(frozen=True, order=True)
class Deadline:
    """A point in event time at which the rules want to look at an order's returns again.

    One deadline per kind stands for the earliest due return of that kind; firing it handles
    every return of the order due by then, and the next one is scheduled in its place."""

    due: datetime
    kind: str
    order_id: str
