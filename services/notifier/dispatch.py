"""The notifier's use cases: an incident becomes at most one message, sent once, at a humane hour.

Policy and rendering are pure (policy/, rendering/); this module does the I/O around them:
the ledger and profiles (SQL), the provider call and the outcome events.

One decision path: incidents are decided in batches (`on_incidents`; one incident is a batch of one)
against one read of the ledger. One send path: every message the notifier sends (about an incident, a
follow-up, an answer to a reply, the feedback question, a case notice) goes out through `send` (or, for
fresh incidents reserved straight into `sending` in bulk, `_send_fresh`), which calls the provider,
reports the outcome and then records it (an outcome event is an effect: acked before the ledger moves on); an
ambiguous outcome is looked up at the provider by `reconcile`.
A row's states and their moves are `delivery_states`, enforced by the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from schemas import (
    CloudEvent,
    IncidentDetected,
    IncidentDetectedData,
    IncidentResolved,
    IncidentResolvedData,
    make_event,
    parse_event,
)
from services.common.clock import Clock
from services.common.metrics import NOTIFICATIONS
from services.notifier.answers import Answers
from services.notifier.delivery_states import PENDING_STATES, SENT_STATES, DeliveryState
from services.notifier.follow_ups import FollowUps
from services.notifier.ledger import Delivery, Ledger
from services.notifier.links import EmailLinks
from services.notifier.notices import CaseNotices
from services.notifier.outgoing import About, Outgoing
from services.notifier.policy import (
    Decision,
    IncidentRef,
    OrderMessage,
    PolicySettings,
    Profile,
    PromiseSettings,
    coalesce,
    evaluate,
    promise_for,
)
from services.notifier.profiles import Contact, ProfileStore
from services.notifier.providers import EmailMessage, EmailProvider, SendResult, SmsMessage, SmsProvider, compose_email
from services.notifier.questions import FeedbackQuestions
from services.notifier.rendering import MessageContext, RenderedMessage, StoreInfo, render
from services.notifier.settings import NotifierSettings

__all__ = ["Dispatcher", "Providers", "notification_id_for"]

logger = logging.getLogger(__name__)

SOURCE = "forewarn/notifier"
Emit = Callable[[CloudEvent], Awaitable[None]]
EmitAll = Callable[[Sequence[CloudEvent]], Awaitable[None]]
ReadUntil = Callable[[], Awaitable[datetime | None]]
S = DeliveryState
DECIDED = {"send": S.RESERVED, "defer": S.DEFERRED, "suppress": S.SUPPRESSED, "join": S.JOINED}
"""The row a decision leaves: a message to send is reserved first."""


def notification_id_for(incident_id: str, customer_id: str, channel: str) -> str:
    """Deterministic, so a replay finds the same ledger row."""
    digest = hashlib.sha256(f"{incident_id}|{customer_id}|{channel}".encode()).hexdigest()
    return f"ntf-{digest[:28]}"


class Composed(NamedTuple):
    """A rendered message and the promise of the next update it makes."""

    rendered: RenderedMessage
    promise: datetime | None


class Fresh(NamedTuple):
    """An incident decided `send` with no row yet (its notification id `nid`): reserved straight into `sending`."""

    nid: str
    event: IncidentDetected
    profile: Profile
    channel: str
    composed: Composed


@dataclass(frozen=True)
class Providers:
    sms: SmsProvider
    email: EmailProvider

    async def close(self) -> None:
        await self.sms.close()
        if id(self.email) != id(self.sms):  # the console outbox may serve both
            await self.email.close()


class Dispatcher:
    """Turns incidents into sends, deferrals, joins or suppressions, and reports each as an event."""

    def __init__(
        self, *, ledger: Ledger, profiles: ProfileStore, providers: Providers, settings: NotifierSettings,
        clock: Clock, emit: Emit, emit_all: EmitAll | None = None, links: EmailLinks | None = None,
        incidents_read: ReadUntil | None = None,
    ) -> None:
        """`emit` reports one outcome event, awaiting its ack; `emit_all` many at once, all acked when it returns
        (by default, `emit` on each concurrently). `incidents_read` tells how far (wall clock) the incidents
        stream has been handled; promises due after that wait for it (see `incidents_read.IncidentsRead`).
        Without it, promises are decided on time."""
        self.ledger = ledger
        self.profiles = profiles
        self.providers = providers
        self.settings = settings
        self.clock = clock
        self.emit = emit
        self.emit_all = emit_all or self._emit_each
        self.links = links or EmailLinks.development(settings.public_base_url)
        self.policy = PolicySettings(
            sms_window_start=settings.sms_window_start, sms_window_end=settings.sms_window_end,
            store_timezone=settings.store_timezone, coalesce_window=timedelta(seconds=settings.coalesce_window_s),
            cap_per_24h=settings.cap_per_24h, require_explicit_consent=settings.require_explicit_consent,
        )
        self.store = StoreInfo(
            name=settings.store_name, support_phone=settings.support_phone, support_email=settings.support_email,
            help_url=settings.help_url, timezone=settings.store_timezone,
        )
        self.promises = PromiseSettings(
            after=timedelta(seconds=settings.promise_after_s), business_mornings=settings.promise_business_mornings,
            morning=settings.promise_morning, max_follow_ups=settings.follow_ups_max,
            store_timezone=settings.store_timezone,
        )
        self.follow_ups = FollowUps(ledger=ledger, policy=self.policy, promises=self.promises, clock=clock,
                                    profile_of=self._profile, send=self._send, report=self._emit_row)
        own: dict[str, Any] = {"ledger": ledger, "policy": self.policy, "settings": settings, "clock": clock,
                               "profile_of": self._profile, "send": self.send,
                               "report": self._emit_row, "incident_of": _incident_of}
        self.questions = FeedbackQuestions(**own, links=self.links)
        self.notices = CaseNotices(**own)
        self.answers = Answers(**own)
        self.incidents_read = incidents_read
        self._pool = asyncio.Semaphore(settings.send_concurrency)

    # -- incidents ---------------------------------------------------------------------------
    async def on_incident(self, event: IncidentDetected) -> None:
        """One incident: a batch of one (`on_incidents`)."""
        await self.on_incidents([event])

    async def on_incident_batch(self, events: Sequence[CloudEvent]) -> None:
        """A batch from `incidents`: its withdrawals first, then its detections in bulk.

        A detection withdrawn later in the same batch is already untrue: with the withdrawal
        recorded first, the staleness step suppresses it instead of sending it."""
        for event in events:
            if isinstance(event, IncidentResolved):
                await self.on_resolved(event.data.incident_id, event.data.reason)
        await self.on_incidents([e for e in events if isinstance(e, IncidentDetected)])
        for event in events:  # after the batch's detections: a question never goes beside a problem message
            if isinstance(event, IncidentResolved):
                await self.ask_feedback(event.data)

    async def ask_feedback(self, resolved: IncidentResolvedData) -> None:
        """The one question about how we handled an incident that ended (see `questions`)."""
        await self.questions.on_resolved(resolved)

    async def on_incidents(self, events: list[IncidentDetected]) -> None:
        """Decide incidents, with the ledger read and written in bulk. A customer's incidents are decided in
        order (one per customer per round), so coalescing and the cap see the earlier ones."""
        pending = list(events)
        while pending:
            batch: list[IncidentDetected] = []
            later: list[IncidentDetected] = []
            seen: set[str] = set()
            for event in pending:
                (later if event.data.customer.id in seen else batch).append(event)
                seen.add(event.data.customer.id)
            await self._decide_batch(batch)
            pending = later

    async def _decide_batch(self, events: list[IncidentDetected]) -> None:
        """Decide incidents of distinct customers against one read of the ledger; fresh sends go out together."""
        now = self.clock.now()
        context = await self.ledger.batch_context(
            [(e.data.incident_id, e.data.customer.id, e.data.order_id) for e in events],
            cap_since=now - self.policy.cap_window)
        profiles = await self.profiles.profiles_for([_contact(e.data) for e in events])
        fresh: list[Fresh] = []
        others: list[tuple[IncidentDetected, Profile, Decision, Any]] = []
        repeats = 0
        for event in events:
            incident = event.data
            existing = context.existing.get((incident.incident_id, incident.customer.id))
            if existing is not None and existing.state != S.RESERVED:
                repeats += 1  # a redelivery or a replay: never a second message
                continue
            profile = profiles[incident.customer.id]
            decision = evaluate(
                IncidentRef.of(incident), profile, now=now, settings=self.policy,
                messages_same_order=_order_messages(incident.order_id, [
                    r for r in context.by_order.get((incident.customer.id, incident.order_id or ""), [])
                    if r.incident_id != incident.incident_id]),
                sent_at=context.sent.get(incident.customer.id, []),
                resolved_ids=({incident.incident_id} if incident.incident_id in context.resolved else ()),
            )
            if existing is None and decision.action == "send" and decision.channel is not None:
                nid = notification_id_for(incident.incident_id, incident.customer.id, decision.channel)
                fresh.append(Fresh(nid, event, profile, decision.channel,
                                   self._render([incident], profile, decision.channel, nid)))
            else:
                others.append((event, profile, decision, existing))
        if repeats:
            logger.info("%d incidents of the batch were already handled", repeats)
        for event, profile, decision, existing in others:
            await self._apply(event, profile, decision, existing, now)
        if fresh:
            await self._send_fresh(fresh, now)

    async def _apply(
        self, event: IncidentDetected, profile: Profile, decision: Decision, existing: Any, now: datetime,
    ) -> None:
        """Record a decision that is not a fresh send (a deferral, a join, a suppression, or a resumed
        reservation decided again), and send a reserved row the decision lets go."""
        incident = event.data
        channel = decision.channel or "none"
        reason = str(decision.reason) if decision.reason is not None else None
        if decision.action == "join":
            reason = decision.join_message_id
        nid = existing.notification_id if existing is not None else notification_id_for(
            incident.incident_id, incident.customer.id, channel)
        state = DECIDED[decision.action]
        if existing is None:
            reservation = await self.ledger.reserve(
                notification_id=nid, incident_id=incident.incident_id, customer_id=incident.customer.id,
                channel=channel, order_id=incident.order_id, now=now, state=state, due_at=decision.due_at,
                reason=reason, incident=event.to_bytes().decode(), severity=str(incident.severity),
                address=_address(profile, channel), incident_at=incident.detected_at,
            )
            if not reservation.fresh:
                return
        elif decision.action != "send":
            await self.ledger.transition(nid, state, now=now, expect=(S.RESERVED,), due_at=decision.due_at,
                                         reason=reason)
        if decision.action == "send":
            await self._send(nid, [incident], profile, channel)
        elif decision.action == "defer":
            await self._emit(incident, "notification.deferred", nid, channel, now, due_at=decision.due_at,
                             reason=reason)
        else:
            await self._emit(incident, "notification.suppressed", nid, decision.channel, now,
                             reason="coalesced" if decision.action == "join" else reason)

    async def _send_fresh(self, fresh: list[Fresh], now: datetime) -> None:
        """Fresh sends: reserved straight into `sending` in one statement (the rows this call won), then sent."""
        rows = []
        for item in fresh:
            incident, channel, (rendered, promise) = item.event.data, item.channel, item.composed
            rows.append({
                "notification_id": item.nid, "incident_id": incident.incident_id, "customer_id": incident.customer.id,
                "order_id": incident.order_id, "channel": channel, "state": S.SENDING, "reason": None,
                "due_at": None, "incident": item.event.to_bytes().decode(), "severity": str(incident.severity),
                "body": rendered.text, "subject": rendered.subject, "attempts": 1, "created_at": now,
                "updated_at": now, "address": _address(item.profile, channel), "incident_at": incident.detected_at,
                "next_update_at": promise, "promise": "open" if promise is not None else None,
            })
        won = await self.ledger.reserve_many(rows)
        await self._send_claimed([
            Outgoing(item.nid, item.channel, item.profile, item.composed.rendered, About.of(item.event.data))
            for item in fresh if item.nid in won])

    async def _profile(self, incident: IncidentDetectedData) -> Profile:
        return (await self.profiles.profiles_for([_contact(incident)]))[incident.customer.id]

    # -- resolution and deferred messages ----------------------------------------------------
    async def on_resolved(self, incident_id: str, reason: str) -> None:
        """The condition cleared before we spoke: withdraw what has not gone out."""
        now = self.clock.now()
        await self.ledger.mark_resolved(incident_id, reason, now)
        for row in await self.ledger.withdraw(incident_id, now=now, reason=f"resolved_before_send:{reason}"):
            await self._emit_row(row, "notification.suppressed", now, reason="resolved_before_send")
            await self._decide_riders_again(row.notification_id, now)

    async def _decide_riders_again(self, nid: str, now: datetime) -> None:
        """Incidents that were to ride along in a message that will not go out still deserve one: decide again."""
        for rider in await self.ledger.joined_to(nid):
            if await self.ledger.transition(rider.notification_id, S.RESERVED, now=now, expect=(S.JOINED,),
                                            reason=None):
                event = parse_event(rider.incident or "")
                if isinstance(event, IncidentDetected):
                    await self.on_incident(event)

    async def send_due(self) -> int:
        """Send deferred messages whose time has come, take sends left `sending` too long as cut off (ambiguous:
        a worker stopped mid-send, its partitions taken over without a restart, so no `recover`), settle ambiguous
        sends old enough to look up, and keep the promises of the next update that are due (follow-ups)."""
        now = self.clock.now()
        rows = await self.ledger.due(now)
        for row in rows:
            if await self.ledger.transition(row.notification_id, S.RESERVED, now=now, expect=(S.DEFERRED,)):
                await self._resume(row)
        await self.ledger.interrupt(untouched_since=now - timedelta(seconds=self.settings.interrupted_after_s), now=now)
        settle_before = now - timedelta(seconds=self.settings.reconcile_after_s)
        for row in await self.ledger.by_state(S.AMBIGUOUS):
            if row.updated_at <= settle_before:
                await self.reconcile(row.notification_id)
        until = now if self.incidents_read is None else await self.incidents_read()
        if until is not None:
            await self.follow_ups.keep_due(min(now, until))
        return len(rows)

    async def recover(self) -> None:
        """After a restart: a send cut off mid-call is ambiguous (look it up); a bare reservation is sent."""
        now = self.clock.now()
        for row in await self.ledger.by_state(S.SENDING):
            await self.ledger.transition(row.notification_id, S.AMBIGUOUS, now=now, expect=(S.SENDING,),
                                         reason="interrupted")
        for row in await self.ledger.by_state(S.RESERVED):
            await self._resume(row)

    async def _resume(self, row: Delivery) -> None:
        if row.purpose == "feedback":
            await self.questions.resume(row)
            return
        if row.purpose == "case":
            await self.notices.resume(row)
            return
        if row.purpose == "answer":
            await self.answers.resume(row)
            return
        if row.follow_up:
            await self.follow_ups.resume(row)
            return
        incident = _incident_of(row)
        if await self.ledger.is_resolved(incident.incident_id):
            if await self.ledger.transition(row.notification_id, S.WITHDRAWN, now=self.clock.now(),
                                            expect=(S.RESERVED,), reason="resolved_before_send"):
                await self._emit_row(row, "notification.suppressed", self.clock.now(), reason="resolved_before_send")
            return
        if await self._covered_meanwhile(row, incident):
            return
        await self._send(row.notification_id, [incident], await self._profile(incident), row.channel)

    async def _covered_meanwhile(self, row: Delivery, incident: IncidentDetectedData) -> bool:
        """A message that waited (deferred, or cut off by a restart) is decided again before it goes: if a
        message of the same burst went out meanwhile, it is covered and suppressed, and its riders decided
        again."""
        if incident.order_id is None:
            return False
        now = self.clock.now()
        context = await self.ledger.batch_context([(incident.incident_id, incident.customer.id, incident.order_id)],
                                                  cap_since=now)
        others = [r for r in context.by_order.get((incident.customer.id, incident.order_id), [])
                  if r.notification_id != row.notification_id]
        merge = coalesce(_order_messages(incident.order_id, others), IncidentRef.of(incident), now, self.policy)
        if merge.action != "suppress" or not await self.ledger.transition(
                row.notification_id, S.SUPPRESSED, now=now, expect=(S.RESERVED,), reason="coalesced"):
            return False
        await self._emit_row(row, "notification.suppressed", now, reason="coalesced")
        await self._decide_riders_again(row.notification_id, now)
        return True

    # -- sending ---------------------------------------------------------------------------
    async def _send(
        self, nid: str, incidents: list[IncidentDetectedData], profile: Profile, channel: str, follow_up: int = 0,
        news: bool = False,
    ) -> None:
        """Send a reserved message about incidents (its riders join them); a follow-up (number `follow_up`) says
        whether there is `news` since the last."""
        riders = [_incident_of(row) for row in await self.ledger.joined_to(nid)]
        resolved = [i.incident_id for i in riders if await self.ledger.is_resolved(i.incident_id)]
        known = {i.incident_id for i in incidents}
        incidents = incidents + [i for i in riders if i.incident_id not in resolved and i.incident_id not in known]
        rendered, promise = self._render(incidents, profile, channel, nid, follow_up=follow_up, news=news)
        await self.send(Outgoing(nid, channel, profile, rendered, About.of(incidents[0])), claim={
            "body": rendered.text, "subject": rendered.subject, "address": _address(profile, channel),
            "next_update_at": promise, "promise": "open" if promise is not None else None})

    async def send(self, out: Outgoing, *, claim: dict[str, Any]) -> bool:
        """The send path of every message the notifier sends: claim its reserved row (`reserved -> sending`,
        writing what it says: `claim`, and counting the attempt), call the provider, record the outcome and
        report it. False when the row was no longer reserved (withdrawn, or taken by another pass)."""
        if not await self.ledger.transition(out.nid, S.SENDING, now=self.clock.now(), expect=(S.RESERVED,),
                                            attempts=Delivery.attempts + 1, **claim):
            return False
        await self._send_claimed([out])
        return True

    async def _send_claimed(self, outs: Sequence[Outgoing]) -> None:
        """Call the provider for rows in `sending` (the attempt counted), at most `send_concurrency` at once;
        report the sends and record them in one statement, then every other outcome one by one.

        Reported before recorded: should the outcome events not be acked, the rows stay `sending`, so a
        redelivered batch sends nothing again and the sends, once taken as cut off, are looked up at the
        provider and reported then (`reconcile`). Recorded first, they would be `sent` rows whose events
        nothing would ever write."""
        answers: dict[int, SendResult] = {}
        queue = iter(enumerate(outs))

        async def deliver() -> None:  # one of at most `send_concurrency` senders taking messages in turn
            for i, out in queue:
                async with self._pool:
                    answers[i] = await self._deliver(out)

        await asyncio.gather(*(deliver() for _ in range(min(self.settings.send_concurrency, len(outs)))))
        results = [answers[i] for i in range(len(outs))]
        settled = self.clock.now()
        sent = [(out, result) for out, result in zip(outs, results, strict=True) if result.outcome == "sent"]
        await self.emit_all([
            _outcome(out.about, "notification.sent", out.nid, out.channel, settled,
                     {"provider": result.provider, "provider_message_id": result.provider_message_id})
            for out, result in sent])
        await self.ledger.settle_sent([
            {"nid": out.nid, "now": settled, "provider": result.provider,
             "provider_message_id": result.provider_message_id} for out, result in sent])
        for out, result in zip(outs, results, strict=True):
            if result.outcome != "sent":
                await self._settle(out, result)

    def _render(
        self, incidents: list[IncidentDetectedData], profile: Profile, channel: str, nid: str, *, follow_up: int = 0,
        news: bool = False,
    ) -> Composed:
        """The message, and the promise of the next update it makes (None: the story ends, or no more follow-ups)."""
        ctx = MessageContext.from_incidents(  # an SMS carries no unsubscribe link (STOP does it): none is signed
            incidents, store=self.store, timezone_fallback=self.settings.store_timezone,
            unsubscribe_url=self.links.unsubscribe(nid) if channel == "email" else None,
        )
        if channel == "email":  # the offered choices as signed buttons
            ctx = ctx.model_copy(update={"choice_urls": self.links.choices(
                nid, ctx.lead.offered_choices, now=self.clock.now(), locale=ctx.locale)})
        promise = promise_for(ctx.lead.kind, self.clock.now(), ctx.timezone, self.promises, follow_up=follow_up)
        ctx = ctx.model_copy(update={"next_update_at": promise, "follow_up": follow_up, "news": news})
        return Composed(render(ctx, "sms" if channel == "sms" else "email"), promise)

    async def _deliver(self, out: Outgoing) -> SendResult:
        """Call the provider; a `retry` answer is repeated after the delay it asks for, a bounded number of times
        (each attempt after the first counted in the ledger: the first was counted when the row was claimed)."""
        delay = 1.0
        nid, profile, rendered = out.nid, out.profile, out.rendered
        for attempt in range(1, self.settings.max_attempts + 1):
            if attempt > 1:
                await self.ledger.transition(nid, S.SENDING, now=self.clock.now(), expect=(S.SENDING,),
                                             attempts=Delivery.attempts + 1)
            if out.channel == "sms":
                if profile.phone is None:
                    return SendResult("failed", "none", reason="no_phone")
                result = await self.providers.sms.send_sms(SmsMessage(
                    nid, profile.phone, rendered.text,
                    status_callback=f"{self.settings.public_base_url}/webhooks/twilio/status"))
            else:
                if profile.email is None:
                    return SendResult("failed", "none", reason="no_email")
                result = await self.providers.email.send_email(compose_email(
                    nid, profile.email, rendered, unsubscribe_url=self.links.unsubscribe(nid),
                    reply_to=self.store.support_email))
            if result.outcome != "retry" or attempt == self.settings.max_attempts:
                return result
            wait = result.retry_after if result.retry_after is not None else delay
            await asyncio.sleep(min(wait, self.settings.retry_backoff_max_s))
            delay = min(delay * 2, self.settings.retry_backoff_max_s)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _settle(self, out: Outgoing, result: SendResult) -> None:
        """Record a provider's answer other than a send (those are recorded together): ambiguous (looked up
        later, `reconcile`), or failed (reported, then recorded)."""
        now = self.clock.now()
        nid, channel = out.nid, out.channel
        if result.outcome == "ambiguous":
            # The request may still be in flight at the provider: look it up after `reconcile_after_s`.
            await self.ledger.transition(nid, S.AMBIGUOUS, now=now, expect=(S.SENDING,), provider=result.provider,
                                         reason=result.reason)
        else:
            reason = result.reason or result.outcome
            if result.outcome == "opted_out" and channel == "sms" and out.about.opt_out_phone:
                await self.profiles.set_opt_out("sms", out.about.opt_out_phone, opted_out=True,
                                                source="twilio_21610", now=now)
            await self._report(out.about, "notification.failed", nid, channel, now, reason=reason,
                               provider=result.provider)
            await self.ledger.transition(nid, S.FAILED, now=now, expect=(S.SENDING, S.AMBIGUOUS),
                                         provider=result.provider, reason=reason)

    async def reconcile(self, nid: str) -> None:
        """An ambiguous send: ask the provider whether it went before deciding anything."""
        row = await self.ledger.get(nid)
        if row is None or row.state != S.AMBIGUOUS:
            return
        found = await self._lookup(row)
        now = self.clock.now()
        # Reported, then recorded (see `_send_claimed`): a report the broker did not take is made again next pass.
        if found is not None:
            await self._emit_row(row, "notification.sent", now, provider=row.provider or "unknown",
                                 provider_message_id=found)
            await self.ledger.transition(nid, S.SENT, now=now, expect=(S.AMBIGUOUS,), provider_message_id=found,
                                         reason="reconciled")
        elif row.attempts >= self.settings.max_attempts:
            await self._emit_row(row, "notification.failed", now, reason="gave_up_ambiguous")
            await self.ledger.transition(nid, S.FAILED, now=now, expect=(S.AMBIGUOUS,), reason="gave_up_ambiguous")
        elif await self.ledger.transition(nid, S.RESERVED, now=now, expect=(S.AMBIGUOUS,),
                                          reason="not_found_at_provider"):
            await self._resume(row)  # it never reached the provider: sending again cannot duplicate it

    async def _lookup(self, row: Delivery) -> str | None:
        """Ask the provider for the message at the address it went to: the row's (every send writes it), or,
        for a row written without one, the incident's contact."""
        address = row.address
        if address is None and row.purpose != "answer":
            customer = _incident_of(row).customer
            address = customer.phone if row.channel == "sms" else customer.email
        if row.channel == "sms":
            message = SmsMessage(row.notification_id, address or "", row.body or "")
            return await self.providers.sms.find_sms(message, row.created_at)
        email = EmailMessage(row.notification_id, address or "", row.subject or "", row.body or "", None)
        return await self.providers.email.find_email(email, row.created_at)

    # -- outcomes ----------------------------------------------------------------------------
    async def _emit(
        self, incident: IncidentDetectedData, type_: str, nid: str, channel: str | None, now: datetime,
        **fields: object,
    ) -> None:
        await self._report(About.of(incident), type_, nid, channel, now, **fields)

    async def _emit_each(self, events: Sequence[CloudEvent]) -> None:
        await asyncio.gather(*(self.emit(event) for event in events))

    async def _emit_row(self, row: Delivery, type_: str, now: datetime, **fields: object) -> None:
        channel = row.channel if row.channel in ("sms", "email") else None
        await self._report(About.of_row(row), type_, row.notification_id, channel, now, **fields)

    async def _report(
        self, about: About, type_: str, nid: str, channel: str | None, now: datetime, **fields: object,
    ) -> None:
        await self.emit(_outcome(about, type_, nid, channel, now, fields))


