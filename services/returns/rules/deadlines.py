"""The kinds of deadline the return rules ask the caller to fire (`Deadline` is the per-order core's).

One deadline per kind stands for the earliest due return of that kind; firing it handles every return
of the order due by then, and the next one is scheduled in its place."""

from __future__ import annotations

from typing import Final

from services.common.order_rules import FORGET, Deadline

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

