"""Which offer a customer is answering: the message we sent, its lead incident and the choices it offered.

Read from the delivery ledger. An SMS reply answers the latest message we sent to that phone
when that is the feedback question after a resolved incident; otherwise the latest message
whose lead incident is still open; an email link names its notification. The choices are those
the message showed, computed as rendering computed them (the lead incident of the message,
riders included), so "2" means what the customer read as 2; when the SMS as sent does not
carry that offer (a follow-up that led with another incident, a variant without choices), it
offers nothing to choose and a person reads the reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from schemas import IncidentDetected, IncidentDetectedData, parse_event
from schemas.choices import Choice, known_choice
from services.notifier.delivery_states import MESSAGED_STATES
from services.notifier.ledger import Delivery, Ledger
from services.notifier.rendering import MessageContext, StoreInfo
from services.notifier.rendering.answers import offer_phrases
from services.notifier.rendering.render import one_line

__all__ = ["Conversations", "Offer"]

logger = logging.getLogger(__name__)

LOOK_BACK = 20
_NO_STORE = StoreInfo(name="-")


@dataclass(frozen=True)
class Offer:
    """A message we sent and what it offered; `choices` is empty when it offered none."""

    notification_id: str
    channel: str
    incident: IncidentDetectedData
    choices: tuple[Choice, ...]
    open: bool
    feedback: bool = False
    """The message is the feedback question about `incident` (resolved): a reply to it is a score."""

    @property
    def order_number(self) -> str | None:
        """The store's own order number, when the incident carries one."""
        value: Any = getattr(self.incident, "order_number", None)
        return str(value) if value else None


class Conversations:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def latest_to_phone(self, phone: str) -> Offer | None:
        """The latest message to `phone` whose lead incident is open; else the latest at all; None if none."""
        async with self.ledger.sessions() as session:
            rows = (await session.scalars(
                select(Delivery)
                .where(Delivery.address == phone, Delivery.channel == "sms", Delivery.state.in_(MESSAGED_STATES),
                       Delivery.purpose != "answer")  # our answers offer nothing and ask nothing
                .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
                .limit(LOOK_BACK))).all()
        latest: Offer | None = None
        for position, row in enumerate(rows):
            if row.purpose == "feedback":
                if position == 0 and (question := _incident(row)) is not None:
                    return Offer(row.notification_id, row.channel, question, (), open=False, feedback=True)
                continue  # an earlier question is answered by nothing later
            offer = await self._offer(row)
            if offer is None:
                continue
            if offer.open:
                return offer
            latest = latest or offer
        return latest

    async def of_notification(self, notification_id: str) -> Offer | None:
        """The offer of one notification (an email link names it); None when we sent no such message."""
        row = await self.ledger.get(notification_id)
        if row is None or row.state not in MESSAGED_STATES:
            return None
        return await self._offer(row)

    async def question(self, notification_id: str) -> Offer | None:
        """The feedback question `notification_id` (an email link names it); None when we sent no such question."""
        row = await self.ledger.get(notification_id)
        if row is None or row.purpose != "feedback" or row.state not in MESSAGED_STATES:
            return None
        asked = _incident(row)
        return Offer(row.notification_id, row.channel, asked, (), open=False, feedback=True) if asked else None

    async def _offer(self, row: Delivery) -> Offer | None:
        incidents = [_incident(row)]
        for rider in await self.ledger.joined_to(row.notification_id):
            incidents.append(_incident(rider))
        present = [incident for incident in incidents if incident is not None]
        if not present:
            return None
        lead_item = MessageContext.from_incidents(present, store=_NO_STORE, timezone_fallback="UTC").lead
        lead = next(incident for incident in present if incident.incident_id == lead_item.incident_id)
        choices = tuple(choice for name in lead_item.offered_choices if (choice := known_choice(name)) is not None)
        if row.channel == "sms" and not _shown(choices, lead.customer.locale, row.body):
            choices = ()
        return Offer(row.notification_id, row.channel, lead, choices,
                     open=not await self.ledger.is_resolved(lead.incident_id))


def _shown(choices: tuple[Choice, ...], locale: str | None, body: str | None) -> bool:
    """True when the SMS as sent offered exactly these numbered choices (or there is none to check)."""
    if not choices or body is None:
        return True
    sent = one_line(body)
    return any(phrase and phrase in sent for phrase in offer_phrases(choices, locale=locale))


def _incident(row: Delivery) -> IncidentDetectedData | None:
    try:
        event = parse_event(row.incident or "")
    except Exception:  # a row without its incident (never written so) offers nothing
        logger.warning("ledger row %s holds no readable incident", row.notification_id)
        return None
    return event.data if isinstance(event, IncidentDetected) else None