def _outcome(
    about: About, type_: str, nid: str, channel: str | None, now: datetime, fields: Mapping[str, object],
) -> CloudEvent:
    """The outcome event of a message (`notification.<status>`), counted as it is made."""
    status = type_.split(".", 1)[1]
    _counted(status, channel or "none").inc()
    data = {"notification_id": nid, "incident_ids": [about.incident_id], "customer_id": about.customer_id,
            "order_id": about.order_id, "channel": channel, "status": status, "at": now,
            **{k: v for k, v in fields.items() if v is not None}}
    return make_event(type_, data, source=SOURCE, subject=about.customer_id, time=now, id=f"{nid}:{status}")


@cache
def _counted(status: str, channel: str) -> Any:
    """The outcome counter for (status, channel): `labels()` checks and locks at every call, and the child it
    hands out is the same for the life of the process."""
    return NOTIFICATIONS.labels(status, channel)


def _order_messages(order_id: str | None, rows: Sequence[Delivery]) -> list[OrderMessage]:
    """The ledger's rows about one order, as the messages the coalescing policy reasons about.

    A message's first incident is the earliest event time among its own incident and its riders'."""
    if order_id is None:
        return []
    riders: dict[str, list[Delivery]] = {}
    for row in rows:
        if row.state == S.JOINED and row.reason:
            riders.setdefault(row.reason, []).append(row)
    messages = []
    for row in rows:
        if row.state not in (*PENDING_STATES, *SENT_STATES):
            continue
        carried = [row, *riders.get(row.notification_id, [])]
        messages.append(OrderMessage(
            message_id=row.notification_id, order_id=order_id,
            incident_ids=frozenset(r.incident_id for r in carried),
            first_incident_at=min(_event_time(r) for r in carried), severity=row.severity or "normal",
            sent_at=row.updated_at if row.state in SENT_STATES else None,
            due_at=row.due_at if row.due_at else None,
        ))
    return messages


def _event_time(row: Delivery) -> datetime:
    """When the row's incident happened (its detected_at), as stored; migration 0004 filled it in for old rows.

    Only a row written without it falls back on the incident it holds, then on its creation time."""
    if row.incident_at is not None:
        return row.incident_at
    with contextlib.suppress(ValueError, TypeError):
        return _incident_of(row).detected_at
    return row.created_at


def _address(profile: Profile, channel: str) -> str | None:
    return profile.phone if channel == "sms" else profile.email if channel == "email" else None


def _contact(incident: IncidentDetectedData) -> Contact:
    customer = incident.customer
    return Contact(customer.id, incident.store_id, customer.first_name, customer.email, customer.phone,
                   customer.locale, customer.timezone)


def _incident_of(row: Delivery) -> IncidentDetectedData:
    if not row.incident:
        raise ValueError(f"ledger row {row.notification_id} holds no incident")
    event = parse_event(row.incident)
    if not isinstance(event, IncidentDetected):
        raise TypeError(f"ledger row {row.notification_id} holds a {event.type}, not an incident")
    return event.data

