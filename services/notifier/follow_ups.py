"""Keeping promises: a message that promised the next update gets one follow-up when its order is still open then.

The promise is a ledger column (`next_update_at`, `promise`), so it survives restarts; the
notifier's periodic pass (`Dispatcher.send_due`) calls `FollowUps.keep_due`. A due promise is
decided by the pure rule (`policy.follow_up_due`) over the order's story in the ledger. The
follow-up row is reserved, and the promise marked kept, in one transaction, under a
notification id derived from the promising message's: a second pass, a second worker or a
restart finds the promise kept and the row taken, so a follow-up is never sent twice. From
there the follow-up goes the way of every message: channel, consent, cap and quiet hours
(`policy.evaluate_follow_up`), reserve before the provider call, settle, report.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from schemas import IncidentDetected, IncidentDetectedData, parse_event
from services.common.clock import Clock
from services.notifier.delivery_states import SENT_STATES, DeliveryState
from services.notifier.ledger import Delivery, Ledger
from services.notifier.policy import (
    IncidentRef,
    PolicySettings,
    Profile,
    Promise,
    PromiseSettings,
    evaluate_follow_up,
    follow_up_due,
)

__all__ = ["FollowUps", "OrderStory", "follow_up_id", "read_story"]

logger = logging.getLogger(__name__)

S = DeliveryState
DECIDED = {"send": S.RESERVED, "defer": S.DEFERRED}
"""The follow-up row a decision leaves (any other decision: suppressed)."""

SendFollowUp = Callable[[str, list[IncidentDetectedData], Profile, str, int, bool], Awaitable[None]]
ProfileOf = Callable[[IncidentDetectedData], Awaitable[Profile]]
Report = Callable[..., Awaitable[None]]


def follow_up_id(promising_notification_id: str) -> str:
    """The follow-up that keeps the promise of message `promising_notification_id`: deterministic, one per promise."""
    digest = hashlib.sha256(f"{promising_notification_id}|follow-up".encode()).hexdigest()
    return f"ntf-{digest[:28]}"


@dataclass(frozen=True)
class OrderStory:
    """What the customer was told about an order, as the ledger knows it, seen from one promising message.

    `open`: the incidents they were told of (sent, riding along, or covered by a message that
    went out) that are not resolved, one first-message row each. `news`: those of them recorded
    after the promising message and not carried by it. `newer_message`: a message about the order
    went out after the promising one (not the follow-up keeping its promise).
    """

    open: tuple[Delivery, ...]
    news: tuple[Delivery, ...]
    newer_message: bool


def _told(row: Delivery) -> bool:
    return row.state in SENT_STATES or row.state == S.JOINED or (
        row.state == S.SUPPRESSED and row.reason == "coalesced")


def read_story(rows: list[Delivery], resolved: set[str], promising: Delivery) -> OrderStory:
    """The story of `promising`'s order from its rows (in the order written) and the resolved incident ids."""
    firsts: dict[str, Delivery] = {}
    for row in rows:
        if row.follow_up == 0 and _told(row) and row.incident_id not in resolved:
            firsts.setdefault(row.incident_id, row)
    carried = {promising.notification_id}
    news = tuple(r for r in firsts.values() if r.id > promising.id and not (
        r.state == S.JOINED and r.reason in carried))
    keeper = follow_up_id(promising.notification_id)
    newer = any(r.id > promising.id and r.state in SENT_STATES and r.notification_id != keeper for r in rows)
    return OrderStory(open=tuple(firsts.values()), news=news, newer_message=newer)


def _incident(row: Delivery) -> IncidentDetectedData | None:
    event = parse_event(row.incident or "") if row.incident else None
    return event.data if isinstance(event, IncidentDetected) else None


