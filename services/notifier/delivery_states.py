"""The states of a ledger row (a message) and the moves between them, enforced by `Ledger`.

```
reserved -> sending -> sent -> delivered | undelivered | failed | bounced   (provider status callbacks)
         |          -> ambiguous -> sent (found at the provider) | failed (gave up)
         |          |            -> reserved (not found: sending again cannot duplicate it)
         |          -> failed
         -> deferred (due_at) -> reserved ...
         -> joined (rides along in another message; reason = its notification id) -> reserved (decided again)
         -> suppressed | withdrawn
```

`reserved -> reserved` is a claim (a resumed row taken again before it is decided) and `sending -> sending`
records one more attempt at the provider; no other state moves to itself. A row is written first in any state
(`Ledger.reserve`: a decision made at once is stored as its outcome). A status callback moves a row only
forward (`CALLBACK_RANK`), and only along these moves: a late `sent` after `delivered` changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

__all__ = [
    "ASKED_STATES", "CALLBACK_RANK", "MESSAGED_STATES", "PENDING_STATES", "SENT_STATES", "TRANSITIONS",
    "DeliveryState", "IllegalTransition", "allowed", "check", "sources_of",
]


class DeliveryState(StrEnum):
    """A ledger row's state; the values are the strings stored in `deliveries.state`."""

    RESERVED = "reserved"
    DEFERRED = "deferred"
    JOINED = "joined"
    SENDING = "sending"
    AMBIGUOUS = "ambiguous"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"
    WITHDRAWN = "withdrawn"


S = DeliveryState

TRANSITIONS: Mapping[DeliveryState, frozenset[DeliveryState]] = {
    S.RESERVED: frozenset({S.RESERVED, S.SENDING, S.DEFERRED, S.JOINED, S.SUPPRESSED, S.WITHDRAWN}),
    S.DEFERRED: frozenset({S.RESERVED, S.WITHDRAWN}),
    S.JOINED: frozenset({S.RESERVED}),
    S.SENDING: frozenset({S.SENDING, S.SENT, S.AMBIGUOUS, S.FAILED}),
    S.AMBIGUOUS: frozenset({S.SENT, S.FAILED, S.RESERVED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.BOUNCED}),
    S.UNDELIVERED: frozenset({S.DELIVERED}),
    S.FAILED: frozenset({S.DELIVERED}),
    S.BOUNCED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.SUPPRESSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
"""Every allowed move, from -> to."""

CALLBACK_RANK: Mapping[DeliveryState, int] = {
    S.SENT: 1, S.UNDELIVERED: 2, S.FAILED: 2, S.BOUNCED: 2, S.DELIVERED: 3,
}
"""A provider status callback never moves a row backwards (a late `sent` after `delivered`)."""

PENDING_STATES = (S.RESERVED, S.DEFERRED)
"""Not yet sent, still to be decided or sent."""
SENT_STATES = (S.SENDING, S.SENT, S.DELIVERED, S.UNDELIVERED, S.AMBIGUOUS)
"""The message went out (or may have): the customer was told."""
MESSAGED_STATES = (S.SENDING, S.SENT, S.DELIVERED, S.AMBIGUOUS)
"""A message the customer has (or may have) read."""
ASKED_STATES = (S.RESERVED, S.DEFERRED, S.SENDING, S.AMBIGUOUS, S.SENT, S.DELIVERED, S.UNDELIVERED)
"""A feedback question in one of these states was asked (or is still to be): the once-per-30-days rule counts it."""


class IllegalTransition(ValueError):
    """A move the state machine does not allow: a bug in the caller, never a race (races use `expect`)."""

    def __init__(self, notification_id: str, source: str, target: str) -> None:
        super().__init__(f"ledger row {notification_id}: {source} -> {target} is not an allowed move")
        self.notification_id = notification_id
        self.source = source
        self.target = target


def allowed(source: str, target: str) -> bool:
    """Whether a row in `source` may move to `target`."""
    return S(target) in TRANSITIONS[S(source)]


def check(notification_id: str, source: str, target: str) -> None:
    """Raise `IllegalTransition` unless `source -> target` is allowed."""
    if not allowed(source, target):
        raise IllegalTransition(notification_id, source, target)


def sources_of(target: str, among: Iterable[str] | None = None) -> tuple[DeliveryState, ...]:
    """The states a row may move to `target` from (only those `among`, when given)."""
    to = S(target)
    pool = list(S) if among is None else [S(state) for state in among]
    return tuple(state for state in pool if to in TRANSITIONS[state])
