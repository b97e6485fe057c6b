"""Per-order detection: events and deadlines in, incidents, withdrawals and deadline changes out.

Pure: the clock is the event time, or the `now` a caller passes when it fires deadlines.
Admission is the per-order core's (`services.common.order_rules.admit`): each event once, and
events of an order that arrive before its order.placed held and replayed in event-time order once
the order is known. `pending_deadlines` lists every deadline and when it is due.

An order is delivered once every shipment known for it is. A parcel first seen after that
reopens the watch for it, but incidents already withdrawn on delivery stay withdrawn.
"""

from __future__ import annotations

from datetime import datetime

from schemas import (
    CloudEvent,
    OrderCancelled,
    OrderFulfilled,
    OrderLineBackordered,
    OrderPlaced,
    PaymentDeclined,
    PaymentSucceeded,
    ShipmentUpdated,
)
from services.common import order_rules
from services.common.order_rules import admit, fire, forget_held
from services.order_watcher.rules.deadlines import (
    DECLINE_WINDOW,
    DELIVERY_BY,
    FORGET,
    SHIP_BY,
    TRACKING_STALL,
    Deadline,
)
from services.order_watcher.rules.declines import decline_due, fire_declines, note_decline
from services.order_watcher.rules.delays import (
    apply_shipment,
    check_eta,
    delivery_by_due,
    fire_delivery_by,
    fire_ship_by,
    fire_stalls,
    note_exception,
    ship_by_due,
    stall_dues,
)
from services.order_watcher.rules.effects import Outcome, Step
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import IncidentMark, OrderState

__all__ = ["Outcome", "on_deadline", "on_event", "overdue_now", "pending_deadlines"]

ORDER_EVENTS = (
    OrderPlaced,
    OrderCancelled,
    OrderFulfilled,
    OrderLineBackordered,
    PaymentDeclined,
    PaymentSucceeded,
    ShipmentUpdated,
)
FIRE = {
    SHIP_BY: fire_ship_by,
    TRACKING_STALL: fire_stalls,
    DELIVERY_BY: fire_delivery_by,
    DECLINE_WINDOW: fire_declines,
}


def on_event(state: OrderState | None, event: CloudEvent, settings: WatchSettings) -> Outcome:
    """Fold one order, shipment or payment event into the order's state (see `order_rules.admit`).

    A duplicate event id, or an event of another topic, is an Outcome with no effects (a duplicate
    only re-schedules the deadlines its state implies).
    Deadlines already due are only scheduled: the caller fires them (or calls `overdue_now`).
    """
    if not isinstance(event, ORDER_EVENTS):
        return order_rules.Outcome(state=state)  # the class: calling the alias raises and catches per call
    return admit(state, event, settings, new=_new, step=Step, place=_place, apply=_apply, pending=pending_deadlines)


def _new(order_id: str) -> OrderState:
    return OrderState(order_id=order_id)


def _place(state: OrderState, event: OrderPlaced) -> None:
    data = event.data
    skus: dict[str, int] = {}
    for line in data.lines:
        skus[line.sku] = skus.get(line.sku, 0) + line.quantity
    state.placed_event_id = event.id
    state.order_number = data.order_name
    state.store_id = data.store_id
    state.customer = data.customer
    state.product_name = data.lines[0].product_name
    state.skus = skus
    state.total = data.total
    state.placed_at = data.placed_at
    state.promised_ship_by = data.promised_ship_by
    state.promised_delivery_by = data.promised_delivery_by
    state.paid_orders_count = data.customer_paid_orders_count
    state.order_status_url = data.order_status_url


def _apply(step: Step, event: CloudEvent) -> None:
    """One event of a placed order: update facts, detect, then withdraw whatever cleared."""
    state = step.state
    if isinstance(event, ShipmentUpdated):
        shipment = apply_shipment(state, event, step.settings.shipments_limit)
        note_exception(step, event, shipment)
        check_eta(step, event.time, event.id)
    elif isinstance(event, PaymentDeclined):
        note_decline(step, event)
    elif isinstance(event, PaymentSucceeded):
        state.paid_at = min(filter(None, [state.paid_at, event.data.succeeded_at]))
        state.declines = []
    elif isinstance(event, OrderCancelled):
        state.cancelled_at = min(filter(None, [state.cancelled_at, event.data.cancelled_at]))
        state.declines = []
    elif isinstance(event, OrderFulfilled):
        state.fulfilled_at = min(filter(None, [state.fulfilled_at, event.data.fulfilled_at]))
    elif isinstance(event, OrderLineBackordered):
        _note_backorder(step, event)
    for mark in state.live():
        reason = _cleared(state, mark)
        if reason is not None:
            step.resolve(mark, reason, event.time)


