"""Per-order detection: delays, backorders and false declines, driven by events and deadlines.

Pure: the clock is the event time, or the `now` a caller passes when it fires deadlines.
Events of an order that arrive before its order.placed are held in the state and replayed
(in event-time order) once the order is known, so the incidents do not depend on the order
in which the topics deliver. See `pending_deadlines` for every deadline and when it is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas import (
    CloudEvent,
    IncidentDetectedData,
    IncidentFacts,
    IncidentResolvedData,
    OrderCancelled,
    OrderFulfilled,
    OrderLineBackordered,
    OrderPlaced,
    PaymentDeclined,
    PaymentSucceeded,
    ShipmentUpdated,
)
from schemas.values import IncidentKind
from services.order_watcher.rules.deadlines import (
    DECLINE_WINDOW,
    DELIVERY_BY,
    FORGET,
    SHIP_BY,
    TRACKING_STALL,
    Deadline,
)
from services.order_watcher.rules.declines import classify_decline
from services.order_watcher.rules.delays import (
    STALL_STATUSES,
    apply_shipment,
    local_date,
    order_eta,
)
from services.order_watcher.rules.incidents import CHOICES, build_incident, build_resolution, incident_id
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import IncidentMark, OrderState, PendingDecline, event_digest

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
MAX_PENDING_DECLINES = 8


@dataclass(frozen=True)
class Outcome:
    """What one step decided. Apply `cancel` before `schedule`; `state` None means drop the order's state."""

    state: OrderState | None
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)
    schedule: list[Deadline] = field(default_factory=list)
    cancel: list[Deadline] = field(default_factory=list)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class _Step:
    """A working copy of the state plus the effects of one step."""

    def __init__(self, state: OrderState, settings: WatchSettings) -> None:
        self.state = state
        self.settings = settings
        self.incidents: list[IncidentDetectedData] = []
        self.resolutions: list[IncidentResolvedData] = []

    def emit(
        self,
        kind: IncidentKind,
        cause: str,
        facts: dict[str, Any],
        causes: Sequence[str | None],
        at: datetime,
        *,
        mark_at: datetime | None = None,
        shipment_id: str | None = None,
    ) -> bool:
        """Emit an incident once per (kind, order, cause); False when it was emitted before."""
        state = self.state
        iid = incident_id(kind, state.order_id, cause)
        if state.mark(iid) is not None or state.customer is None or state.store_id is None:
            return False
        state.incidents.append(IncidentMark(id=iid, kind=kind, at=mark_at, shipment_id=shipment_id))
        self.incidents.append(
            build_incident(
                incident_id=iid,
                kind=kind,
                order_id=state.order_id,
                store_id=state.store_id,
                customer=state.customer,
                facts=IncidentFacts(**{**_order_facts(state), **facts}),
                cause_event_ids=[c for c in causes if c],
                detected_at=at,
            )
        )
        return True

    def resolve(self, mark: IncidentMark, reason: str, at: datetime) -> None:
        """Withdraw an emitted incident, once."""
        if mark.resolved or self.state.customer is None:
            return
        mark.resolved = True
        self.resolutions.append(
            build_resolution(
                incident_id=mark.id,
                kind=mark.kind,  # type: ignore[arg-type]
                order_id=self.state.order_id,
                customer_id=self.state.customer.id,
                reason=reason,
                resolved_at=at,
            )
        )

    def outcome(self, before: Sequence[Deadline], state: OrderState | None) -> Outcome:
        """Net effects: an incident withdrawn in the same step it was found is never published."""
        withdrawn = {r.incident_id for r in self.resolutions} & {i.incident_id for i in self.incidents}
        after = pending_deadlines(state, self.settings) if state is not None else []
        old, new = set(before), set(after)
        return Outcome(
            state=state,
            incidents=[i for i in self.incidents if i.incident_id not in withdrawn],
            resolutions=[r for r in self.resolutions if r.incident_id not in withdrawn],
            schedule=sorted(new - old),
            cancel=sorted(old - new),
        )


def _order_facts(state: OrderState) -> dict[str, Any]:
    sku = state.first_sku
    return {
        "product_name": state.product_name,
        "sku": sku,
        "quantity": state.skus.get(sku) if sku else None,
        "promised_ship_by": state.promised_ship_by,
        "promised_delivery_by": state.promised_delivery_by,
        "order_total": state.total,
        "order_status_url": state.order_status_url,
    }


# -- events ---------------------------------------------------------------------------------


