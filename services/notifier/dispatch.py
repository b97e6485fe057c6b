"""The notifier's use cases: an incident becomes at most one message per channel, sent once.

Policy and rendering are pure (policy/, rendering/); this module does the I/O around them:
the ledger (SQL), the provider call and the outcome events."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas import CloudEvent, IncidentDetected, IncidentDetectedData, make_event, parse_event
from services.common.clock import Clock
from services.common.metrics import NOTIFICATIONS
from services.notifier.ledger import Delivery, Ledger
from services.notifier.policy import PolicySettings, Profile, choose_channel, quiet_hours
from services.notifier.providers import EmailMessage, EmailProvider, SendResult, SmsMessage, SmsProvider
from services.notifier.rendering import MessageContext, RenderedMessage, StoreInfo, list_unsubscribe_headers, render
from services.notifier.settings import NotifierSettings

__all__ = ["Dispatcher", "notification_id_for"]

logger = logging.getLogger(__name__)

SOURCE = "forewarn/notifier"
Emit = Callable[[CloudEvent], Awaitable[None]]


def notification_id_for(incident_id: str, customer_id: str, channel: str) -> str:
    """Deterministic, so a replay finds the same ledger row."""
    digest = hashlib.sha256(f"{incident_id}|{customer_id}|{channel}".encode()).hexdigest()
    return f"ntf-{digest[:28]}"


@dataclass(frozen=True)
class Providers:
    sms: SmsProvider
    email: EmailProvider


class Dispatcher:
    """Turns incidents into sends, deferrals or suppressions, and reports each as an event."""

    def __init__(
        self, *, ledger: Ledger, providers: Providers, settings: NotifierSettings, clock: Clock, emit: Emit,
    ) -> None:
        self.ledger = ledger
        self.providers = providers
        self.settings = settings
        self.clock = clock
        self.emit = emit
        self.policy = PolicySettings(
            sms_window_start=settings.sms_window_start, sms_window_end=settings.sms_window_end,
            store_timezone=settings.store_timezone, coalesce_window=timedelta(seconds=settings.coalesce_window_s),
            cap_per_24h=settings.cap_per_24h, require_explicit_consent=settings.require_explicit_consent,
        )
        self.store = StoreInfo(
            name=settings.store_name, support_phone=settings.support_phone, support_email=settings.support_email,
            help_url=settings.help_url,
        )
        self._pool = asyncio.Semaphore(settings.send_concurrency)

    # -- incidents ---------------------------------------------------------------------------
    async def on_incident(self, event: IncidentDetected) -> None:
        incident = event.data
        profile = self._profile(incident)
        choice = choose_channel(profile, self.policy)
        now = self.clock.now()
        if choice.channel is None:
            await self._record_suppressed(incident, None, choice.reason or "no_channel", now)
            return
        channel = choice.channel
        nid = notification_id_for(incident.incident_id, incident.customer.id, channel)
        due = quiet_hours(channel, profile.timezone, now, self.policy)
        reservation = await self.ledger.reserve(
            notification_id=nid, incident_id=incident.incident_id, customer_id=incident.customer.id,
            channel=channel, order_id=incident.order_id, now=now,
            state="deferred" if due is not None else "reserved", due_at=due, incident=event.to_bytes().decode(),
        )
        if not reservation.fresh:
            if reservation.state != "reserved":
                logger.info("incident %s already handled on %s (%s)", incident.incident_id, channel, reservation.state)
                return
            if due is not None:  # a reservation left by a crash, now inside quiet hours
                await self.ledger.transition(nid, "deferred", now=now, expect=("reserved",), due_at=due)
        if due is not None:
            await self._emit_outcome("notification.deferred", incident, nid, channel, now, due_at=due,
                                     reason="quiet_hours")
            return
        await self._send(incident, profile, channel, nid)

    async def _record_suppressed(
        self, incident: IncidentDetectedData, channel: str | None, reason: str, now: datetime
    ) -> None:
        nid = notification_id_for(incident.incident_id, incident.customer.id, channel or "none")
        reservation = await self.ledger.reserve(
            notification_id=nid, incident_id=incident.incident_id, customer_id=incident.customer.id,
            channel=channel or "none", order_id=incident.order_id, now=now, state="suppressed", reason=reason)
        if reservation.fresh:
            await self._emit_outcome("notification.suppressed", incident, nid, channel, now, reason=reason)

    def _profile(self, incident: IncidentDetectedData) -> Profile:
        customer = incident.customer
        return Profile(
            customer_id=customer.id, store_id=incident.store_id, first_name=customer.first_name,
            email=customer.email, phone=customer.phone, locale=customer.locale, timezone=customer.timezone,
        )

    # -- sending -----------------------------------------------------------------------------
    def _render(self, incident: IncidentDetectedData, profile: Profile, channel: str, nid: str) -> RenderedMessage:
        ctx = MessageContext.from_incidents(
            [incident], store=self.store, timezone_fallback=self.settings.store_timezone,
            unsubscribe_url=f"{self.settings.public_base_url}/unsubscribe/{nid}",
        )
        return render(ctx, "sms" if channel == "sms" else "email")

    async def _send(self, incident: IncidentDetectedData, profile: Profile, channel: str, nid: str) -> None:
        rendered = self._render(incident, profile, channel, nid)
        now = self.clock.now()
        await self.ledger.transition(nid, "sending", now=now, expect=("reserved",), body=rendered.text,
                                     subject=rendered.subject)
        async with self._pool:
            result = await self._deliver(channel, profile, nid, rendered)
        await self._settle(incident, nid, channel, result)

    async def _deliver(self, channel: str, profile: Profile, nid: str, rendered: RenderedMessage) -> SendResult:
        """Call the provider; a `retry` answer is repeated after the delay it asks for, a bounded number of times."""
        delay = 1.0
        for attempt in range(1, self.settings.max_attempts + 1):
            await self.ledger.transition(nid, "sending", now=self.clock.now(), attempts=Delivery.attempts + 1)
            if channel == "sms":
                if profile.phone is None:
                    return SendResult("failed", "none", reason="no_phone")
                result = await self.providers.sms.send_sms(SmsMessage(
                    nid, profile.phone, rendered.text,
                    status_callback=f"{self.settings.public_base_url}/webhooks/twilio/status"))
            else:
                if profile.email is None:
                    return SendResult("failed", "none", reason="no_email")
                result = await self.providers.email.send_email(EmailMessage(
                    nid, profile.email, rendered.subject or "", rendered.text, rendered.html,
                    headers=list_unsubscribe_headers(
                        f"{self.settings.public_base_url}/unsubscribe/{nid}", self.settings.support_email)))
            if result.outcome != "retry" or attempt == self.settings.max_attempts:
                return result
            wait = result.retry_after if result.retry_after is not None else delay
            await asyncio.sleep(min(wait, self.settings.retry_backoff_max_s))
            delay = min(delay * 2, self.settings.retry_backoff_max_s)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _settle(self, incident: IncidentDetectedData, nid: str, channel: str, result: SendResult) -> None:
        now = self.clock.now()
        if result.outcome == "sent":
            await self.ledger.transition(nid, "sent", now=now, provider=result.provider,
                                         provider_message_id=result.provider_message_id)
            await self._emit_outcome("notification.sent", incident, nid, channel, now, provider=result.provider,
                                     provider_message_id=result.provider_message_id)
        elif result.outcome == "ambiguous":
            await self.ledger.transition(nid, "ambiguous", now=now, provider=result.provider, reason=result.reason)
            await self.reconcile(nid)
        else:
            reason = result.reason or result.outcome
            await self.ledger.transition(nid, "failed", now=now, provider=result.provider, reason=reason)
            await self._emit_outcome("notification.failed", incident, nid, channel, now, reason=reason,
                                     provider=result.provider)

    async def on_resolved(self, incident_id: str, reason: str) -> None:
        """The condition cleared before we spoke: withdraw what has not gone out."""
        now = self.clock.now()
        for row in await self.ledger.withdraw(incident_id, now=now, reason=f"resolved_before_send:{reason}"):
            await self._emit_row_outcome("notification.suppressed", row, now, reason="resolved_before_send")

    async def send_due(self) -> int:
        """Send deferred messages whose time has come, and retry reserved rows left by a crash."""
        now = self.clock.now()
        rows = await self.ledger.due(now)
        for row in rows:
            if not await self.ledger.transition(row.notification_id, "reserved", now=now, expect=("deferred",)):
                continue
            await self._send_row(row)
        return len(rows)

    async def recover(self) -> None:
        """After a restart: a send cut off mid-call is ambiguous (look it up); a bare reservation is sent."""
        now = self.clock.now()
        for row in await self.ledger.by_state("sending"):
            await self.ledger.transition(row.notification_id, "ambiguous", now=now, expect=("sending",),
                                         reason="interrupted")
            await self.reconcile(row.notification_id)
        for row in await self.ledger.by_state("reserved"):
            await self._send_row(row)

    async def _send_row(self, row: Delivery) -> None:
        if not row.incident:
            await self.ledger.transition(row.notification_id, "failed", now=self.clock.now(), reason="no_incident")
            return
        event = parse_event(row.incident)
        if not isinstance(event, IncidentDetected):
            raise TypeError(f"ledger row {row.notification_id} holds a {event.type}, not an incident")
        incident = event.data
        await self._send(incident, self._profile(incident), row.channel, row.notification_id)

    async def reconcile(self, nid: str) -> None:
        """An ambiguous send: ask the provider whether it went before deciding anything."""
        row = await self.ledger.get(nid)
        if row is None or row.state != "ambiguous":
            return
        found = await self._lookup(row)
        now = self.clock.now()
        if found is not None:
            await self.ledger.transition(nid, "sent", now=now, expect=("ambiguous",), provider_message_id=found,
                                         reason="reconciled")
            await self._emit_row_outcome("notification.sent", row, now, provider_message_id=found)
        elif row.attempts >= self.settings.max_attempts:
            await self.ledger.transition(nid, "failed", now=now, expect=("ambiguous",), reason="gave_up_ambiguous")
            await self._emit_row_outcome("notification.failed", row, now, reason="gave_up_ambiguous")
        else:
            # It never reached the provider: sending again cannot duplicate it.
            if await self.ledger.transition(nid, "reserved", now=now, expect=("ambiguous",),
                                            reason="not_found_at_provider"):
                await self._send_row(row)

    async def _lookup(self, row: Delivery) -> str | None:
        since = row.created_at
        customer = parse_event(row.incident or "").data.customer if row.incident else None
        if row.channel == "sms":
            to = customer.phone if customer is not None and customer.phone else ""
            return await self.providers.sms.find_sms(SmsMessage(row.notification_id, to, row.body or ""), since)
        to = customer.email if customer is not None and customer.email else ""
        return await self.providers.email.find_email(
            EmailMessage(row.notification_id, to, row.subject or "", row.body or "", None), since)

    # -- outcomes ----------------------------------------------------------------------------
    async def _emit_outcome(
        self, type_: str, incident: IncidentDetectedData, nid: str, channel: str | None, now: datetime, **fields: object
    ) -> None:
        status = type_.split(".", 1)[1]
        NOTIFICATIONS.labels(status, channel or "none").inc()
        data = {"notification_id": nid, "incident_ids": [incident.incident_id], "customer_id": incident.customer.id,
                "order_id": incident.order_id, "channel": channel, "status": status, "at": now, **fields}
        await self.emit(make_event(type_, data, source=SOURCE, subject=incident.customer.id, time=now,
                                   id=f"{nid}:{status}"))

    async def _emit_row_outcome(self, type_: str, row: Delivery, now: datetime, **fields: object) -> None:
        status = type_.split(".", 1)[1]
        NOTIFICATIONS.labels(status, row.channel).inc()
        data = {"notification_id": row.notification_id, "incident_ids": [row.incident_id],
                "customer_id": row.customer_id, "order_id": row.order_id, "channel": row.channel,
                "status": status, "at": now, **fields}
        await self.emit(make_event(type_, data, source=SOURCE, subject=row.customer_id, time=now,
                                   id=f"{row.notification_id}:{status}"))
