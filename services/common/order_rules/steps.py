"""One step of per-order rules: a working copy of the state, and what it emits, withdraws and escalates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from schemas import EscalationOpenedData, IncidentDetectedData, IncidentFacts, IncidentResolvedData
from services.common.order_rules.deadlines import Deadline
from services.common.order_rules.incidents import build_incident
from services.common.order_rules.settings import StoreSettings
from services.common.order_rules.state import IncidentMarkBase, OrderRecord

__all__ = ["Outcome", "Step"]

S = TypeVar("S", bound=OrderRecord[Any, Any])
C = TypeVar("C", bound=StoreSettings)


@dataclass(frozen=True)
class Outcome(Generic[S]):
    """What one step decided. Apply `cancel` before `schedule`; `state` None means drop the order's state.

    `state` is the very object passed in when the step changed nothing (a caller may skip the write)."""

    state: S | None
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)
    escalations: list[EscalationOpenedData] = field(default_factory=list)
    schedule: list[Deadline] = field(default_factory=list)
    cancel: list[Deadline] = field(default_factory=list)


class Step(Generic[S, C]):
    """A working copy of one order's state (the caller's is never changed) plus the effects so far.

    A service's step names its incidents (their ids and facts) and calls `fresh` then `add`."""

    def __init__(self, state: S, settings: C) -> None:
        self.state = state
        self.settings = settings
        self.incidents: list[IncidentDetectedData] = []
        self.resolutions: list[IncidentResolvedData] = []
        self.escalations: list[EscalationOpenedData] = []

    def fresh(self, incident_id: str) -> bool:
        """The order may emit `incident_id`: it has not before, and it knows whom to tell (order.placed came)."""
        state = self.state
        return state.mark(incident_id) is None and state.customer is not None and state.store_id is not None

    def add(
        self, mark: IncidentMarkBase, facts: IncidentFacts, causes: Iterable[str | None], at: datetime,
        *, escalate: bool = False,
    ) -> None:
        """Emit the incident `mark` records (check `fresh` first); causes that are None are left out."""
        state = self.state
        if state.customer is None or state.store_id is None:
            return
        state.incidents.append(mark)
        self.incidents.append(
            build_incident(
                incident_id=mark.id,
                kind=mark.kind,
                order_id=state.order_id,
                order_number=state.order_number,
                store_id=state.store_id,
                customer=state.customer,
                facts=facts,
                cause_event_ids=[c for c in causes if c],
                detected_at=at,
                escalate=escalate,
            )
        )

    def resolve(self, mark: IncidentMarkBase, reason: str, at: datetime) -> None:
        """Withdraw an emitted incident, once."""
        state = self.state
        current = state.mark(mark.id)
        if current is None or current.resolved or state.customer is None:
            return
        state.replace_mark(current.model_copy(update={"resolved": True}))
        self.resolutions.append(
            IncidentResolvedData(
                incident_id=mark.id,
                kind=mark.kind,
                order_id=state.order_id,
                customer_id=state.customer.id,
                reason=reason,
                resolved_at=at,
            )
        )

    def finish(self, state: S | None, before: Sequence[Deadline], after: Sequence[Deadline]) -> Outcome[S]:
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