def on_event(state: OrderState | None, event: CloudEvent, settings: WatchSettings) -> Outcome:
    """Fold one order, shipment or payment event into the order's state.

    A duplicate event id, or an event of another topic, is an Outcome with no effects.
    """
    if not isinstance(event, ORDER_EVENTS):
        return Outcome(state=state)
    digest = event_digest(event.id)
    if state is not None and digest in state.seen:
        return Outcome(state=state)
    work = state.model_copy(deep=True) if state is not None else OrderState(order_id=event.subject)
    settings = settings.for_store(work.store_id)
    before = pending_deadlines(state, settings) if state is not None else []
    work.seen = [*work.seen, digest][-settings.seen_ids_limit :]
    if isinstance(event, OrderPlaced):
        if not work.placed:
            settings = settings.for_store(event.data.store_id)
            step = _Step(work, settings)
            _place(step, event)
            early, work.early = work.early, []
            for held in sorted(early, key=lambda e: (e.time, e.id)):
                _apply(step, held)
            return step.outcome(before, work)
        return _Step(work, settings).outcome(before, work)
    step = _Step(work, settings)
    if not work.placed:
        work.early = [*work.early, event][-settings.early_events_limit :]  # type: ignore[list-item]
    else:
        _apply(step, event)
    return step.outcome(before, work)


def _place(step: _Step, event: OrderPlaced) -> None:
    data, state = event.data, step.state
    state.placed_event_id = event.id
    state.store_id = data.store_id
    state.customer = data.customer
    state.product_name = data.lines[0].product_name
    skus: dict[str, int] = {}
    for line in data.lines:
        skus[line.sku] = skus.get(line.sku, 0) + line.quantity
    state.skus = skus
    state.total = data.total
    state.placed_at = data.placed_at
    state.promised_ship_by = data.promised_ship_by
    state.promised_delivery_by = data.promised_delivery_by
    state.paid_orders_count = data.customer_paid_orders_count
    state.order_status_url = data.order_status_url


def _apply(step: _Step, event: CloudEvent) -> None:
    """One event of a placed order: update facts, detect, then withdraw whatever cleared."""
    state = step.state
    if isinstance(event, ShipmentUpdated):
        shipment = apply_shipment(state, event, step.settings.shipments_limit)
        data = event.data
        if (
            shipment is not None
            and data.status in ("exception", "returned_to_sender")
            and shipment.delivered_at is None
            and state.closed_at is None
        ):
            reason = data.exception_reason or data.status
            step.emit(
                "delivery_exception",
                f"{data.shipment_id}:{reason}",
                {
                    "carrier": data.carrier,
                    "tracking_number": data.tracking_number,
                    "tracking_url": data.tracking_url,
                    "exception_reason": data.exception_reason,
                    "new_estimated_delivery": data.estimated_delivery,
                },
                [state.placed_event_id, event.id],
                event.time,
                shipment_id=data.shipment_id,
            )
        _check_eta(step, event)
    elif isinstance(event, PaymentDeclined):
        _on_decline(step, event)
    elif isinstance(event, PaymentSucceeded):
        state.paid_at = min(filter(None, [state.paid_at, event.data.succeeded_at]))
        state.declines = []
    elif isinstance(event, OrderCancelled):
        state.cancelled_at = min(filter(None, [state.cancelled_at, event.data.cancelled_at]))
        state.declines = []
    elif isinstance(event, OrderFulfilled):
        state.fulfilled_at = min(filter(None, [state.fulfilled_at, event.data.fulfilled_at]))
    elif isinstance(event, OrderLineBackordered):
        data_b = event.data
        if state.closed_at is None and state.fulfilled_at is None:
            step.emit(
                "backordered",
                data_b.sku,
                {
                    "product_name": data_b.product_name,
                    "sku": data_b.sku,
                    "quantity": data_b.quantity,
                    "restock_eta": data_b.restock_eta,
                    "choices": list(CHOICES),
                },
                [state.placed_event_id, event.id],
                event.time,
            )
    _withdraw_cleared(step, event.time)


def _on_decline(step: _Step, event: PaymentDeclined) -> None:
    state, data = step.state, event.data
    if state.paid_at is not None or state.closed_at is not None or state.fulfilled_at is not None:
        return
    if state.mark(_false_decline_id(state)) is not None:
        return  # one gentle retry message per order
    if classify_decline(data.decline_code, data.outcome_type, data.risk_level) != "likely_false":
        return
    if (state.paid_orders_count or 0) < 1:
        return  # good standing: at least one earlier paid order
    if any(d.event_id == event.id for d in state.declines):
        return
    pending = PendingDecline(
        payment_id=data.payment_id,
        declined_at=data.declined_at,
        amount=data.amount,
        event_id=event.id,
        retry_url=data.retry_url,
    )
    state.declines = sorted([*state.declines, pending], key=lambda d: (d.declined_at, d.payment_id))[
        :MAX_PENDING_DECLINES
    ]


