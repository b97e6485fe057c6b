"""The shape every per-order state shares: whom the order is for, the incidents it emitted, the event ids
it has seen, and the events held until its order.placed."""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from schemas import CloudEvent, CustomerRef, IncidentKind
from services.common.drafts import draft

__all__ = ["Compact", "IncidentMarkBase", "OrderRecord", "Part"]


class Compact(BaseModel):
    """A state record: strict about its fields, so a renamed one fails loudly instead of vanishing."""

    model_config = ConfigDict(extra="forbid")


class Part(Compact):
    """A part of the state: never changed in place, replaced by a changed copy (so a step can share it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IncidentMarkBase(Part):
    """An incident this order emitted: enough to withdraw it, and never to emit it twice."""

    id: str
    kind: IncidentKind
    resolved: bool = False


MarkT = TypeVar("MarkT", bound=IncidentMarkBase)
HeldT = TypeVar("HeldT", bound=CloudEvent)


class OrderRecord(Compact, Generic[MarkT, HeldT]):
    """What every per-order state keeps: who to tell (from order.placed), what it emitted, what it has seen."""

    order_id: str
    order_number: str | None = Field(default=None, description="the store's own number, e.g. #1001")
    placed_event_id: str | None = Field(default=None, description="None until order.placed arrived")
    store_id: str | None = None
    customer: CustomerRef | None = None
    incidents: list[MarkT] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list, description="digests of recent event ids, oldest first")
    early: list[HeldT] = Field(default_factory=list, description="events held until order.placed")

    @field_serializer("early")
    def _early_in_full(self, early: list[HeldT]) -> list[dict[str, Any]]:
        """Held events are dumped whole (even with exclude_defaults), so they parse back as the same events."""
        return [event.model_dump(mode="json") for event in early]

    def draft(self) -> Self:
        """A copy a step may change without touching this state: its collections are new, their parts shared.

        The parts (incident marks, held events, the customer, and a service's own) are immutable; a
        rule replaces one in its list instead of changing it, so no step needs a deep copy.
        """
        return draft(self)

    @property
    def placed(self) -> bool:
        """order.placed has arrived."""
        return self.placed_event_id is not None

    def mark(self, incident_id: str) -> MarkT | None:
        """The record of an emitted incident, if this order emitted it."""
        return next((m for m in self.incidents if m.id == incident_id), None)

    def replace_mark(self, mark: MarkT) -> None:
        """Put `mark` where the mark with its id is."""
        self.incidents = [mark if m.id == mark.id else m for m in self.incidents]
