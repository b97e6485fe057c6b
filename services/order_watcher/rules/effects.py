"""One step of the order rules: a working copy of the state, and the incidents it emits or withdraws."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas import IncidentDetectedData, IncidentFacts, IncidentResolvedData
from schemas.values import IncidentKind
from services.order_watcher.rules.deadlines import Deadline
from services.order_watcher.rules.incidents import build_incident, incident_id
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import IncidentMark, OrderState

__all__ = ["Outcome", "Step", "utc_iso"]


@dataclass(frozen=True)
class Outcome:
    """What one step decided. Apply `cancel` before `schedule`; `state` None means drop the order's state."""

    state: OrderState | None
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)
    schedule: list[Deadline] = field(default_factory=list)
    cancel: list[Deadline] = field(default_factory=list)


def utc_iso(at: datetime) -> str:
    """An instant as text for an incident cause: the same instant gives the same text, whatever its offset."""
    return at.astimezone(UTC).isoformat()


class Step:
    """A working copy of one order's state (the caller's is never changed) plus the effects so far."""

    def __init__(self, state: OrderState, settings: WatchSettings) -> None:
        self.state = state
        self.settings = settings
        self.incidents: list[IncidentDetectedData] = []
        self.resolutions: list[IncidentResolvedData] = []

    def emit(
        self,
        kind: IncidentKind,
        cause: str,
        facts: dict[str, Any],
        causes: Sequence[str | None],
        at: datetime,
        *,
        mark_at: datetime | None = None,
        shipment_id: str | None = None,
    ) -> bool:
        """Emit an incident once per (kind, order, cause); False when it was emitted before."""
        state = self.state
        iid = incident_id(kind, state.order_id, cause)
        if state.mark(iid) is not None or state.customer is None or state.store_id is None:
            return False
        state.incidents.append(IncidentMark(id=iid, kind=kind, at=mark_at, shipment_id=shipment_id))
        self.incidents.append(
            build_incident(
                incident_id=iid,
                kind=kind,
                order_id=state.order_id,
                order_number=state.order_number,
                store_id=state.store_id,
                customer=state.customer,
                facts=IncidentFacts(**{**order_facts(state), **facts}),
                cause_event_ids=[c for c in causes if c],
                detected_at=at,
            )
        )
        return True

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

    def finish(self, state: OrderState | None, before: Sequence[Deadline], after: Sequence[Deadline]) -> Outcome:
        """Net effects: an incident withdrawn in the same step it was found is never published."""
        withdrawn = {r.incident_id for r in self.resolutions} & {i.incident_id for i in self.incidents}
        old, new = set(before), set(after)
        return Outcome(
            state=state,
            incidents=[i for i in self.incidents if i.incident_id not in withdrawn],
            resolutions=[r for r in self.resolutions if r.incident_id not in withdrawn],
            schedule=sorted(new - old),
            cancel=sorted(old - new),
        )


def order_facts(state: OrderState) -> dict[str, Any]:
    """The facts every incident about this order carries."""
    sku = state.first_sku
    return {
        "product_name": state.product_name,
        "sku": sku,
        "quantity": state.skus.get(sku) if sku else None,
        "promised_ship_by": state.promised_ship_by,
        "promised_delivery_by": state.promised_delivery_by,
        "order_total": state.total,
        "order_status_url": state.order_status_url,
    }
