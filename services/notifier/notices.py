"""Telling the customer a person will get in touch: care's `case.opened` becomes one SMS, once per case.

The message names the time by which a person will have been in touch (care computes it from the store's
support hours), in the customer's language and timezone. It speaks of the latest incident the customer
was told of (for their contact, language and timezone); a customer we never messaged hears nothing from
us (the desk reaches them). Its text is written when care's event arrives, the row reserved under an id
derived from the case, and it then goes the way of every own message (`own_messages`): consent, the cap
and quiet hours, deferred and resumed from the ledger across restarts, never sent twice.
"""

from __future__ import annotations

import logging

from schemas import CaseOpened
from services.common.ids import stable_id
from services.notifier.ledger import Delivery, DeliveryState
from services.notifier.own_messages import OwnMessages
from services.notifier.rendering.answers import answer_sms

__all__ = ["CaseNotices", "notice_id"]

logger = logging.getLogger(__name__)


def notice_id(case_id: str, customer_id: str) -> str:
    """The "a person will get in touch" message of one case: deterministic, one per case."""
    return stable_id("ntf", case_id, customer_id, "case", length=28)


class CaseNotices(OwnMessages):
    async def on_case_opened(self, event: CaseOpened) -> None:
        data = event.data
        nid = notice_id(data.case_id, data.customer_id)
        if await self.ledger.get(nid) is not None:
            return  # a redelivery, or care announcing again after a restart
        told = await self.ledger.latest_told(data.customer_id)
        if told is None:
            logger.info("case %s: we never messaged customer %s; the desk reaches them", data.case_id,
                        data.customer_id)
            return
        incident = self.incident_of(told)
        profile = await self.profile_of(incident)
        text = answer_sms("person_in_touch", locale=profile.locale or incident.customer.locale,
                          store_name=self.settings.store_name, support_phone=self.settings.support_phone,
                          contact_by=data.contact_by,
                          timezone=profile.timezone or incident.customer.timezone or self.settings.store_timezone)
        reservation = await self.ledger.reserve(
            notification_id=nid, incident_id=stable_id("case", data.case_id), customer_id=data.customer_id,
            channel="sms", order_id=None, now=self.clock.now(), state=DeliveryState.RESERVED, incident=told.incident,
            severity="normal", incident_at=data.opened_at, purpose="case", address=told.address, body=text,
        )
        if reservation.fresh:
            logger.info("case %s: the customer is to hear a person gets in touch by %s", data.case_id,
                        data.contact_by.isoformat())
            await self.resume(await self.row(nid))

    async def resume(self, row: Delivery) -> None:
        """A notice reserved, deferred or cut off by a restart: decide it now with its text as written."""
        if not await self.ledger.transition(row.notification_id, DeliveryState.RESERVED, now=self.clock.now(),
                                            expect=(DeliveryState.DEFERRED, DeliveryState.RESERVED)):
            return
        body = row.body or ""
        await self.send_own(row, self.incident_of(row), lambda _: body)
