"""The refund SLA: received and not refunded in time is refund_overdue; much later, a person takes it."""

from __future__ import annotations

from datetime import datetime

from services.returns.rules.effects import Step
from services.returns.rules.incidents import escalation_id, incident_id
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.state import ReturnCase, ReturnsState

__all__ = ["REASON", "escalate_due", "fire_refunds", "overdue_id", "sla_due"]

REASON = "refund_overdue"


def overdue_id(state: ReturnsState, case: ReturnCase) -> str:
    """The one refund_overdue incident a return can have."""
    return incident_id("refund_overdue", state.order_id, case.return_id, "sla")


def sla_due(state: ReturnsState, case: ReturnCase, settings: ReturnSettings) -> datetime | None:
    """When this return's refund becomes overdue; None before receipt, once refunded or refused, or once reported."""
    if case.received_at is None or case.closed or state.mark(overdue_id(state, case)) is not None:
        return None
    return case.received_at + settings.refund_sla


def escalate_due(state: ReturnsState, case: ReturnCase, settings: ReturnSettings) -> datetime | None:
    """When the overdue refund goes to a person; None when nothing is owed or it went already."""
    if case.received_at is None or case.closed:
        return None
    if escalation_id(overdue_id(state, case), REASON) in state.escalations:
        return None
    return case.received_at + settings.refund_sla + settings.refund_escalate_after


def fire_refunds(step: Step, now: datetime) -> None:
    """Every return of the order whose refund is overdue (or overdue long enough to escalate) by `now`.

    Detection is on event time: the incident is detected at the SLA deadline and the case is
    opened at the escalation deadline, whenever the tick that finds them comes. An overdue
    refund found only after the escalation deadline is reported already escalated."""
    state, settings = step.state, step.settings
    for case in state.returns:
        overdue_at = sla_due(state, case, settings)
        escalate_at = escalate_due(state, case, settings)
        escalating = escalate_at is not None and escalate_at <= now
        if overdue_at is not None and overdue_at <= now:
            step.emit("refund_overdue", case, "sla", {}, [case.received_event_id], overdue_at, escalate=escalating)
        if escalating and escalate_at is not None:
            step.escalate(overdue_id(state, case), "refund_overdue", REASON, escalate_at)