class FollowUps:
    """Finds due promises and starts the follow-ups that keep them."""

    def __init__(
        self, *, ledger: Ledger, policy: PolicySettings, promises: PromiseSettings, clock: Clock,
        profile_of: ProfileOf, send: SendFollowUp, report: Report,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.promises = promises
        self.clock = clock
        self.profile_of = profile_of
        self.send = send
        self.report = report

    async def keep_due(self, until: datetime | None = None) -> int:
        """Decide every promise due by `until` (default: now; the incidents stream must have been handled that
        far, so a resolution published before a promise fell due is known); returns how many follow-ups
        were started."""
        started = 0
        now = self.clock.now()
        for row in await self.ledger.due_promises(min(now, until or now)):
            started += await self._decide(row, now)
        return started

    async def _decide(self, row: Delivery, now: datetime) -> int:
        if row.next_update_at is None:
            return 0
        rows, resolved = await self.ledger.order_story(row)
        story = read_story(rows, resolved, row)
        decision = follow_up_due(Promise(row.notification_id, row.follow_up, row.next_update_at), now=now,
                                 open_incidents=len(story.open), newer_message=story.newer_message,
                                 settings=self.promises)
        if decision.action == "end":
            if await self.ledger.end_promise(row.notification_id):
                logger.info("promise of %s ended: %s", row.notification_id, decision.reason)
            return 0
        if decision.action != "follow_up" or decision.follow_up is None:
            return 0
        chain = _incident(row)
        if chain is None:
            await self.ledger.end_promise(row.notification_id)
            return 0
        profile = await self.profile_of(chain)
        context = await self.ledger.batch_context([(row.incident_id, row.customer_id, None)],
                                                  cap_since=now - self.policy.cap_window)
        lead = _incident(story.news[0] if story.news else story.open[0]) or chain
        choice = evaluate_follow_up(IncidentRef.of(lead), profile, now=now, settings=self.policy,
                                    sent_at=context.sent.get(row.customer_id, []))
        channel = choice.channel or "none"
        state = DECIDED.get(choice.action, S.SUPPRESSED)
        nid = follow_up_id(row.notification_id)
        follow_up = {
            "notification_id": nid, "incident_id": row.incident_id, "customer_id": row.customer_id,
            "order_id": row.order_id, "channel": channel, "state": state, "follow_up": decision.follow_up,
            "reason": str(choice.reason) if choice.reason is not None else None, "due_at": choice.due_at,
            "incident": row.incident, "severity": row.severity, "incident_at": row.incident_at,
            "address": profile.phone if channel == "sms" else profile.email if channel == "email" else None,
            "attempts": 0, "created_at": now, "updated_at": now,
        }
        if not await self.ledger.keep_promise(row.notification_id, follow_up):
            await self.ledger.end_promise(row.notification_id)  # kept by another pass, or its row is taken
            return 0
        logger.info("follow-up %d of %s: %s on %s", decision.follow_up, row.notification_id, choice.action, channel)
        if choice.action == "send":
            await self._send(nid, story, profile, channel, decision.follow_up)
            return 1
        reserved = await self.ledger.get(nid)
        if reserved is not None and choice.action == "defer":
            await self.report(reserved, "notification.deferred", now, due_at=choice.due_at, reason=reserved.reason)
        elif reserved is not None:
            await self.report(reserved, "notification.suppressed", now, reason=reserved.reason)
        return 1

    async def resume(self, row: Delivery) -> None:
        """A follow-up that waited (quiet hours, the cap) or was cut off by a restart: decided against the order
        as it is now, sent when something the customer was told of is still open."""
        rows, resolved = await self.ledger.order_story(row)
        promising = next((r for r in rows if follow_up_id(r.notification_id) == row.notification_id), row)
        story = read_story(rows, resolved, promising)
        chain = _incident(row)
        now = self.clock.now()
        if not story.open or chain is None:
            if await self.ledger.transition(row.notification_id, S.WITHDRAWN, now=now, expect=(S.RESERVED,),
                                            reason="resolved_before_send"):
                await self.report(row, "notification.suppressed", now, reason="resolved_before_send")
            return
        await self._send(row.notification_id, story, await self.profile_of(chain), row.channel, row.follow_up)

    async def _send(self, nid: str, story: OrderStory, profile: Profile, channel: str, number: int) -> None:
        told = story.news or story.open
        incidents = [i for i in (_incident(r) for r in told) if i is not None]
        if incidents:
            await self.send(nid, incidents, profile, channel, number, bool(story.news))
