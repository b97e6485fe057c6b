"""What customers and providers tell the notifier: profiles, consent, opt-outs, delivery status, replies, choices.

An inbound SMS is read by `replies.understand`: a carrier keyword keeps its carrier meaning
(STOP, START, HELP); a choice the customer's latest open message offered becomes `choice.made`
on `customer-actions` and a short confirmation in their language; anything else becomes
`customer.replied` (for a person) and an honest answer that a person will get back to them. A
reply to the feedback question (when it is the latest message to that phone) that starts with a
score becomes `feedback.given` (the words after the score go with it) and our thanks. A
signed email link arrives as `customer.chose` naming its notification, and becomes `choice.made`
the same way; a score clicked in the feedback email arrives as `customer.rated` naming the question,
and becomes the same `feedback.given` (one event per answer, as each SMS reply is one: the latest
answer to a question is the one that counts).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from schemas import (
    CloudEvent,
    CustomerChose,
    CustomerOptedIn,
    CustomerOptedOut,
    CustomerRated,
    CustomerUpdated,
    ProviderEmailEvent,
    ProviderSmsInbound,
    ProviderSmsStatus,
    make_event,
)
from schemas.choices import Choice
from services.common.clock import Clock
from services.common.ids import stable_id
from services.common.masking import mask_phone
from services.notifier.answers import Answers, answer_id
from services.notifier.conversation import Conversations, Offer
from services.notifier.feedback import Score, read_score
from services.notifier.ledger import Delivery, DeliveryState, Ledger
from services.notifier.profiles import ProfileStore
from services.notifier.rendering.answers import Answer, answer_sms
from services.notifier.replies import understand
from services.notifier.settings import NotifierSettings

__all__ = ["Inbound"]

logger = logging.getLogger(__name__)

SOURCE = "forewarn/notifier"
Emit = Callable[[CloudEvent], Awaitable[None]]
HONEST_ANSWER_EVERY = timedelta(hours=12)
"""At most one "a person will get back to you" per phone in this long: an auto-responder answering our answer
would otherwise start a loop. Every reply still becomes `customer.replied`. Read from the ledger (our answers'
rows), so a restart does not reset it."""
S = DeliveryState
# Twilio MessageStatus -> ledger state; SendGrid event -> ledger state.
SMS_STATUS = {"delivered": S.DELIVERED, "undelivered": S.UNDELIVERED, "failed": S.FAILED, "sent": S.SENT}
EMAIL_STATUS = {"delivered": S.DELIVERED, "bounce": S.BOUNCED, "dropped": S.FAILED}
EMAIL_SUPPRESSING = {"bounce", "dropped", "spamreport"}


class Inbound:
    def __init__(
        self, *, ledger: Ledger, profiles: ProfileStore, answers: Answers, settings: NotifierSettings,
        clock: Clock, emit_customer: Emit, emit_notification: Emit, emit_action: Emit | None = None,
    ) -> None:
        self.ledger = ledger
        self.conversations = Conversations(ledger)
        self.profiles = profiles
        self.answers = answers
        self.settings = settings
        self.clock = clock
        self.emit_customer = emit_customer
        self.emit_notification = emit_notification
        self.emit_action = emit_action

    # -- customers topic ---------------------------------------------------------------------
    async def on_customer_event(self, event: CloudEvent) -> None:
        if isinstance(event, CustomerUpdated):
            data = event.data
            await self.profiles.upsert(
                data.customer_id, now=data.updated_at, store_id=data.store_id, first_name=data.first_name,
                email=data.email, phone=data.phone, locale=data.locale, timezone=data.timezone,
                channel_preferences=list(data.channel_preferences) or None,
                consent={ch: rec.model_dump(mode="json") for ch, rec in data.consent.items()} or None,
            )
        elif isinstance(event, CustomerOptedOut | CustomerOptedIn):
            choice = event.data
            address: str | None = choice.phone if choice.channel == "sms" else choice.email
            customer_id = choice.customer_id
            if address is None and customer_id is None and choice.notification_id is not None:
                address, customer_id = await self._recipient_of(choice.notification_id, choice.channel)
            if address is None and customer_id is not None:
                stored = await self.profiles.get(customer_id)
                if stored is not None:
                    address = stored.phone if choice.channel == "sms" else stored.email
            if address is None:
                logger.warning("opt change for %s on %s names no address we know",
                               customer_id or choice.notification_id, choice.channel)
                return
            await self.profiles.set_opt_out(choice.channel, address, opted_out=isinstance(event, CustomerOptedOut),
                                            source=choice.source, now=choice.at)
        elif isinstance(event, CustomerChose):
            await self._chose_by_link(event)
        elif isinstance(event, CustomerRated):
            await self._rated_by_link(event)

    async def _chose_by_link(self, event: CustomerChose) -> None:
        """A verified email link: the choice counts when that message offered it."""
        data = event.data
        offer = await self.conversations.of_notification(data.notification_id)
        if offer is None or data.choice not in offer.choices:
            logger.warning("a choice link names %s, which offered no such choice", data.notification_id)
            return
        await self._choice_made(offer, data.choice, channel="email", at=data.at,
                                event_id=stable_id("choice", data.notification_id, data.choice))

    async def _rated_by_link(self, event: CustomerRated) -> None:
        """A verified feedback link: the answer counts when it names a feedback question we sent."""
        data = event.data
        offer = await self.conversations.question(data.notification_id)
        if offer is None:
            logger.warning("a feedback link names %s, which is no feedback question we sent", data.notification_id)
            return
        await self._feedback_given(offer, Score(data.score, data.text), at=data.at,
                                   event_id=stable_id("feedback", event.id))

    async def _recipient_of(self, notification_id: str, channel: str) -> tuple[str | None, str | None]:
        """(address, customer id) a notification went to on `channel`, from the ledger (an unsubscribe link)."""
        row = await self.ledger.get(notification_id)
        if row is None or row.channel != channel:
            return None, None
        return row.address, row.customer_id

    # -- provider-events topic ---------------------------------------------------------------
    async def on_provider_event(self, event: CloudEvent) -> None:
        if isinstance(event, ProviderSmsStatus):
            await self._sms_status(event)
        elif isinstance(event, ProviderSmsInbound):
            await self._sms_inbound(event)
        elif isinstance(event, ProviderEmailEvent):
            await self._email_event(event)

    async def _sms_status(self, event: ProviderSmsStatus) -> None:
        data = event.data
        state = SMS_STATUS.get(data.status)
        if data.error_code == "21610":
            await self.profiles.set_opt_out("sms", data.to, opted_out=True, source="twilio_21610",
                                            now=data.received_at)
        if state is None:
            return
        row = await self.ledger.record_status(data.message_sid, state, now=data.received_at)
        if row is not None and state in (S.DELIVERED, S.UNDELIVERED, S.FAILED):
            await self._outcome(row, "notification.delivered" if state == S.DELIVERED else "notification.failed",
                                reason=None if state == S.DELIVERED else f"{state}:{data.error_code or ''}")

    async def _sms_inbound(self, event: ProviderSmsInbound) -> None:
        data = event.data
        offer = await self.conversations.latest_to_phone(data.from_)
        understood = understand(data.body, offer.choices if offer is not None and offer.open else ())
        reply = understood.kind
        now = data.received_at
        if reply in ("stop", "start"):
            opted_out = reply == "stop"
            await self.profiles.set_opt_out("sms", data.from_, opted_out=opted_out, source="sms_keyword", now=now)
            kind = "customer.opted_out" if opted_out else "customer.opted_in"
            await self.emit_customer(make_event(
                kind, {"channel": "sms", "phone": data.from_, "source": "sms_keyword", "at": now},
                source=SOURCE, subject=data.from_, time=now, id=f"{data.message_sid}:{reply}"))
            logger.info("%s by SMS keyword from %s", kind, mask_phone(data.from_))
        elif reply == "help":
            await self._answer("help", data.message_sid, data.from_, offer, now)
        elif offer is not None and offer.feedback and (score := read_score(data.body)) is not None:
            await self._feedback_given(offer, score, at=now, event_id=stable_id("feedback", data.message_sid))
            await self._answer("feedback_thanks_low" if score.low else "feedback_thanks", data.message_sid,
                               data.from_, offer, now)
        elif reply == "choice" and offer is not None and understood.choice is not None:
            await self._choice_made(offer, understood.choice, channel="sms", at=now,
                                    event_id=stable_id("choice", data.message_sid))
            await self._answer("confirmed", data.message_sid, data.from_, offer, now, understood.choice)
        else:
            customer_id = offer.incident.customer.id if offer is not None else await self._customer_for_phone(
                data.from_)
            if customer_id is None:
                logger.info("reply from an unknown number %s", mask_phone(data.from_))
                return
            replied = {"customer_id": customer_id, "channel": "sms", "received_at": now, "body": data.body,
                       "in_reply_to": offer.notification_id if offer is not None else None}
            await self.emit_customer(make_event(
                "customer.replied", {k: v for k, v in replied.items() if v is not None}, source=SOURCE,
                subject=customer_id, time=now, id=f"{data.message_sid}:reply"))
            if await self._may_answer(data.from_, data.message_sid, now):
                await self._answer("not_understood", data.message_sid, data.from_, offer, now)

    async def _may_answer(self, phone: str, message_sid: str, now: datetime) -> bool:
        """False when another reply from `phone` got the honest answer within HONEST_ANSWER_EVERY (by the replies'
        own receipt times); this reply read again is let through (its answer's row stops a second send)."""
        last = await self.ledger.last_answer(phone, "not_understood", near=now, within=HONEST_ANSWER_EVERY)
        if last is not None and await self.ledger.get(answer_id(message_sid, "not_understood")) is None:
            logger.info("not answering %s again so soon", mask_phone(phone))
            return False
        return True

    async def _choice_made(self, offer: Offer, choice: Choice, *, channel: str, at: datetime, event_id: str) -> None:
        """`choice.made` on customer-actions, keyed by the order (the customer when there is none)."""
        if self.emit_action is None:
            raise RuntimeError("the notifier was built without the customer-actions output")
        incident = offer.incident
        data = {"incident_id": incident.incident_id, "kind": incident.kind, "order_id": incident.order_id,
                "order_number": offer.order_number, "customer_id": incident.customer.id,
                "store_id": incident.store_id, "choice": choice, "channel": channel,
                "notification_id": offer.notification_id, "locale": incident.customer.locale, "made_at": at}
        await self.emit_action(make_event(
            "choice.made", {k: v for k, v in data.items() if v is not None}, source=SOURCE,
            subject=incident.order_id or incident.customer.id, time=at, id=event_id))
        logger.info("choice %s made by %s for incident %s", choice, channel, incident.incident_id)

    async def _feedback_given(self, offer: Offer, score: Score, *, at: datetime, event_id: str) -> None:
        """`feedback.given` on customer-actions, keyed like a choice: the order, else the customer."""
        if self.emit_action is None:
            raise RuntimeError("the notifier was built without the customer-actions output")
        incident = offer.incident
        data = {"feedback_id": offer.notification_id, "incident_id": incident.incident_id, "kind": incident.kind,
                "order_id": incident.order_id, "order_number": offer.order_number,
                "customer_id": incident.customer.id, "store_id": incident.store_id, "score": score.score,
                "text": score.text, "channel": offer.channel, "notification_id": offer.notification_id,
                "locale": incident.customer.locale, "given_at": at}
        await self.emit_action(make_event(
            "feedback.given", {k: v for k, v in data.items() if v is not None}, source=SOURCE,
            subject=incident.order_id or incident.customer.id, time=at, id=event_id))
        logger.info("feedback %d/5 given for incident %s", score.score, incident.incident_id)

    async def _answer(
        self, answer: Answer, message_sid: str, phone: str, offer: Offer | None, received_at: datetime,
        choice: Choice | None = None,
    ) -> None:
        """Text back in the customer's language (that of the message they answer, else their profile's), once
        per reply (see `answers`)."""
        customer_id = offer.incident.customer.id if offer is not None else await self._customer_for_phone(phone)
        locale = offer.incident.customer.locale if offer is not None else await self._locale_of(phone)
        text = answer_sms(answer, locale=locale, store_name=self.settings.store_name, choice=choice,
                          order_number=(offer.order_number or offer.incident.order_id) if offer is not None else None,
                          support_phone=self.settings.support_phone, help_url=self.settings.help_url)
        await self.answers.answer(reply_id=message_sid, answer=answer, phone=phone, text=text,
                                  customer_id=customer_id or stable_id("phone", phone), received_at=received_at)

    async def _locale_of(self, phone: str) -> str | None:
        customer_id = await self._customer_for_phone(phone)
        stored = await self.profiles.get(customer_id) if customer_id is not None else None
        return stored.locale if stored is not None else None

    async def _customer_for_phone(self, phone: str) -> str | None:
        return await self.ledger.customer_for_phone(phone)

    async def _email_event(self, event: ProviderEmailEvent) -> None:
        data = event.data
        if data.event in EMAIL_SUPPRESSING:
            await self.profiles.set_opt_out("email", data.email, opted_out=True, source=data.event,
                                            now=data.occurred_at)
        elif data.event == "unsubscribe":
            await self.profiles.set_opt_out("email", data.email, opted_out=True, source="email_unsubscribe",
                                            now=data.occurred_at)
        if data.notification_id is None:
            return
        state = EMAIL_STATUS.get(data.event)
        row = await self.ledger.get(data.notification_id)
        if state is None or row is None or row.provider_message_id is None:
            return
        moved = await self.ledger.record_status(row.provider_message_id, state, now=data.occurred_at)
        if moved is not None:
            kind = {S.DELIVERED: "notification.delivered", S.BOUNCED: "notification.bounced"}.get(
                state, "notification.failed")
            await self._outcome(moved, kind, reason=None if state == S.DELIVERED else data.event)

    async def _outcome(self, row: Delivery, type_: str, reason: str | None) -> None:
        status = type_.split(".", 1)[1]
        now = self.clock.now()
        data = {"notification_id": row.notification_id, "incident_ids": [row.incident_id],
                "customer_id": row.customer_id, "order_id": row.order_id, "channel": row.channel,
                "status": status, "at": now, "provider": row.provider,
                "provider_message_id": row.provider_message_id, "reason": reason or (None if status != "failed"
                                                                                     else "failed")}
        await self.emit_notification(make_event(type_, {k: v for k, v in data.items() if v is not None},
                                                source=SOURCE, subject=row.customer_id, time=now,
                                                id=f"{row.notification_id}:{status}"))
