"""ReturnsState: the compact, serialisable record the returns service keeps per order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, Field

from schemas import (
    Money,
    RefundIssued,
    ReturnLabelScanned,
    ReturnReceived,
    ReturnRejected,
    ReturnRequested,
)
from services.common.order_rules import IncidentMarkBase, OrderRecord, Part

__all__ = ["EarlyEvent", "IncidentMark", "ReturnCase", "ReturnsState"]

EarlyEvent = Annotated[
    ReturnRequested | ReturnLabelScanned | ReturnReceived | RefundIssued | ReturnRejected,
    Field(discriminator="type"),
]
"""A return event that may arrive before its order.placed, and is held until the order is known."""


class ReturnCase(Part):
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


class IncidentMark(IncidentMarkBase):
    """An incident this order emitted: enough to withdraw it, and never to emit it twice."""

    return_id: str


class ReturnsState(OrderRecord[IncidentMark, EarlyEvent]):
    """Everything the rules remember about one order: who to tell (from order.placed) and its returns.

    Who the order is for, its incident marks, the ids seen and the events held are the core's (`OrderRecord`)."""

    order_total: Money | None = None
    product_name: str | None = Field(default=None, description="the product, when the order has only one")
    order_status_url: str | None = None
    returns: list[ReturnCase] = Field(default_factory=list)
    escalations: list[str] = Field(default_factory=list, description="ids of the escalations opened")
    last_event_at: AwareDatetime | None = Field(default=None, description="latest event time seen")

    def replace_case(self, case: ReturnCase) -> None:
        """Put `case` where the case with its return id is."""
        self.returns = [case if c.return_id == case.return_id else c for c in self.returns]

    def case(self, return_id: str) -> ReturnCase | None:
        return next((c for c in self.returns if c.return_id == return_id), None)

    def live(self, return_id: str, *kinds: str) -> list[IncidentMark]:
        """Emitted, unresolved incidents about one return, of the given kinds."""
        return [m for m in self.incidents if m.return_id == return_id and not m.resolved and m.kind in kinds]
