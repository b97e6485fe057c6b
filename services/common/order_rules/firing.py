"""Firing a deadline of one order: re-checked against the state, dropped when stale, FORGET drops the state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from services.common.order_rules.deadlines import FORGET, Deadline
from services.common.order_rules.settings import StoreSettings
from services.common.order_rules.state import OrderRecord
from services.common.order_rules.steps import Outcome, Step

__all__ = ["fire", "forget_held"]

S = TypeVar("S", bound=OrderRecord[Any, Any])
C = TypeVar("C", bound=StoreSettings)
St = TypeVar("St", bound=Step[Any, Any])


def fire(
    state: S,
    deadline: Deadline,
    now: datetime,
    settings: C,
    *,
    step: Callable[[S, C], St],
    act: Callable[[St, str, datetime], None],
    pending: Callable[[S, C], list[Deadline]],
) -> Outcome[S]:
    """Fire one deadline the caller found due at `now` (its stream clock) and popped from its index.

    `act` fires everything of the deadline's kind due by `now`, judged on the state, so a stale deadline
    (rescheduled since, or whose condition cleared) detects nothing. A due FORGET returns state None (drop
    it); one not due yet (the order moved on) is scheduled again, with the very state passed in.
    """
    settings = settings.for_store(state.store_id)
    current = pending(state, settings)
    before = [d for d in current if d != deadline]
    if deadline.kind == FORGET:
        if any(d.kind == FORGET and d.due <= now for d in current):
            return Outcome(state=None, cancel=before)
        return Outcome(state=state, schedule=sorted(set(current) - set(before)))
    work = state.draft()
    doing = step(work, settings)
    act(doing, deadline.kind, now)
    fired: Outcome[S] = doing.finish(work, before, pending(work, settings))
    return fired


def forget_held(state: OrderRecord[Any, Any], settings: StoreSettings) -> list[Deadline]:
    """The one deadline of an order not placed yet: FORGET `orphan_ttl` after its first held event, if any."""
    if not state.early:
        return []
    return [Deadline(min(e.time for e in state.early) + settings.orphan_ttl, FORGET, state.order_id)]