def _false_decline_id(state: OrderState) -> str:
    return incident_id("false_decline", state.order_id, "order")


def _check_eta(step: _Step, event: CloudEvent) -> None:
    """eta_slipped: the order's estimated delivery (latest carrier word) is past the promise.

    A further slip is a new incident (superseding the last) only when its date, on the
    customer's calendar, is at least `eta_slip_min_step` later than the last one announced;
    an ETA back within the promise withdraws the incident.
    """
    state = step.state
    promise = state.promised_delivery_by
    eta = order_eta(state)
    if promise is None or eta is None or state.closed_at is not None:
        return
    live = state.live("eta_slipped")
    if eta <= promise:
        for mark in live:
            step.resolve(mark, "eta_within_promise", event.time)
        return
    tz = state.customer.timezone if state.customer else None
    new_date = local_date(eta, tz)
    if live and live[-1].at is not None:
        if new_date - local_date(live[-1].at, tz) < step.settings.eta_slip_min_step:
            return
    causes = [state.placed_event_id, event.id]
    facts = {"new_estimated_delivery": eta, **_tracking_facts(state)}
    if step.emit("eta_slipped", new_date.isoformat(), facts, causes, event.time, mark_at=eta):
        for mark in live:
            step.resolve(mark, "superseded", event.time)


def _tracking_facts(state: OrderState) -> dict[str, Any]:
    shipment = next((s for s in state.shipments if s.delivered_at is None), None) or (
        state.shipments[0] if state.shipments else None
    )
    if shipment is None:
        return {}
    return {
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
    }


def _cleared(state: OrderState, mark: IncidentMark) -> str | None:
    """Why a live incident no longer holds, or None while it does."""
    if state.cancelled_at is not None:
        return "order_cancelled"
    shipment = state.shipment(mark.shipment_id) if mark.shipment_id else None
    if state.delivered_at is not None or (shipment is not None and shipment.delivered_at is not None):
        return "delivered"
    if mark.kind == "not_shipped" and state.shipped:
        return "shipped"
    if mark.kind == "tracking_stalled" and shipment is not None and mark.at is not None:
        if shipment.checkpoint_time > mark.at:
            return "tracking_resumed"
    if mark.kind == "false_decline" and state.paid_at is not None:
        return "payment_succeeded"
    if mark.kind in ("false_decline", "backordered") and state.fulfilled_at is not None:
        return "fulfilled"
    return None


def _withdraw_cleared(step: _Step, at: datetime) -> None:
    for mark in step.state.live():
        reason = _cleared(step.state, mark)
        if reason is not None:
            step.resolve(mark, reason, at)


# -- deadlines ------------------------------------------------------------------------------


def pending_deadlines(state: OrderState, settings: WatchSettings) -> list[Deadline]:
    """Every deadline the order is waiting on now, earliest first; a function of the state alone."""
    settings = settings.for_store(state.store_id)
    oid = state.order_id
    if not state.placed:
        if not state.early:
            return []
        return [Deadline(min(e.time for e in state.early) + settings.orphan_ttl, FORGET, oid)]
    closed = state.closed_at
    if closed is not None:
        return [Deadline(closed + settings.retain_for, FORGET, oid)]
    out: list[Deadline] = []
    ship_by = _ship_by_due(state, settings)
    if ship_by is not None:
        out.append(Deadline(ship_by, SHIP_BY, oid))
    stalls = _stall_dues(state, settings)
    if stalls:
        out.append(Deadline(min(due for due, _ in stalls), TRACKING_STALL, oid))
    delivery_by = _delivery_by_due(state, settings)
    if delivery_by is not None:
        out.append(Deadline(delivery_by, DELIVERY_BY, oid))
    if state.declines:
        out.append(Deadline(state.declines[0].declined_at + settings.decline_window, DECLINE_WINDOW, oid))
    if state.promised_delivery_by is not None:
        out.append(Deadline(state.promised_delivery_by + settings.retain_for, FORGET, oid))
    return sorted(out)


def _ship_by_due(state: OrderState, settings: WatchSettings) -> datetime | None:
    if state.promised_ship_by is None or state.shipped:
        return None
    if state.mark(incident_id("not_shipped", state.order_id, _utc(state.promised_ship_by))):
        return None
    return state.promised_ship_by + settings.ship_grace


def _stall_id(state: OrderState, shipment_id: str, checkpoint: datetime) -> str:
    return incident_id("tracking_stalled", state.order_id, f"{shipment_id}@{_utc(checkpoint)}")


