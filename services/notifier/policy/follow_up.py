"""Follow-ups: when a message promises the customer the next update, and whether a promise calls for one now.

The promise rule (`promise_for`): every message about an open incident names when the customer
hears from us next. The kind says how far off that is (`PROMISE_SPANS`, in units of
`PromiseSettings.after`): a day for delays, payments and refunds, two for stock, whose news
comes from suppliers. With `business_mornings` (the default) the promise is then moved to the
first business-day morning (Monday to Friday, at `morning` in the customer's zone) at or after
that: a customer is told "by Tuesday", and Tuesday morning is inside the SMS window, so quiet
hours never push a follow-up past its promise. Kinds whose message ends the story (a refund
issued, a decision) or acknowledges a step that has a deadline of its own (a return received:
the refund SLA follows it) or whose next step is the customer's (a return label not used)
promise nothing. The last follow-up promises nothing either: after it, news comes when there
is news, and a person is a reply away.

The follow-up rule (`follow_up_due`): a promise whose time has come gets one follow-up when
the order still has an open incident the customer was told about and no newer message about
the order went out meanwhile (that message made the newer promise, or ended the story). A
resolution of every incident ends the promise, and so does the limit of follow-ups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from .model import require_aware
from .quiet_hours import next_window_start, resolve_zone

__all__ = [
    "PROMISE_SPANS",
    "FollowUpDecision",
    "Promise",
    "PromiseSettings",
    "follow_up_due",
    "promise_for",
]

# How many `PromiseSettings.after` until the next update, per incident kind; a kind not listed promises nothing.
PROMISE_SPANS: Mapping[str, int] = {
    "not_shipped": 1,
    "tracking_stalled": 1,
    "delivery_exception": 1,
    "eta_slipped": 1,
    "not_delivered": 1,
    "false_decline": 1,
    "refund_overdue": 1,
    "stockout": 2,
    "backordered": 2,
}
BUSINESS_DAYS = frozenset(range(5))  # Monday to Friday


@dataclass(frozen=True)
class PromiseSettings:
    """The knobs of the promise rule.

    `after`: the least time until a promised update (one span). `business_mornings`: move the
    promise to the next business-day `morning` in the customer's zone (off in tests that need a
    promise seconds away). `max_follow_ups`: follow-ups per promise chain, the first message's
    promise included.
    """

    after: timedelta = timedelta(hours=18)
    business_mornings: bool = True
    morning: time = time(10, 0)
    max_follow_ups: int = 2
    store_timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.after <= timedelta(0):
            raise ValueError("after must be positive")
        if self.max_follow_ups < 0:
            raise ValueError("max_follow_ups must be >= 0")


def promise_for(
    kind: str, now: datetime, timezone: str | None, settings: PromiseSettings, *, follow_up: int = 0,
) -> datetime | None:
    """When a message sent at `now` about an incident of `kind` promises the next update (aware UTC), or None.

    `follow_up` is the message's place in its chain (0: the first message, n: the nth follow-up);
    the last follow-up the settings allow promises nothing.
    """
    require_aware(now)
    span = PROMISE_SPANS.get(kind)
    if span is None or follow_up >= settings.max_follow_ups:
        return None
    earliest = now + settings.after * span
    if not settings.business_mornings:
        return earliest
    zone = resolve_zone(timezone, settings.store_timezone)
    candidate = next_window_start(earliest - timedelta(microseconds=1), zone, settings.morning)
    while candidate.astimezone(zone).weekday() not in BUSINESS_DAYS:
        candidate = next_window_start(candidate, zone, settings.morning)
    return candidate


@dataclass(frozen=True)
class Promise:
    """A promise a message made: `message_id` promised the next update by `due_at`; `follow_up` is that
    message's place in its chain (0 for the first message)."""

    message_id: str
    follow_up: int
    due_at: datetime


@dataclass(frozen=True)
class FollowUpDecision:
    """wait: not yet. follow_up: send follow-up number `follow_up` now. end: the promise needs no follow-up
    (`reason`: resolved, superseded, limit)."""

    action: Literal["wait", "follow_up", "end"]
    follow_up: int | None = None
    reason: Literal["resolved", "superseded", "limit"] | None = None


def follow_up_due(
    promise: Promise, *, now: datetime, open_incidents: int, newer_message: bool, settings: PromiseSettings,
) -> FollowUpDecision:
    """Decide a promise at `now`.

    `open_incidents`: how many incidents the customer was told about on this order are not
    resolved. `newer_message`: a message about the order went out after the one that promised.
    Ending wins over waiting, so a promise can be closed as soon as it is known to be moot.
    """
    require_aware(now)
    if open_incidents <= 0:
        return FollowUpDecision("end", reason="resolved")
    if newer_message:
        return FollowUpDecision("end", reason="superseded")
    if promise.follow_up >= settings.max_follow_ups:
        return FollowUpDecision("end", reason="limit")
    if now < require_aware(promise.due_at, "due_at"):
        return FollowUpDecision("wait")
    return FollowUpDecision("follow_up", follow_up=promise.follow_up + 1)
