"""Delay rules: carrier facts per shipment, exceptions and ETA slips as they come, and the delay deadlines."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any, Final

from schemas import ShipmentUpdated
from schemas.values import IncidentKind
from services.common.order_rules import incident_id
from services.order_watcher.rules.effects import Step, utc_iso
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import POSSESSION, OrderState, ShipmentFacts

__all__ = [
    "POSSESSION",
    "STALL_STATUSES",
    "apply_shipment",
    "check_eta",
    "delivery_by_due",
    "eta_facts",
    "fire_delivery_by",
    "fire_ship_by",
    "fire_stalls",
    "local_date",
    "note_exception",
    "order_eta",
    "ship_by_due",
    "stall_dues",
]

STALL_STATUSES: Final = frozenset({"in_transit", "out_for_delivery", "attempt_failed"})
"""Statuses in which silence from the carrier means the parcel is stuck."""


def apply_shipment(state: OrderState, event: ShipmentUpdated, limit: int) -> ShipmentFacts | None:
    """Fold a carrier update into the state; None when the order already tracks `limit` other shipments.

    The latest checkpoint (by checkpoint time, then event id) sets status and tracking; a stale
    update still counts for the facts that only ever grow: shipped, delivered, and a carrier
    exception it reports (see `note_exception`).
    """
    data = event.data
    held = state.shipment(data.shipment_id)
    if held is None and len(state.shipments) >= limit:
        return None
    facts: dict[str, Any] = {}
    if held is None or (data.checkpoint_time, event.id) > (held.checkpoint_time, held.event_id):
        facts.update(
            carrier=data.carrier,
            tracking_number=data.tracking_number,
            tracking_url=data.tracking_url or (held.tracking_url if held is not None else None),
            status=data.status,
            checkpoint_time=data.checkpoint_time,
            event_id=event.id,
        )
    if data.estimated_delivery is not None:
        eta = (held.eta_checkpoint, held.eta) if held is not None else (None, None)
        if eta[0] is None or eta[1] is None or (data.checkpoint_time, data.estimated_delivery) > eta:
            facts.update(eta=data.estimated_delivery, eta_date=data.estimated_delivery_date,
                         eta_checkpoint=data.checkpoint_time)
    if data.status in POSSESSION:
        facts["shipped"] = True
    if data.status == "delivered":
        was = held.delivered_at if held is not None else None
        facts["delivered_at"] = min(filter(None, [was, data.checkpoint_time]))
    if held is None:
        shipment = ShipmentFacts(shipment_id=data.shipment_id, **facts)
        state.shipments = [*state.shipments, shipment]
    elif facts:
        shipment = held.model_copy(update=facts)
        state.replace_shipment(shipment)
    else:
        shipment = held
    return shipment


def note_exception(step: Step, event: ShipmentUpdated, shipment: ShipmentFacts | None) -> None:
    """delivery_exception: once per (order, shipment, reason); returned_to_sender counts as one."""
    state, data = step.state, event.data
    if data.status not in ("exception", "returned_to_sender"):
        return
    if shipment is None or shipment.delivered_at is not None or state.closed_at is not None:
        return
    reason = data.exception_reason or data.status
    facts = {
        "carrier": data.carrier,
        "tracking_number": data.tracking_number,
        "tracking_url": data.tracking_url,
        "exception_reason": data.exception_reason,
        "reason_text": None if data.exception_reason else data.status,
        "new_estimated_delivery": data.estimated_delivery,
        "new_estimated_delivery_date": data.estimated_delivery_date,
    }
    causes = [state.placed_event_id, event.id]
    step.emit(
        "delivery_exception", f"{data.shipment_id}:{reason}", facts, causes, event.time, shipment_id=data.shipment_id
    )


def order_eta(state: OrderState) -> datetime | None:
    """When the order should arrive: the latest ETA among its shipments still on the way."""
    latest = _latest_eta(state)
    return latest.eta if latest is not None else None


def _latest_eta(state: OrderState) -> ShipmentFacts | None:
    on_the_way = [s for s in state.shipments if s.delivered_at is None and s.eta is not None]
    return max(on_the_way, key=lambda s: (s.eta, s.eta_date is None)) if on_the_way else None


def eta_facts(state: OrderState) -> dict[str, Any]:
    """The order's estimated delivery as incident facts: the instant, and the date when it is a date alone."""
    latest = _latest_eta(state)
    if latest is None:
        return {"new_estimated_delivery": None}
    return {"new_estimated_delivery": latest.eta, "new_estimated_delivery_date": latest.eta_date}


@lru_cache(maxsize=512)
def _zone(key: str | None) -> tzinfo:
    if not key:
        return UTC
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def local_date(at: datetime, timezone: str | None) -> date:
    """The calendar date of `at` for the customer (UTC when their zone is unknown)."""
    return at.astimezone(_zone(timezone)).date()


