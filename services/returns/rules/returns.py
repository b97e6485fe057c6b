"""Per-order return rules: events and deadlines in, incidents, withdrawals, escalations and deadlines out.

Pure: the clock is the event time, or the `now` a caller passes when it fires deadlines.
Return events carry only the customer's id; who they are and how to reach them comes from
the order's order.placed. Admission is the per-order core's (`services.common.order_rules.admit`):
each event once, and return events that arrive before their order.placed held and replayed in
event-time order once the order is known. `pending_deadlines` lists every deadline and when it is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from schemas import (
    CloudEvent,
    OrderPlaced,
    RefundIssued,
    ReturnLabelScanned,
    ReturnReceived,
    ReturnRejected,
    ReturnRequested,
)
from services.common import order_rules
from services.common.order_rules import admit, fire, forget_held
from services.returns.rules.deadlines import ACKNOWLEDGE, FORGET, LABEL_SCAN, REFUND_ESCALATE, REFUND_SLA, Deadline
from services.returns.rules.effects import Outcome, Step
from services.returns.rules.journey import (
    acknowledge_due,
    fire_acknowledgements,
    on_label_scanned,
    on_received,
    on_refund,
    on_rejected,
    on_requested,
)
from services.returns.rules.refunds import escalate_due, fire_refunds, sla_due
from services.returns.rules.settings import ReturnSettings
from services.returns.rules.stalls import fire_stalls, stall_due
from services.returns.rules.state import ReturnsState

__all__ = ["Outcome", "on_deadline", "on_event", "pending_deadlines"]

RETURN_EVENTS = (ReturnRequested, ReturnLabelScanned, ReturnReceived, RefundIssued, ReturnRejected)
FIRE: dict[str, Callable[[Step, datetime], None]] = {
    ACKNOWLEDGE: fire_acknowledgements,
    REFUND_SLA: fire_refunds,
    REFUND_ESCALATE: fire_refunds,
    LABEL_SCAN: fire_stalls,
}


def on_event(state: ReturnsState | None, event: CloudEvent, settings: ReturnSettings) -> Outcome:
    """Fold one order.placed or return event into the order's state (see `order_rules.admit`).

    Any other event (the rest of the `orders` topic), or a duplicate event id, is an Outcome
    whose state is the very object passed in (a duplicate also re-schedules the deadlines that
    state implies). Deadlines already due are only scheduled: the
    caller fires them at its next tick.
    """
    if not isinstance(event, (OrderPlaced, *RETURN_EVENTS)):
        return order_rules.Outcome(state=state)  # the class: calling the alias raises and catches per call
    return admit(state, event, settings, new=_new, step=Step, place=_place, apply=_apply, pending=pending_deadlines,
                 note=_note_time)


def _new(order_id: str) -> ReturnsState:
    return ReturnsState(order_id=order_id)


def _note_time(state: ReturnsState, event: CloudEvent) -> None:
    """The latest event time seen: the order is forgotten `retain_for` after it."""
    state.last_event_at = max(filter(None, [state.last_event_at, event.time]))


def _place(state: ReturnsState, event: OrderPlaced) -> None:
    data = event.data
    products = {line.product_name for line in data.lines}
    state.placed_event_id = event.id
    state.order_number = data.order_name
    state.store_id = data.store_id
    state.customer = data.customer
    state.order_total = data.total
    state.product_name = data.lines[0].product_name if len(products) == 1 else None
    state.order_status_url = data.order_status_url


def _apply(step: Step, event: CloudEvent) -> None:
    """One return event of a placed order."""
    if isinstance(event, ReturnRequested):
        on_requested(step, event)
    elif isinstance(event, ReturnLabelScanned):
        on_label_scanned(step, event)
    elif isinstance(event, ReturnReceived):
        on_received(step, event)
    elif isinstance(event, RefundIssued):
        on_refund(step, event)
    elif isinstance(event, ReturnRejected):
        on_rejected(step, event)


def pending_deadlines(state: ReturnsState, settings: ReturnSettings) -> list[Deadline]:
    """Every deadline the order waits on now, earliest first: a function of the state alone.

    Per kind, the earliest due return stands for all. With nothing else pending the order is
    forgotten `retain_for` after its last event; events held for an order that never came,
    `orphan_ttl` after the first of them.
    """
    settings = settings.for_store(state.store_id)
    oid = state.order_id
    if not state.placed:
        return forget_held(state, settings)
    dues: dict[str, list[datetime]] = {ACKNOWLEDGE: [], REFUND_SLA: [], REFUND_ESCALATE: [], LABEL_SCAN: []}
    for case in state.returns:
        for kind, due in (
            (ACKNOWLEDGE, acknowledge_due(state, case, settings)),
            (REFUND_SLA, sla_due(state, case, settings)),
            (REFUND_ESCALATE, escalate_due(state, case, settings)),
            (LABEL_SCAN, stall_due(state, case, settings)),
        ):
            if due is not None:
                dues[kind].append(due)
    deadlines = [Deadline(min(times), kind, oid) for kind, times in dues.items() if times]
    if not deadlines and state.last_event_at is not None:
        deadlines.append(Deadline(state.last_event_at + settings.retain_for, FORGET, oid))
    return sorted(deadlines)


def on_deadline(state: ReturnsState, deadline: Deadline, now: datetime, settings: ReturnSettings) -> Outcome:
    """Fire one deadline the caller found due at `now` (its stream clock); see `order_rules.fire`.

    The deadline is re-checked against the state: a stale one (rescheduled since, or whose
    condition cleared) detects nothing. A due FORGET returns state None (drop it).
    """
    return fire(state, deadline, now, settings, step=Step, act=_act, pending=pending_deadlines)


def _act(step: Step, kind: str, now: datetime) -> None:
    """Fire every return of the order due by `now` for `kind`, once the order is known."""
    fire_kind = FIRE.get(kind)
    if fire_kind is not None and step.state.placed:
        fire_kind(step, now)  # each fires everything of its kind due by now
