"""The feedback question after a resolved incident: decided by `feedback.should_ask`, sent once, by SMS or email.

The question is a ledger row of its own (`purpose` "feedback") under an id derived from the incident
and the customer, holding the incident it asks about; it has no order id, so the order's coalescing
and follow-ups never see it. It is reserved before the provider is called, so a redelivered
resolution, a replay or a restart finds it and never asks twice; the once-per-30-days rule reads
the customer's earlier questions from the same ledger, on event time (the resolutions' times).
A question waits `feedback_delay_s` after the resolution, and then goes the way of every message:
channel and consent, the frequency cap and quiet hours (`policy.evaluate_follow_up`). When it is
due it is decided again: another incident opened meanwhile suppresses it.

By SMS an answer is a reply ("2 the driver was rude"), which the inbound path reads when the
question is the latest message to that phone. A customer whose channel is email (the policy's pick:
reachable by email only, or email preferred) gets an email with five signed one-click links, 1 to 5
(`links.EmailLinks.feedback`); the gateway's page behind each takes optional words and publishes
`customer.rated` naming the question, which the inbound path turns into the same `feedback.given`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from schemas import IncidentResolvedData
from services.common.ids import stable_id
from services.notifier.feedback import should_ask
from services.notifier.ledger import Delivery, DeliveryState
from services.notifier.links import EmailLinks
from services.notifier.own_messages import OwnMessages
from services.notifier.policy import Profile
from services.notifier.rendering import RenderedMessage
from services.notifier.rendering.answers import answer_sms, feedback_email

__all__ = ["FeedbackQuestions", "question_id"]

logger = logging.getLogger(__name__)

def question_id(incident_id: str, customer_id: str) -> str:
    """The feedback question about one incident for one customer: deterministic, one per incident."""
    return stable_id("ntf", incident_id, customer_id, "feedback", length=28)


class FeedbackQuestions(OwnMessages):
    """The feedback question: asked by `on_resolved`, sent by `resume` (see the module's docstring)."""

    def __init__(self, *, links: EmailLinks, **wiring: Any) -> None:
        super().__init__(**wiring)
        self.links = links
        self.every = timedelta(days=self.settings.feedback_every_days)

    async def on_resolved(self, resolved: IncidentResolvedData) -> None:
        """An incident ended: ask how we handled it, when the rule allows (see `feedback.should_ask`)."""
        if not self.settings.feedback_enabled:
            return
        nid = question_id(resolved.incident_id, resolved.customer_id)
        if await self.ledger.get(nid) is not None:
            return  # asked already (a redelivery or a replay)
        told = await self.ledger.told_of(resolved.incident_id, resolved.customer_id)
        asked_at, open_incidents = await self.ledger.feedback_context(
            resolved.customer_id, since=resolved.resolved_at - self.every, leave_out=resolved.incident_id)
        verdict = should_ask(reason=resolved.reason, told=told is not None, resolved_at=resolved.resolved_at,
                             asked_at=asked_at, open_incidents=open_incidents, now=self.clock.now(),
                             after=self.settings.feedback_after, every=self.every,
                             max_age=timedelta(days=self.settings.feedback_max_age_days))
        if not verdict.ask or told is None:
            logger.info("no feedback question about %s: %s", resolved.incident_id, verdict.reason)
            return
        incident = self.incident_of(told)
        now = self.clock.now()
        due = now + timedelta(seconds=self.settings.feedback_delay_s)
        reservation = await self.ledger.reserve(
            notification_id=nid, incident_id=stable_id("feedback", resolved.incident_id),
            customer_id=incident.customer.id, channel="sms", order_id=None, now=now, state=DeliveryState.DEFERRED,
            due_at=due, reason="feedback_delay", incident=told.incident, severity="low",
            incident_at=resolved.resolved_at, purpose="feedback", address=told.address,
        )
        if reservation.fresh:
            logger.info("feedback question about %s due at %s", resolved.incident_id, due.isoformat())
            if due <= now:
                await self.resume(await self.row(nid))

    async def resume(self, row: Delivery) -> None:
        """A question whose time has come (or cut off by a restart): decide it again, then send, defer or drop."""
        if not await self.ledger.transition(row.notification_id, DeliveryState.RESERVED, now=self.clock.now(),
                                            expect=(DeliveryState.DEFERRED, DeliveryState.RESERVED)):
            return
        incident = self.incident_of(row)
        now = self.clock.now()
        _, open_incidents = await self.ledger.feedback_context(
            row.customer_id, since=(row.incident_at or now) - self.every, leave_out=incident.incident_id)
        if open_incidents:
            await self.drop(row, "incident_open")
            return
        order_number = incident.order_number or incident.order_id

        def email(profile: Profile) -> RenderedMessage:
            locale = profile.locale or incident.customer.locale
            return feedback_email(
                locale=locale, store_name=self.settings.store_name, order_number=order_number,
                first_name=profile.first_name or None, unsubscribe_url=self.links.unsubscribe(row.notification_id),
                score_urls=self.links.feedback(row.notification_id, now=self.clock.now(), locale=locale))

        await self.send_own(row, incident, lambda profile: answer_sms(
            "feedback_question", locale=profile.locale or incident.customer.locale,
            store_name=self.settings.store_name, order_number=order_number), email)
