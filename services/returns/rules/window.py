"""The return window: a request after it is not refused by a machine; a person decides."""

from __future__ import annotations

from datetime import datetime

from schemas import IncidentKind, ReturnRequested
from services.returns.rules.effects import Step
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.state import ReturnCase

__all__ = ["REASON", "check_window", "window_ends_at"]

REASON = "return_window_exceeded"


def window_ends_at(event: ReturnRequested, settings: ReturnSettings) -> datetime | None:
    """When the window closes: the store's own date for this order if it sent one, else delivery + return_window.

    None when neither is known (no delivery date): the request cannot be judged late."""
    data = event.data
    if data.return_window_ends_at is not None:
        return data.return_window_ends_at
    if data.order_delivered_at is not None:
        return data.order_delivered_at + settings.return_window
    return None


def check_window(step: Step, case: ReturnCase, event: ReturnRequested) -> None:
    """A late request opens a tier-2 escalation (once per return); the customer is told only if the store wants."""
    ends_at = window_ends_at(event, step.settings)
    if ends_at is None or event.data.requested_at <= ends_at:
        return
    kind: IncidentKind = "return_window_exceeded"
    iid = step.incident_id(kind, case, "window")
    if step.settings.journey_window_exceeded:
        step.emit(kind, case, "window", {}, [event.id], event.time, escalate=True)
    step.escalate(iid, kind, REASON, event.time)
