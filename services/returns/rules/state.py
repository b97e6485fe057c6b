"""ReturnsState: the compact, serialisable record the returns service keeps per order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from schemas import (
    CustomerRef,
    IncidentKind,
    Money,
    RefundIssued,
    ReturnLabelScanned,
    ReturnReceived,
    ReturnRejected,
    ReturnRequested,
)
from services.common.drafts import draft

__all__ = ["EarlyEvent", "IncidentMark", "ReturnCase", "ReturnsState"]

EarlyEvent = Annotated[
    ReturnRequested | ReturnLabelScanned | ReturnReceived | RefundIssued | ReturnRejected,
    Field(discriminator="type"),
]
"""A return event that may arrive before its order.placed, and is held until the order is known."""


class _Compact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Part(_Compact):
    """A part of the state: never changed in place, replaced by a changed copy (so a step can share it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReturnCase(_Part):
    """One return of the order: where it stands, and the events that moved it."""

    return_id: str
    product_name: str | None = Field(default=None, description="first line of what goes back")
    refund_amount: Money | None = None
    requested_at: AwareDatetime | None = None
    requested_event_id: str | None = None
    label_url: str | None = None
    label_scanned_at: AwareDatetime | None = None
    received_at: AwareDatetime | None = Field(default=None, description="earliest receipt seen; the SLA starts here")
    received_event_id: str | None = None
    refunded_at: AwareDatetime | None = Field(default=None, description="earliest refund issued for this return")
    rejected_at: AwareDatetime | None = None

    @property
    def closed(self) -> bool:
        """Refunded or rejected: nothing more is owed to the customer."""
        return self.refunded_at is not None or self.rejected_at is not None

    def refund_due(self, sla: timedelta) -> datetime | None:
        """When the refund is due: receipt + SLA; None before receipt."""
        return self.received_at + sla if self.received_at is not None else None


class IncidentMark(_Part):
    """An incident this order emitted: enough to withdraw it, and never to emit it twice."""

    id: str
    kind: IncidentKind
    return_id: str
    resolved: bool = False


class ReturnsState(_Compact):
    """Everything the rules remember about one order: who to tell (from order.placed) and its returns."""

    order_id: str
    order_number: str | None = Field(default=None, description="the store's own number, e.g. #1001")
    placed_event_id: str | None = Field(default=None, description="None until order.placed arrived")
    store_id: str | None = None
    customer: CustomerRef | None = None
    order_total: Money | None = None
    product_name: str | None = Field(default=None, description="the product, when the order has only one")
    order_status_url: str | None = None
    returns: list[ReturnCase] = Field(default_factory=list)
    incidents: list[IncidentMark] = Field(default_factory=list)
    escalations: list[str] = Field(default_factory=list, description="ids of the escalations opened")
    last_event_at: AwareDatetime | None = Field(default=None, description="latest event time seen")
    seen: list[str] = Field(default_factory=list, description="digests of recent event ids, oldest first")
    early: list[EarlyEvent] = Field(default_factory=list, description="return events held until order.placed")

    @field_serializer("early")
    def _early_in_full(self, early: list[EarlyEvent]) -> list[dict[str, Any]]:
        """Held events are dumped whole (even with exclude_defaults), so they parse back as the same events."""
        return [event.model_dump(mode="json") for event in early]

    def draft(self) -> ReturnsState:
        """A copy a step may change without touching this state: its lists are new, their (immutable) parts shared."""
        return draft(self)

    def replace_case(self, case: ReturnCase) -> None:
        """Put `case` where the case with its return id is."""
        self.returns = [case if c.return_id == case.return_id else c for c in self.returns]

    def replace_mark(self, mark: IncidentMark) -> None:
        """Put `mark` where the mark with its id is."""
        self.incidents = [mark if m.id == mark.id else m for m in self.incidents]

    @property
    def placed(self) -> bool:
        """order.placed has arrived."""
        return self.placed_event_id is not None

    def case(self, return_id: str) -> ReturnCase | None:
        return next((c for c in self.returns if c.return_id == return_id), None)

    def mark(self, incident_id: str) -> IncidentMark | None:
        """The record of an emitted incident, if this order emitted it."""
        return next((m for m in self.incidents if m.id == incident_id), None)

    def live(self, return_id: str, *kinds: str) -> list[IncidentMark]:
        """Emitted, unresolved incidents about one return, of the given kinds."""
        return [m for m in self.incidents if m.return_id == return_id and not m.resolved and m.kind in kinds]