def check_eta(step: Step, at: datetime, cause_event_id: str) -> None:
    """eta_slipped: the order's estimated delivery (latest carrier word) is past the promise.

    A further slip is a new incident (superseding the last) only when its date, on the
    customer's calendar, is at least `eta_slip_min_step` later than the last one announced;
    an ETA that moves earlier but stays late changes nothing; one back within the promise
    withdraws the incident.
    """
    state = step.state
    promise = state.promised_delivery_by
    latest = _latest_eta(state)
    if promise is None or latest is None or latest.eta is None or state.closed_at is not None:
        return
    eta = latest.eta
    live = state.live("eta_slipped")
    tz = state.customer.timezone if state.customer else None
    # A date alone is that day on the customer's calendar: on the promised day it is within the promise.
    within = latest.eta_date <= local_date(promise, tz) if latest.eta_date is not None else eta <= promise
    if within:
        for mark in live:
            step.resolve(mark, "eta_within_promise", at)
        return
    new_date = latest.eta_date or local_date(eta, tz)
    last = live[-1].at if live else None
    if last is not None and new_date - local_date(last, tz) < step.settings.eta_slip_min_step:
        return
    facts = {**eta_facts(state), **tracking_facts(state)}
    causes = [state.placed_event_id, cause_event_id]
    # Marked with an instant on the announced day of the customer's calendar, so the next slip compares dates.
    mark_at = eta if latest.eta_date is None else datetime.combine(latest.eta_date, time(12), _zone(tz))
    if step.emit("eta_slipped", new_date.isoformat(), facts, causes, at, mark_at=mark_at):
        for mark in live:
            step.resolve(mark, "superseded", at)


def tracking_facts(state: OrderState) -> dict[str, Any]:
    """Carrier and tracking of the first shipment still on its way (else the first one)."""
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


# -- deadlines: when each is due (None: nothing to wait for), and what firing it detects --------


def ship_by_due(state: OrderState, settings: WatchSettings) -> datetime | None:
    """not_shipped is due at promised_ship_by + ship_grace unless the carrier has the parcel."""
    if state.promised_ship_by is None or state.shipped:
        return None
    if _emitted(state, "not_shipped", utc_iso(state.promised_ship_by)):
        return None
    return state.promised_ship_by + settings.ship_grace


def fire_ship_by(step: Step, now: datetime) -> None:
    state = step.state
    due = ship_by_due(state, step.settings)
    if due is not None and due <= now and state.promised_ship_by is not None:
        step.emit("not_shipped", utc_iso(state.promised_ship_by), {}, [state.placed_event_id], due)


def _emitted(state: OrderState, kind: IncidentKind, cause: str) -> bool:
    """This order emitted the incident of `kind` for `cause` (its id is hashed only when a mark of the kind exists)."""
    if not any(m.kind == kind for m in state.incidents):
        return False
    return state.mark(incident_id(kind, state.order_id, cause)) is not None


def stall_dues(state: OrderState, settings: WatchSettings) -> list[tuple[datetime, str]]:
    """(due, shipment id) for each parcel in transit whose last checkpoint has not been reported stalled."""
    dues = []
    for s in state.shipments:
        waiting = s.delivered_at is None and s.status in STALL_STATUSES
        if waiting and not _emitted(state, "tracking_stalled", f"{s.shipment_id}@{utc_iso(s.checkpoint_time)}"):
            dues.append((s.checkpoint_time + settings.tracking_stall_after, s.shipment_id))
    return sorted(dues)


def fire_stalls(step: Step, now: datetime) -> None:
    state = step.state
    for due, shipment_id in stall_dues(state, step.settings):
        shipment = state.shipment(shipment_id)
        if due > now or shipment is None:
            continue
        facts = {
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "new_estimated_delivery": shipment.eta,
            "new_estimated_delivery_date": shipment.eta_date,
        }
        cause = f"{shipment_id}@{utc_iso(shipment.checkpoint_time)}"
        causes = [state.placed_event_id, shipment.event_id]
        step.emit(
            "tracking_stalled", cause, facts, causes, due, mark_at=shipment.checkpoint_time, shipment_id=shipment_id
        )


def delivery_by_due(state: OrderState, settings: WatchSettings) -> datetime | None:
    """not_delivered is due at promised_delivery_by + delivery_grace, for an order the carrier holds.

    Without tracking we cannot know whether it arrived, so an order never scanned by a carrier
    is left to not_shipped.
    """
    promise = state.promised_delivery_by
    if promise is None or not any(s.shipped for s in state.shipments):
        return None
    if _emitted(state, "not_delivered", utc_iso(promise)):
        return None
    return promise + settings.delivery_grace


def fire_delivery_by(step: Step, now: datetime) -> None:
    state = step.state
    due = delivery_by_due(state, step.settings)
    if due is None or due > now or state.promised_delivery_by is None:
        return
    facts = {**tracking_facts(state), **eta_facts(state)}
    causes = [state.placed_event_id, *(s.event_id for s in state.shipments)]
    step.emit("not_delivered", utc_iso(state.promised_delivery_by), facts, causes, due)