def _note_backorder(step: Step, event: OrderLineBackordered) -> None:
    """backordered: an incident at once, once per (order, SKU), with the restock date (and the kind's choices).

    Only cancelling or fulfilling the order settles it: a parcel delivered without the line does not.
    """
    state, data = step.state, event.data
    if state.cancelled_at is not None or state.fulfilled_at is not None:
        return
    facts = {
        "product_name": data.product_name,
        "sku": data.sku,
        "quantity": data.quantity,
        "restock_eta": data.restock_eta,
    }
    step.emit("backordered", data.sku, facts, [state.placed_event_id, event.id], event.time)


def _cleared(state: OrderState, mark: IncidentMark) -> str | None:
    """Why a live incident no longer holds, or None while it does (eta_slipped is judged in check_eta)."""
    if state.cancelled_at is not None:
        return "order_cancelled"
    if mark.kind == "backordered":
        return "fulfilled" if state.fulfilled_at is not None else None
    shipment = state.shipment(mark.shipment_id) if mark.shipment_id else None
    if state.delivered_at is not None or (shipment is not None and shipment.delivered_at is not None):
        return "delivered"
    if mark.kind == "not_shipped" and state.shipped:
        return "shipped"
    stalled_at = mark.at if mark.kind == "tracking_stalled" else None
    if shipment is not None and stalled_at is not None and shipment.checkpoint_time > stalled_at:
        return "tracking_resumed"
    if mark.kind == "false_decline" and state.paid_at is not None:
        return "payment_succeeded"
    if mark.kind == "false_decline" and state.fulfilled_at is not None:
        return "fulfilled"
    return None


def pending_deadlines(state: OrderState, settings: WatchSettings) -> list[Deadline]:
    """Every deadline the order waits on now, earliest first: a function of the state alone.

    A cancelled or delivered order waits only for FORGET (retain_for after it closed); an open
    one is forgotten retain_for after promised_delivery_by; events held for an order that never
    came, orphan_ttl after the first of them.
    """
    settings = settings.for_store(state.store_id)
    oid = state.order_id
    if not state.placed:
        return forget_held(state, settings)
    closed = state.closed_at
    if closed is not None:
        return [Deadline(closed + settings.retain_for, FORGET, oid)]
    stalls = stall_dues(state, settings)
    dues = {
        SHIP_BY: ship_by_due(state, settings),
        TRACKING_STALL: stalls[0][0] if stalls else None,
        DELIVERY_BY: delivery_by_due(state, settings),
        DECLINE_WINDOW: decline_due(state, settings),
        FORGET: state.promised_delivery_by + settings.retain_for if state.promised_delivery_by else None,
    }
    return sorted(Deadline(due, kind, oid) for kind, due in dues.items() if due is not None)


def on_deadline(state: OrderState, deadline: Deadline, now: datetime, settings: WatchSettings) -> Outcome:
    """Fire one deadline the caller found due at `now` (its stream clock); see `order_rules.fire`.

    The deadline is re-checked against the state: a stale one (rescheduled since, or whose
    condition cleared) detects nothing. A due FORGET returns state None (drop it).
    """
    return fire(state, deadline, now, settings, step=Step, act=_act, pending=pending_deadlines)


def overdue_now(state: OrderState, now: datetime, settings: WatchSettings) -> Outcome:
    """Fire at once every detection deadline already due at `now`, e.g. for an order placed after its ship-by.

    For a caller that runs it right after applying `on_event`'s Outcome. FORGET is left to the caller's index.
    """
    settings = settings.for_store(state.store_id)
    before = pending_deadlines(state, settings)
    work = state.draft()
    step = Step(work, settings)
    for kind in [d.kind for d in before if d.due <= now and d.kind != FORGET]:
        _act(step, kind, now)
    return step.finish(work, before, pending_deadlines(work, settings))


def _act(step: Step, kind: str, now: datetime) -> None:
    """Fire everything of `kind` due by `now`, while the order is open."""
    state = step.state
    fire_kind = FIRE.get(kind)
    if fire_kind is not None and state.placed and state.closed_at is None:
        fire_kind(step, now)
