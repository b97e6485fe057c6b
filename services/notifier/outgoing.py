"""A message on its way to the provider, and whom its outcome event speaks of: what `Dispatcher.send` takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from schemas import IncidentDetectedData
from services.notifier.ledger import Delivery
from services.notifier.policy import Profile
from services.notifier.rendering import RenderedMessage

__all__ = ["About", "Outgoing", "Send"]


@dataclass(frozen=True, slots=True)
class About:
    """Whom a message's outcome events speak of, and the phone to mark opted out when the provider says the
    number unsubscribed (Twilio 21610); None: nothing to mark."""

    incident_id: str
    customer_id: str
    order_id: str | None
    opt_out_phone: str | None = None

    @classmethod
    def of(cls, incident: IncidentDetectedData) -> About:
        """A message about `incident` (its lead incident, for a message carrying several)."""
        return cls(incident.incident_id, incident.customer.id, incident.order_id, incident.customer.phone)

    @classmethod
    def of_row(cls, row: Delivery) -> About:
        """A message known by its ledger row alone (our answer to a reply)."""
        return cls(row.incident_id, row.customer_id, row.order_id)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message whose ledger row is reserved: where it goes, what it says, and whom its outcome speaks of."""

    nid: str
    channel: str
    profile: Profile
    rendered: RenderedMessage
    about: About


class Send(Protocol):
    """`Dispatcher.send`: the one send path (see there)."""

    async def __call__(self, out: Outgoing, *, claim: dict[str, Any]) -> bool: ...
