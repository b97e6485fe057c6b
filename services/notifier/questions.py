"""The feedback question after a resolved incident: decided by `feedback.should_ask`, sent once, by SMS.

The question is a ledger row of its own (`purpose` "feedback") under an id derived from the incident
and the customer, holding the incident it asks about; it has no order id, so the order's coalescing
and follow-ups never see it. It is reserved before the provider is called, so a redelivered
resolution, a replay or a restart finds it and never asks twice; the once-per-30-days rule reads
the customer's earlier questions from the same ledger, on event time (the resolutions' times).
A question waits `feedback_delay_s` after the resolution, and then goes the way of every message:
channel and consent, the frequency cap and quiet hours (`policy.evaluate_follow_up`). When it is
due it is decided again: another incident opened meanwhile suppresses it.

Only SMS carries the question for now: an answer is a reply ("2 the driver was rude"), which the
inbound path reads when the question is the latest message to that phone. A customer reached by
email only is not asked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from schemas import IncidentDetectedData, IncidentResolvedData
from services.common.clock import Clock
from services.common.ids import stable_id
from services.notifier.feedback import should_ask
from services.notifier.ledger import Delivery, Ledger
from services.notifier.policy import IncidentRef, PolicySettings, Profile, evaluate_follow_up
from services.notifier.providers import SendResult
from services.notifier.rendering import RenderedMessage
from services.notifier.rendering.answers import answer_sms
from services.notifier.settings import NotifierSettings

__all__ = ["FeedbackQuestions", "question_id"]

logger = logging.getLogger(__name__)

ProfileOf = Callable[[IncidentDetectedData], Awaitable[Profile]]
Deliver = Callable[[str, Profile, str, RenderedMessage], Awaitable[SendResult]]
Settle = Callable[[IncidentDetectedData, str, str, SendResult], Awaitable[None]]
Report = Callable[..., Awaitable[None]]
IncidentOf = Callable[[Delivery], IncidentDetectedData]


def question_id(incident_id: str, customer_id: str) -> str:
    """The feedback question about one incident for one customer: deterministic, one per incident."""
    return stable_id("ntf", incident_id, customer_id, "feedback", length=28)


class FeedbackQuestions:
    def __init__(
        self, *, ledger: Ledger, policy: PolicySettings, settings: NotifierSettings, clock: Clock,
        profile_of: ProfileOf, deliver: Deliver, settle: Settle, report: Report, incident_of: IncidentOf,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self.profile_of = profile_of
        self.deliver = deliver
        self.settle = settle
        self.report = report
        self.incident_of = incident_of
        self.every = timedelta(days=settings.feedback_every_days)

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
                             asked_at=asked_at, open_incidents=open_incidents,
                             after=self.settings.feedback_after, every=self.every)
        if not verdict.ask or told is None:
            logger.info("no feedback question about %s: %s", resolved.incident_id, verdict.reason)
            return
        incident = self.incident_of(told)
        now = self.clock.now()
        due = now + timedelta(seconds=self.settings.feedback_delay_s)
        reservation = await self.ledger.reserve(
            notification_id=nid, incident_id=stable_id("feedback", resolved.incident_id),
            customer_id=incident.customer.id, channel="sms", order_id=None, now=now, state="deferred", due_at=due,
            reason="feedback_delay", incident=told.incident, severity="low", incident_at=resolved.resolved_at,
            purpose="feedback", address=told.address,
        )
        if reservation.fresh:
            logger.info("feedback question about %s due at %s", resolved.incident_id, due.isoformat())
            if due <= now:
                await self.resume(await self._row(nid))

    async def resume(self, row: Delivery) -> None:
        """A question whose time has come (or cut off by a restart): decide it again, then send, defer or drop."""
        if not await self.ledger.transition(row.notification_id, "reserved", now=self.clock.now(),
                                            expect=("deferred", "reserved")):
            return
        incident = self.incident_of(row)
        now = self.clock.now()
        _, open_incidents = await self.ledger.feedback_context(
            row.customer_id, since=(row.incident_at or now) - self.every, leave_out=incident.incident_id)
        if open_incidents:
            await self._drop(row, incident, "incident_open")
            return
        profile = await self.profile_of(incident)
        _, _, _, sent_at = await self.ledger.decision_context(
            incident_id=row.incident_id, customer_id=row.customer_id, order_id=None,
            cap_since=now - self.policy.cap_window)
        decision = evaluate_follow_up(IncidentRef.of(incident), profile, now=now, settings=self.policy,
                                      sent_at=sent_at)
        if decision.action == "defer":
            await self.ledger.transition(row.notification_id, "deferred", now=now, expect=("reserved",),
                                         due_at=decision.due_at, reason=str(decision.reason))
            return
        if decision.action != "send" or decision.channel != "sms":
            reason = str(decision.reason) if decision.reason is not None else "feedback_by_sms_only"
            await self._drop(row, incident, reason)
            return
        text = answer_sms("feedback_question", locale=profile.locale or incident.customer.locale,
                          store_name=self.settings.store_name,
                          order_number=incident.order_number or incident.order_id)
        rendered = RenderedMessage(channel="sms", locale=profile.locale, text=text)
        if not await self.ledger.transition(row.notification_id, "sending", now=now, expect=("reserved",),
                                            body=text, address=profile.phone):
            return
        result = await self.deliver("sms", profile, row.notification_id, rendered)
        await self.settle(incident, row.notification_id, "sms", result)

    async def _drop(self, row: Delivery, incident: IncidentDetectedData, reason: str) -> None:
        now = self.clock.now()
        if await self.ledger.transition(row.notification_id, "suppressed", now=now, expect=("reserved",),
                                        reason=reason):
            logger.info("feedback question about %s not sent: %s", incident.incident_id, reason)
            await self.report(row, "notification.suppressed", now, reason=reason)

    async def _row(self, nid: str) -> Delivery:
        row = await self.ledger.get(nid)
        if row is None:
            raise RuntimeError(f"feedback question {nid} vanished after its reservation")
        return row
