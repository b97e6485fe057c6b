"""One step of the return rules: a working copy of the state, and what it emits, withdraws and escalates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import EscalationOpenedData, IncidentDetectedData, IncidentFacts, IncidentResolvedData
from schemas.values import IncidentKind
from services.returns.rules.deadlines import Deadline
from services.returns.rules.incidents import build_escalation, build_incident, incident_id
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.state import IncidentMark, ReturnCase, ReturnsState

__all__ = ["Outcome", "Step"]


@dataclass(frozen=True)
class Outcome:
    """What one step decided. Apply `cancel` before `schedule`; `state` None means drop the order's state.

    `state` is the very object passed in when the step changed nothing (a caller may skip the write)."""

    state: ReturnsState | None
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)
    escalations: list[EscalationOpenedData] = field(default_factory=list)
    schedule: list[Deadline] = field(default_factory=list)
    cancel: list[Deadline] = field(default_factory=list)


class Step:
    """A working copy of one order's state (the caller's is never changed) plus the effects so far."""

    def __init__(self, state: ReturnsState, settings: ReturnSettings) -> None:
        self.state = state
        self.settings = settings
        self.incidents: list[IncidentDetectedData] = []
        self.resolutions: list[IncidentResolvedData] = []
        self.escalations: list[EscalationOpenedData] = []

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
        if state.mark(iid) is not None or state.customer is None or state.store_id is None:
            return None
        state.incidents.append(IncidentMark(id=iid, kind=kind, return_id=case.return_id))
        base = {
            "product_name": case.product_name or state.product_name,
            "refund_amount": case.refund_amount,
            "order_total": state.order_total,
            "order_status_url": state.order_status_url,
        }
        self.incidents.append(
            build_incident(
                incident_id=iid,
                kind=kind,
                order_id=state.order_id,
                order_number=state.order_number,
                store_id=state.store_id,
                customer=state.customer,
                facts=IncidentFacts(**{**base, **facts}),
                cause_event_ids=[c for c in (state.placed_event_id, *causes) if c],
                detected_at=at,
                escalate=escalate,
            )
        )
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

    def resolve(self, mark: IncidentMark, reason: str, at: datetime) -> None:
        """Withdraw an emitted incident, once."""
        current = self.state.mark(mark.id)
        if current is None or current.resolved or self.state.customer is None:
            return
        self.state.replace_mark(current.model_copy(update={"resolved": True}))
        self.resolutions.append(
            IncidentResolvedData(
                incident_id=mark.id,
                kind=mark.kind,
                order_id=self.state.order_id,
                customer_id=self.state.customer.id,
                reason=reason,
                resolved_at=at,
            )
        )

    def finish(self, state: ReturnsState | None, before: Sequence[Deadline], after: Sequence[Deadline]) -> Outcome:
        """Net effects: an incident withdrawn in the same step it was found is never published, nor escalated."""
        withdrawn = {r.incident_id for r in self.resolutions} & {i.incident_id for i in self.incidents}
        old, new = set(before), set(after)
        return Outcome(
            state=state,
            incidents=[i for i in self.incidents if i.incident_id not in withdrawn],
            resolutions=[r for r in self.resolutions if r.incident_id not in withdrawn],
            escalations=[e for e in self.escalations if e.incident_id not in withdrawn],
            schedule=sorted(new - old),
            cancel=sorted(old - new),
        )
