"""order_watcher's pure detection rules: events, state and a clock in; incidents and deadlines out."""

from services.common.order_rules import incident_id
from services.order_watcher.rules.deadlines import Deadline
from services.order_watcher.rules.declines import DeclineCategory, classify_decline
from services.order_watcher.rules.escalation import EscalationOutcome, TroubleHistory, on_escalation, on_incident
from services.order_watcher.rules.orders import Outcome, on_deadline, on_event, overdue_now, pending_deadlines
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import OrderState
from services.order_watcher.rules.stock import (
    DemandChange,
    SkuDemand,
    StockOutcome,
    demand_changes,
    on_demand,
    on_stock,
)

__all__ = [
    "Deadline",
    "DeclineCategory",
    "DemandChange",
    "EscalationOutcome",
    "OrderState",
    "Outcome",
    "SkuDemand",
    "StockOutcome",
    "TroubleHistory",
    "WatchSettings",
    "classify_decline",
    "demand_changes",
    "incident_id",
    "on_deadline",
    "on_demand",
    "on_escalation",
    "on_event",
    "on_incident",
    "on_stock",
    "overdue_now",
    "pending_deadlines",
]
