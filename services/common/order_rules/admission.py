"""Admission of an event to its order's state: once per event id, and held until the order is known.

Events of an order that arrive before its order.placed are held in the state and replayed (in
event-time order) once the order is known, so the outcome does not depend on the order in which
the topics deliver. A service supplies what is its own: the blank state, how order.placed fills it,
how one event of a placed order applies, and the deadlines a state implies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from schemas import CloudEvent, OrderPlaced
from services.common.ids import event_digest
from services.common.order_rules.deadlines import Deadline
from services.common.order_rules.settings import StoreSettings
from services.common.order_rules.state import OrderRecord
from services.common.order_rules.steps import Outcome, Step

__all__ = ["admit"]

S = TypeVar("S", bound=OrderRecord[Any, Any])
C = TypeVar("C", bound=StoreSettings)
St = TypeVar("St", bound=Step[Any, Any])


def admit(
    state: S | None,
    event: CloudEvent,
    settings: C,
    *,
    new: Callable[[str], S],
    step: Callable[[S, C], St],
    place: Callable[[S, OrderPlaced], None],
    apply: Callable[[St, CloudEvent], None],
    pending: Callable[[S, C], list[Deadline]],
    note: Callable[[S, CloudEvent], None] | None = None,
) -> Outcome[S]:
    """Fold one event of the service's topics into its order's state (None: the order is new).

    A duplicate event id is an Outcome whose state is the very object passed in; it re-schedules the
    deadlines that state implies. The settings are the order's store's (from order.placed, once known).
    `note` sees every admitted event before it is applied or held.
    """
    digest = event_digest(event.id)
    if state is not None and digest in state.seen:
        # Read again (a restart before its offset was committed): its effects were sent and its state
        # written. The deadline index is rebuilt from the state on assignment, so it already holds what
        # the state implies; re-asserting it is idempotent and keeps an index held elsewhere (a caller
        # that keeps it apart from the state) in step with the state.
        return Outcome(state=state, schedule=pending(state, settings))
    work = state.draft() if state is not None else new(event.subject)
    before = pending(state, settings) if state is not None else []
    placing = isinstance(event, OrderPlaced) and not work.placed
    settings = settings.for_store(event.data.store_id if isinstance(event, OrderPlaced) and placing else work.store_id)
    work.seen = [*work.seen, digest][-settings.seen_ids_limit :]
    if note is not None:
        note(work, event)
    current = step(work, settings)
    if isinstance(event, OrderPlaced):
        if placing:  # a second order.placed for the same order changes nothing
            place(work, event)
            held, work.early = work.early, []
            for early in sorted(held, key=lambda e: (e.time, e.id)):
                apply(current, early)
    elif not work.placed:
        work.early = [*work.early, event][-settings.early_events_limit :]
    else:
        apply(current, event)
    finished: Outcome[S] = current.finish(work, before, pending(work, settings))
    return finished

