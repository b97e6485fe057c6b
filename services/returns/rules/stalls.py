"""Stalled return shipments: a label issued and never scanned gets one gentle reminder with the link."""

from __future__ import annotations

from datetime import datetime

from services.returns.rules.effects import Step
from services.returns.rules.incidents import incident_id
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.state import ReturnCase, ReturnsState

__all__ = ["fire_stalls", "stall_due"]


def stall_due(state: ReturnsState, case: ReturnCase, settings: ReturnSettings) -> datetime | None:
    """When to remind: label issued at the request + label_scan_reminder_after, while nothing moved."""
    if case.label_url is None or case.requested_at is None:
        return None
    if case.label_scanned_at is not None or case.received_at is not None or case.closed:
        return None
    if state.mark(incident_id("return_stalled", state.order_id, case.return_id, "label")) is not None:
        return None
    return case.requested_at + settings.label_scan_reminder_after


def fire_stalls(step: Step, now: datetime) -> None:
    """return_stalled, once per return, for every label still unscanned at its reminder time."""
    state = step.state
    for case in state.returns:
        due = stall_due(state, case, step.settings)
        if due is not None and due <= now:
            step.emit("return_stalled", case, "label", {"label_url": case.label_url}, [case.requested_event_id], due)
