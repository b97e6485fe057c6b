"""Messages of the notifier's own that are not about a new incident (the feedback question, "a person will get in
touch"): a ledger row of their own (`purpose`), decided by the same policy and sent by the one send path
(`Dispatcher.send`).

Each row holds the incident it speaks of (for the contact, the language and the order number), has no order
id (so the order's coalescing and follow-ups never see it), and is reserved before the provider is called.
`send_own` decides it with the follow-up policy (channel and consent, the frequency cap, quiet hours; no
coalescing: it is no news about the order) and sends, defers or drops it. They go by SMS; a message that has an
email form of its own (the feedback question: `email_for`) goes by email to a customer whose channel is email, and
the row's channel says which one it took. Without one, a customer whose channel is email is not sent it (the row
is suppressed with reason `sms_only`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from schemas import IncidentDetectedData
from services.common.clock import Clock
from services.notifier.ledger import Delivery, DeliveryState, Ledger
from services.notifier.outgoing import About, Outgoing, Send
from services.notifier.policy import IncidentRef, PolicySettings, Profile, evaluate_follow_up
from services.notifier.rendering import RenderedMessage
from services.notifier.settings import NotifierSettings

__all__ = ["OwnMessages"]

logger = logging.getLogger(__name__)

ProfileOf = Callable[[IncidentDetectedData], Awaitable[Profile]]
Report = Callable[..., Awaitable[None]]
IncidentOf = Callable[[Delivery], IncidentDetectedData]
S = DeliveryState


class OwnMessages:
    """The I/O every own message shares; subclasses decide when to reserve one and what it says."""

    def __init__(
        self, *, ledger: Ledger, policy: PolicySettings, settings: NotifierSettings, clock: Clock,
        profile_of: ProfileOf, send: Send, report: Report, incident_of: IncidentOf,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self.profile_of = profile_of
        self.send = send
        self.report = report
        self.incident_of = incident_of

    async def send_own(self, row: Delivery, incident: IncidentDetectedData,
                       text_for: Callable[[Profile], str],
                       email_for: Callable[[Profile], RenderedMessage] | None = None) -> None:
        """Decide a reserved row now: send it (its text, or its email when the policy picks email and the message
        has one, from the customer's profile), defer it, or drop it."""
        now = self.clock.now()
        profile = await self.profile_of(incident)
        context = await self.ledger.batch_context([(row.incident_id, row.customer_id, None)],
                                                  cap_since=now - self.policy.cap_window)
        decision = evaluate_follow_up(IncidentRef.of(incident), profile, now=now, settings=self.policy,
                                      sent_at=context.sent.get(row.customer_id, []))
        if decision.action == "defer":
            await self.ledger.transition(row.notification_id, S.DEFERRED, now=now, expect=(S.RESERVED,),
                                         due_at=decision.due_at, reason=str(decision.reason))
            return
        if decision.action == "send" and decision.channel == "email" and email_for is not None:
            email = email_for(profile)
            await self.send(Outgoing(row.notification_id, "email", profile, email, About.of(incident)), claim={
                "channel": "email", "body": email.text, "subject": email.subject, "address": profile.email})
            return
        if decision.action != "send" or decision.channel != "sms":
            await self.drop(row, str(decision.reason) if decision.reason is not None else "sms_only")
            return
        rendered = RenderedMessage(channel="sms", locale=profile.locale, text=text_for(profile))
        await self.send(Outgoing(row.notification_id, "sms", profile, rendered, About.of(incident)), claim={
            "body": rendered.text, "address": profile.phone})

    async def drop(self, row: Delivery, reason: str) -> None:
        now = self.clock.now()
        if await self.ledger.transition(row.notification_id, S.SUPPRESSED, now=now, expect=(S.RESERVED,),
                                        reason=reason):
            logger.info("%s message %s not sent: %s", row.purpose, row.notification_id, reason)
            await self.report(row, "notification.suppressed", now, reason=reason)

    async def row(self, nid: str) -> Delivery:
        found = await self.ledger.get(nid)
        if found is None:
            raise RuntimeError(f"ledger row {nid} vanished after its reservation")
        return found
