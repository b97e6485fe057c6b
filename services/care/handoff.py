"""The hand-off to people: an escalation or a reply not understood becomes one ticket per case, or a note on it.

For each event: gather the customer's story, route it (`routing`), then reserve in the care ledger — a new
case with its whole ticket, or a comment on the customer's open case — and only then call the desk. A
redelivered event finds its reservation and only resumes it; a call that may have reached the desk is
looked up there (by external id, or by the comment's marker) before it is sent again; what could not reach
the desk now is resumed by `resume_pending` (a timer), so nothing waits on the stream and nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import (
    ChoiceMade,
    CloudEvent,
    CustomerReplied,
    CustomerUpdated,
    EscalationOpened,
    FeedbackGiven,
    make_event,
)
from services.care.desks import Desk, DeskAmbiguous, DeskError, DeskRejected, DeskUnavailable
from services.care.ledger import CareLedger, Case, Entry, NewCase, note_marker
from services.care.routing import CaseFacts, route
from services.care.settings import CareSettings
from services.care.story import Story, StoryChoice, StoryReply, build_story, render_addition, render_ticket
from services.care.story_source import DeliveryReader
from services.care.support_hours import contact_by
from services.common.clock import Clock
from services.common.ids import stable_id

__all__ = ["TICKETS", "HandOff"]

logger = logging.getLogger(__name__)

TICKETS = Counter("forewarn_care_desk_calls_total", "Help-desk calls by what came of them", ["desk", "call", "outcome"])

SOURCE = "forewarn/care"
Announce = Callable[[CloudEvent], Awaitable[None]]

_REASONS = {
    "repeated_trouble": "repeated trouble",
    "customer_replied": "a reply the conversation could not answer",
}


class HandOff:
    def __init__(self, *, ledger: CareLedger, deliveries: DeliveryReader, desk: Desk, settings: CareSettings,
                 clock: Clock, engine: AsyncEngine | None = None) -> None:
        self.engine = engine  # care's own, disposed by `close`
        self.ledger = ledger
        self.deliveries = deliveries
        self.desk = desk
        self.settings = settings
        self.clock = clock
        self.announce: Announce | None = None  # publishes case.opened; wired by the agents
        self._locks = [asyncio.Lock() for _ in range(64)]  # striped: one customer's events, one at a time

    async def close(self) -> None:
        await self.desk.close()
        await self.deliveries.close()
        if self.engine is not None:
            await self.engine.dispose()

    # -- events ---------------------------------------------------------------------------------
    async def on_escalation(self, event: EscalationOpened) -> None:
        data = event.data
        expected = [data.incident_id, *data.related_incident_ids]
        reason = _REASONS.get(data.reason, data.reason.replace("_", " "))
        headline = f"{reason}, {len(set(expected))} incident(s), escalation tier {data.tier}"
        async with self._lock(data.customer_id):
            if await self.ledger.handled(event.id):
                await self.resume_customer(data.store_id, data.customer_id)
                return
            rows, story = await self._story(data.store_id, data.customer_id, expected)
            kinds = [incident.kind for incident in story.incidents]
            if data.incident_id in story.missing_incidents:
                kinds.append(data.kind)
            facts = CaseFacts(incident_kinds=kinds, severities=[i.severity for i in story.incidents], tier=data.tier,
                              locale=story.locale, order_values=_values(story))
            await self._open_or_add(event.id, data.store_id, data.customer_id, rows, story, facts, headline,
                                    reason=data.reason)

    async def on_reply(self, event: CustomerReplied) -> None:
        data = event.data
        await self.ledger.add_reply(event_id=event.id, customer_id=data.customer_id, channel=data.channel,
                                    body=data.body, in_reply_to=data.in_reply_to, received_at=data.received_at)
        async with self._lock(data.customer_id):
            rows = await self.deliveries.for_customer(data.customer_id)
            store_id = await self._store_of(data.customer_id, rows, event.source)
            if await self.ledger.handled(event.id):
                await self.resume_customer(store_id, data.customer_id)
                return
            story = await self._build(store_id, data.customer_id, rows, ())
            facts = CaseFacts(incident_kinds=[i.kind for i in story.incidents],
                              severities=[i.severity for i in story.incidents], locale=story.locale,
                              reply_text=data.body, order_values=_values(story))
            headline = f"{_REASONS['customer_replied']} ({data.channel})"
            await self._open_or_add(event.id, store_id, data.customer_id, rows, story, facts, headline,
                                    reason="customer_replied")

    async def on_choice(self, event: ChoiceMade) -> None:
        """A choice the conversation understood needs no person; on an open case, its person should know."""
        data = event.data
        await self.ledger.add_choice(event_id=event.id, customer_id=data.customer_id, incident_id=data.incident_id,
                                     order_label=data.order_number or data.order_id, choice=data.choice,
                                     channel=data.channel, made_at=data.made_at)
        async with self._lock(data.customer_id):
            case = await self.ledger.open_case(data.store_id, data.customer_id)
            if case is None or await self.ledger.handled(event.id):
                return
            rows = await self.deliveries.for_customer(data.customer_id)
            story = await self._build(data.store_id, data.customer_id, rows, ())
            facts = CaseFacts(locale=story.locale)
            headline = f"the customer chose {data.choice} ({data.channel})"
            await self._open_or_add(event.id, data.store_id, data.customer_id, rows, story, facts, headline,
                                    reason="customer_chose")

    async def on_feedback(self, event: FeedbackGiven) -> None:
        """A low score (at most `low_feedback_score`) is a customer about to leave: a case of its own routed by the
        incident it rated, or a note on the customer's open case, carrying the score and their words."""
        data = event.data
        if data.score > self.settings.low_feedback_score:
            return
        order = data.order_number or data.order_id
        words = f': "{data.text}"' if data.text else " (no words)"
        headline = f"low feedback {data.score}/5{f' on order {order}' if order else ''}{words} ({data.channel})"
        async with self._lock(data.customer_id):
            if await self.ledger.handled(event.id):
                await self.resume_customer(data.store_id, data.customer_id)
                return
            rows = await self.deliveries.for_customer(data.customer_id)
            story = await self._build(data.store_id, data.customer_id, rows, ())
            facts = CaseFacts(incident_kinds=[data.kind], severities=[i.severity for i in story.incidents],
                              locale=data.locale or story.locale, reply_text=data.text, order_values=_values(story))
            await self._open_or_add(event.id, data.store_id, data.customer_id, rows, story, facts, headline,
                                    reason="low_feedback")

    async def on_profile(self, event: CustomerUpdated) -> None:
        data = event.data
        await self.ledger.keep_customer(customer_id=data.customer_id, store_id=data.store_id,
                                        first_name=data.first_name, last_name=data.last_name, locale=data.locale,
                                        updated_at=data.updated_at)

    # -- cases ----------------------------------------------------------------------------------
    async def _open_or_add(self, event_id: str, store_id: str, customer_id: str, rows: list[dict[str, Any]],
                           story: Story, facts: CaseFacts, headline: str, *, reason: str) -> None:
        for _ in range(3):  # a case opened by another worker meanwhile: add to it instead
            case = await self.ledger.open_case(store_id, customer_id)
            if case is not None and case.state == "done" and case.ticket_id and not await self._desk_open(case):
                await self.ledger.close_case(case, now=self.clock.now())
                logger.info("case %s: the desk closed ticket %s; a new case opens", case.external_id, case.ticket_id)
                case = None
            if case is None:
                reserved = await self._reserve_case(event_id, store_id, customer_id, rows, story, facts, headline,
                                                    reason)
                if reserved is None:
                    continue
                await self._deliver_case(reserved.id)
                return
            new_keys = [key for key in story.item_keys() if key not in case.items]
            marker = note_marker(event_id)
            body = render_addition(story, headline=headline, new_keys=new_keys, marker=marker)
            entry = await self.ledger.reserve_entry(case, event_id=event_id, body=body, story_items=new_keys,
                                                    now=self.clock.now())
            if entry is not None:
                logger.info("case %s: %s; a note is added (%d new story items)", case.external_id, headline,
                            len(new_keys))
            await self.resume_customer(store_id, customer_id)
            return
        raise RuntimeError(f"no case could be reserved or found for customer {customer_id}")

    async def _reserve_case(self, event_id: str, store_id: str, customer_id: str, rows: list[dict[str, Any]],
                            story: Story, facts: CaseFacts, headline: str, reason: str) -> Case | None:
        routing = route(facts, self.settings.rules_for(store_id))
        chosen = {"skill": routing.skill, "language": routing.language, "priority": routing.priority,
                  "queue": routing.queue}
        subject, body = render_ticket(story, headline=headline, routing=chosen, reasons=routing.reasons)
        name = " ".join(part for part in (story.first_name, story.last_name) if part) or None
        ticket = {**chosen, "subject": subject, "body": body, "tags": routing.tags(), "store_id": store_id,
                  "customer_id": customer_id, "reasons": routing.reasons, "requester_name": name,
                  "requester_email": _email_of(rows), "opened_for": reason}
        case = await self.ledger.reserve_case(NewCase(
            store_id=store_id, customer_id=customer_id, opened_by=event_id, desk=self.desk.name, skill=routing.skill,
            language=routing.language, priority=routing.priority, queue=routing.queue, ticket=ticket,
            story_items=story.item_keys()), now=self.clock.now())
        if case is not None:
            logger.info("case %s reserved for customer %s: %s; %s", case.external_id, customer_id, headline,
                        "; ".join(f"{k} {v}" for k, v in chosen.items()))
        return case

    async def _deliver_case(self, case_id: int) -> None:
        claim = await self.ledger.claim_case(case_id, now=self.clock.now())
        if claim is None:
            return
        case, maybe_there = claim
        try:
            if maybe_there:
                found = await self.desk.find(case.external_id)
                if found is not None:
                    await self._announce(case)
                    await self.ledger.settle_case(case, "done", now=self.clock.now(), ticket_id=found)
                    TICKETS.labels(self.desk.name, "open", "reconciled").inc()
                    logger.info("case %s: ticket %s was already at the desk", case.external_id, found)
                    return
            ticket_id = await self.desk.create(case.payload)
        except DeskError as exc:
            await self._failed(case, exc, self.ledger.settle_case, "open", maybe_there=maybe_there)
            return
        await self._announce(case)
        await self.ledger.settle_case(case, "done", now=self.clock.now(), ticket_id=ticket_id)
        TICKETS.labels(self.desk.name, "open", "done").inc()
        logger.info("case %s: ticket %s opened at %s (attempt %d)", case.external_id, ticket_id, self.desk.name,
                    case.attempts)

    async def _announce(self, case: Case) -> None:
        """`case.opened`, once the ticket is at the desk and before the case is settled (so a crash between the
        two announces again, under the same event id): the customer is told a person gets in touch, and by when."""
        if self.announce is None:
            return
        ticket = case.payload
        data = {"case_id": case.external_id, "customer_id": case.customer_id, "store_id": case.store_id,
                "reason": str(ticket.get("opened_for") or "case"), "skill": case.skill, "language": case.language,
                "priority": case.priority, "contact_by": contact_by(case.created_at, self.settings.hours_for(
                    case.store_id)), "opened_at": case.created_at}
        await self.announce(make_event("case.opened", data, source=SOURCE, subject=case.customer_id,
                                       time=case.created_at, id=stable_id("case-opened", case.external_id)))

    async def _deliver_entry(self, entry_id: int, case: Case) -> None:
        if case.state != "done" or case.ticket_id is None:
            return  # its ticket is not at the desk yet: the case goes first
        claim = await self.ledger.claim_entry(entry_id, now=self.clock.now())
        if claim is None:
            return
        entry, maybe_there = claim
        try:
            if maybe_there and await self.desk.has_comment(case.ticket_id, entry.marker):
                await self.ledger.settle_entry(entry, "done", now=self.clock.now())
                TICKETS.labels(self.desk.name, "comment", "reconciled").inc()
                return
            await self.desk.comment(case.ticket_id, entry.body, marker=entry.marker, external_id=case.external_id)
        except DeskError as exc:
            await self._failed(entry, exc, self.ledger.settle_entry, "comment", maybe_there=maybe_there)
            return
        await self.ledger.settle_entry(entry, "done", now=self.clock.now())
        TICKETS.labels(self.desk.name, "comment", "done").inc()
        logger.info("case %s: note added to ticket %s", case.external_id, case.ticket_id)

    async def _failed(self, row: Case | Entry, exc: DeskError, settle: Any, call: str, *, maybe_there: bool) -> None:
        """Keep what is known: refused for good, maybe at the desk (an earlier attempt may have reached it, even
        when this one did not leave), or surely not there."""
        state = {DeskRejected: "failed", DeskAmbiguous: "ambiguous", DeskUnavailable: "reserved"}[type(exc)]
        if state == "reserved" and maybe_there:
            state = "ambiguous"
        await settle(row, state, now=self.clock.now(), error=f"{exc.__class__.__name__}: {exc}")
        TICKETS.labels(self.desk.name, call, state).inc()
        log = logger.error if state == "failed" else logger.warning
        log("%s %s at %s: %s (%s)", call, getattr(row, "external_id", None) or getattr(row, "marker", ""),
            self.desk.name, exc.__class__.__name__, "kept, not retried" if state == "failed" else "tried again later")

    async def resume_customer(self, store_id: str, customer_id: str) -> None:
        """Send what the customer's open case still owes the desk: its ticket, then its notes in order."""
        case = await self.ledger.open_case(store_id, customer_id)
        if case is None:
            return
        if case.state != "done":
            await self._deliver_case(case.id)
            case = await self.ledger.get_case(case.id) or case
        for entry in await self.ledger.entries(case):
            if entry.state in ("reserved", "sending", "ambiguous"):
                await self._deliver_entry(entry.id, case)

    async def resume_pending(self) -> None:
        """Everything reserved and not yet at the desk whose last try is old enough (the timer's work)."""
        now = self.clock.now()
        cases, entries = await self.ledger.pending(now=now, older_than=timedelta(seconds=self.settings.retry_after_s))
        for case in cases:
            async with self._lock(case.customer_id):
                await self._deliver_case(case.id)
        for entry in entries:
            case_now = await self.ledger.get_case(entry.case_id)
            if case_now is not None:
                async with self._lock(case_now.customer_id):
                    await self._deliver_entry(entry.id, case_now)

    # -- the story ------------------------------------------------------------------------------
    async def _story(self, store_id: str, customer_id: str, expected: Sequence[str]
                     ) -> tuple[list[dict[str, Any]], Story]:
        """The story, waiting up to `story_wait_s` for the notifier to have heard of every incident named
        (an escalation is published together with its last incident, and may arrive first)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.story_wait_s
        while True:
            rows = await self.deliveries.for_customer(customer_id)
            story = await self._build(store_id, customer_id, rows, expected)
            waiting = story.missing_incidents or any(
                m.body is None and m.state in ("reserved", "sending") for m in story.messages)
            if not waiting or loop.time() >= deadline:
                return rows, story
            await asyncio.sleep(0.25)

    async def _build(self, store_id: str, customer_id: str, rows: list[dict[str, Any]], expected: Sequence[str]
                     ) -> Story:
        profile = await self.ledger.customer(customer_id)
        replies = [StoryReply(event_id=r.event_id, channel=r.channel, at=r.received_at, body=r.body)
                   for r in await self.ledger.replies(customer_id)]
        choices = [StoryChoice(event_id=c.event_id, choice=c.choice, channel=c.channel, at=c.made_at,
                               order_label=c.order_label, incident_id=c.incident_id)
                   for c in await self.ledger.choices(customer_id)]
        known = ({"first_name": profile.first_name, "last_name": profile.last_name, "locale": profile.locale}
                 if profile is not None else None)
        return build_story(customer_id=customer_id, store_id=store_id, deliveries=rows, replies=replies,
                           choices=choices, profile=known, expected_incidents=expected)

    async def _store_of(self, customer_id: str, rows: list[dict[str, Any]], source: str) -> str:
        """A reply names no store: the customer's profile, else their incidents, else the event's source."""
        profile = await self.ledger.customer(customer_id)
        if profile is not None:
            return profile.store_id
        for row in reversed(rows):
            if row.get("incident"):
                store = json.loads(row["incident"]).get("data", {}).get("store_id")
                if store:
                    return str(store)
        return source.removeprefix("store/") if source.startswith("store/") else "default"

    async def _desk_open(self, case: Case) -> bool:
        try:
            return await self.desk.is_open(str(case.ticket_id))
        except DeskError as exc:
            logger.warning("case %s: could not ask the desk whether ticket %s is open (%s); taken as open",
                           case.external_id, case.ticket_id, exc)
            return True

    def _lock(self, customer_id: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(customer_id.encode()) % len(self._locks)]


def _values(story: Story) -> list[Decimal]:
    return [value for incident in story.incidents if (value := incident.order_value()) is not None]


def _email_of(rows: list[dict[str, Any]]) -> str | None:
    """The customer's email as the newest incident names it: the desk's requester, to answer through."""
    for row in reversed(rows):
        if row.get("incident"):
            email = json.loads(row["incident"]).get("data", {}).get("customer", {}).get("email")
            if email:
                return str(email)
    return None