def _stall_dues(state: OrderState, settings: WatchSettings) -> list[tuple[datetime, str]]:
    dues = []
    for s in state.shipments:
        if s.delivered_at is None and s.status in STALL_STATUSES:
            if state.mark(_stall_id(state, s.shipment_id, s.checkpoint_time)) is None:
                dues.append((s.checkpoint_time + settings.tracking_stall_after, s.shipment_id))
    return sorted(dues)


def _delivery_by_due(state: OrderState, settings: WatchSettings) -> datetime | None:
    """Only an order the carrier holds can be judged not delivered: without tracking we cannot know."""
    promise = state.promised_delivery_by
    if promise is None or not any(s.shipped for s in state.shipments):
        return None
    if state.mark(incident_id("not_delivered", state.order_id, _utc(promise))):
        return None
    return promise + settings.delivery_grace


def _fire(step: _Step, kind: str, now: datetime) -> None:
    """Detect what the deadline of `kind` guards, if it is really due at `now`."""
    state, settings = step.state, step.settings
    if state.closed_at is not None or not state.placed:
        return
    if kind == SHIP_BY:
        due = _ship_by_due(state, settings)
        if due is not None and due <= now and state.promised_ship_by is not None:
            step.emit("not_shipped", _utc(state.promised_ship_by), {}, [state.placed_event_id], due)
    elif kind == TRACKING_STALL:
        for due, shipment_id in _stall_dues(state, settings):
            shipment = state.shipment(shipment_id)
            if due > now or shipment is None:
                continue
            step.emit(
                "tracking_stalled",
                f"{shipment_id}@{_utc(shipment.checkpoint_time)}",
                {
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "tracking_url": shipment.tracking_url,
                    "new_estimated_delivery": shipment.eta,
                },
                [state.placed_event_id, shipment.event_id],
                due,
                mark_at=shipment.checkpoint_time,
                shipment_id=shipment_id,
            )
    elif kind == DELIVERY_BY:
        due = _delivery_by_due(state, settings)
        if due is not None and due <= now and state.promised_delivery_by is not None:
            eta = order_eta(state)
            facts = {**_tracking_facts(state), "new_estimated_delivery": eta}
            causes = [state.placed_event_id, *(s.event_id for s in state.shipments)]
            step.emit("not_delivered", _utc(state.promised_delivery_by), facts, causes, due)
    elif kind == DECLINE_WINDOW:
        _fire_declines(step, now)


def _fire_declines(step: _Step, now: datetime) -> None:
    state, settings = step.state, step.settings
    ripe = [d for d in state.declines if d.declined_at + settings.decline_window <= now]
    if not ripe:
        return
    state.declines = []
    if state.paid_at is not None or state.fulfilled_at is not None or state.store_id is None:
        return
    first = ripe[0]
    retry_url = first.retry_url or settings.retry_url(
        store_id=state.store_id, order_id=state.order_id, payment_id=first.payment_id
    )
    step.emit(
        "false_decline",
        "order",
        {"retry_url": retry_url, "amount": first.amount},
        [state.placed_event_id, *(d.event_id for d in ripe)],
        first.declined_at + settings.decline_window,
    )


def on_deadline(state: OrderState, deadline: Deadline, now: datetime, settings: WatchSettings) -> Outcome:
    """Fire one deadline the caller found due at `now` (its stream clock).

    A stale deadline (rescheduled since, or whose condition cleared) detects nothing and the
    Outcome reschedules what is really pending. A due FORGET returns state None.
    """
    settings = settings.for_store(state.store_id)
    before = [d for d in pending_deadlines(state, settings) if d != deadline]
    work = state.model_copy(deep=True)
    step = _Step(work, settings)
    if deadline.kind == FORGET:
        forget = [d for d in pending_deadlines(state, settings) if d.kind == FORGET]
        if forget and forget[0].due <= now:
            return Outcome(state=None, cancel=sorted(before))
        return step.outcome(before, work)
    _fire(step, deadline.kind, now)
    return step.outcome(before, work)


def overdue_now(state: OrderState, now: datetime, settings: WatchSettings) -> Outcome:
    """Fire at once every detection deadline already due at `now` (e.g. an order placed after its ship-by).

    Call it right after `on_event`, with that Outcome applied; housekeeping (FORGET) is left to the caller's index.
    """
    settings = settings.for_store(state.store_id)
    before = pending_deadlines(state, settings)
    work = state.model_copy(deep=True)
    step = _Step(work, settings)
    fired: set[Deadline] = set()
    while True:
        due = [d for d in pending_deadlines(work, settings) if d.due <= now and d.kind != FORGET and d not in fired]
        if not due:
            break
        fired.add(due[0])
        _fire(step, due[0].kind, now)
    return step.outcome(before, work)
