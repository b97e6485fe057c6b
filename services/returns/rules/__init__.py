"""The returns service's pure rules: order and return events, state and a clock in; incidents out."""

from services.returns.rules.deadlines import ACKNOWLEDGE, FORGET, LABEL_SCAN, REFUND_ESCALATE, REFUND_SLA, Deadline
from services.returns.rules.effects import Outcome
from services.returns.rules.incidents import escalation_id, incident_id
from services.returns.rules.returns import on_deadline, on_event, pending_deadlines
from services.returns.rules.settings import MAX_RETURN_WINDOW, ReturnSettings
from services.returns.rules.state import ReturnCase, ReturnsState
from services.returns.rules.window import window_ends_at

__all__ = [
    "ACKNOWLEDGE",
    "FORGET",
    "LABEL_SCAN",
    "MAX_RETURN_WINDOW",
    "REFUND_ESCALATE",
    "REFUND_SLA",
    "Deadline",
    "Outcome",
    "ReturnCase",
    "ReturnSettings",
    "ReturnsState",
    "escalation_id",
    "incident_id",
    "on_deadline",
    "on_event",
    "pending_deadlines",
    "window_ends_at",
]
