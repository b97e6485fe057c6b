"""Our answers to a customer's SMS reply (a confirmation, the honest answer, HELP, the thanks for a score): a ledger
row each (`purpose` "answer"), reserved before the provider is called, under an id derived from the reply and the
kind of answer, so a reply read again (a crash before the offset commit) finds its row and sends nothing.

The row holds the text as written, the phone it goes to and, in `subject`, the kind of answer; `incident_at` is the
reply's receipt time, from which the limit on honest answers is read (`Ledger.last_answer`), so a restart does not
reset it. An answer is no news about an order: it has no order id, and the frequency cap does not count it. It goes
out at once, whatever the hour: the customer has just written to us. A send cut off by a restart is looked up at
the provider and settled like any other (`Dispatcher.recover`, `Dispatcher.reconcile`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from services.common.ids import stable_id
from services.notifier.ledger import Delivery, DeliveryState
from services.notifier.outgoing import About, Outgoing
from services.notifier.own_messages import OwnMessages
from services.notifier.policy import Profile
from services.notifier.rendering import RenderedMessage

__all__ = ["Answers", "answer_id"]

logger = logging.getLogger(__name__)


def answer_id(reply_id: str, answer: str) -> str:
    """One answer of one kind to one reply (a Twilio MessageSid): deterministic."""
    return stable_id("ntf", reply_id, answer, "answer", length=28)


class Answers(OwnMessages):
    async def answer(self, *, reply_id: str, answer: str, phone: str, customer_id: str, text: str,
                     received_at: datetime) -> None:
        """Reserve the answer to reply `reply_id` and send it; nothing when it was reserved before."""
        nid = answer_id(reply_id, answer)
        reservation = await self.ledger.reserve(
            notification_id=nid, incident_id=stable_id("answer", reply_id, answer), customer_id=customer_id,
            channel="sms", order_id=None, now=self.clock.now(), state=DeliveryState.RESERVED, severity="low",
            incident_at=received_at, purpose="answer", address=phone, body=text, subject=answer,
        )
        if reservation.fresh:
            await self.resume(await self.row(nid))
        else:
            logger.info("reply %s was answered (%s) already: %s", reply_id, answer, reservation.state)

    async def resume(self, row: Delivery) -> None:
        """A reserved answer (or one cut off by a restart before its provider call): send it as written."""
        profile = Profile(customer_id=row.customer_id, store_id="", phone=row.address)
        rendered = RenderedMessage(channel="sms", locale=profile.locale, text=row.body or "")
        await self.send(Outgoing(row.notification_id, "sms", profile, rendered, About.of_row(row)), claim={})
