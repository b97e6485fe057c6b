"""One step of the return rules: the core's step, with incidents named per return and tier-2 cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schemas import IncidentFacts
from schemas.values import IncidentKind
from services.common import order_rules
from services.returns.rules.incidents import build_escalation, incident_id
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.state import IncidentMark, ReturnCase, ReturnsState

__all__ = ["Outcome", "Step"]

Outcome = order_rules.Outcome[ReturnsState]
"""What one step decided (see `services.common.order_rules.Outcome`).

A type for annotations: build one with `order_rules.Outcome(...)`, since calling a parametrized alias
tries to set `__orig_class__` on the frozen instance, an exception raised and caught on every call."""


class Step(order_rules.Step[ReturnsState, ReturnSettings]):
    """A working copy of one order's state (the caller's is never changed) plus the effects so far."""

    def incident_id(self, kind: str, case: ReturnCase, cause: str) -> str:
        return incident_id(kind, self.state.order_id, case.return_id, cause)

    def emit(
        self,
        kind: IncidentKind,
        case: ReturnCase,
        cause: str,
        facts: dict[str, Any],
        causes: Sequence[str | None],
        at: datetime,
        *,
        escalate: bool = False,
    ) -> str | None:
        """Emit an incident once per (kind, order, return, cause); its id, or None when emitted before."""
        state = self.state
        iid = self.incident_id(kind, case, cause)
        if not self.fresh(iid):
            return None
        base = {
            "product_name": case.product_name or state.product_name,
            "refund_amount": case.refund_amount,
            "order_total": state.order_total,
            "order_status_url": state.order_status_url,
        }
        mark = IncidentMark(id=iid, kind=kind, return_id=case.return_id)
        self.add(mark, IncidentFacts(**{**base, **facts}), (state.placed_event_id, *causes), at, escalate=escalate)
        return iid

    def escalate(self, incident_id: str, kind: IncidentKind, reason: str, at: datetime) -> None:
        """Open a tier-2 case for a person about `incident_id`, once."""
        state = self.state
        if state.customer is None or state.store_id is None:
            return
        case = build_escalation(
            incident_id=incident_id, kind=kind, reason=reason, order_id=state.order_id, store_id=state.store_id,
            customer_id=state.customer.id, opened_at=at,
        )
        if case.escalation_id in state.escalations:
            return
        state.escalations.append(case.escalation_id)
        self.escalations.append(case)
