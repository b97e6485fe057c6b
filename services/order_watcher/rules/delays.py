"""Shipment facts for delay detection: the latest carrier word per shipment, and the order's ETA."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Final

from schemas import ShipmentUpdated
from services.order_watcher.rules.state import POSSESSION, OrderState, ShipmentFacts

__all__ = ["POSSESSION", "STALL_STATUSES", "apply_shipment", "local_date", "order_eta"]

STALL_STATUSES: Final = frozenset({"in_transit", "out_for_delivery", "attempt_failed"})
"""Statuses in which silence from the carrier means the parcel is stuck."""


def apply_shipment(state: OrderState, event: ShipmentUpdated, limit: int) -> ShipmentFacts | None:
    """Fold a carrier update into the state; None when the order already tracks `limit` other shipments.

    The latest checkpoint (by checkpoint time, then event id) sets status and tracking; a stale
    update still counts for the facts that only ever grow: shipped, delivered, and (in the
    caller) a carrier exception it reports.
    """
    data = event.data
    shipment = state.shipment(data.shipment_id)
    if shipment is None:
        if len(state.shipments) >= limit:
            return None
        shipment = ShipmentFacts(
            shipment_id=data.shipment_id,
            carrier=data.carrier,
            tracking_number=data.tracking_number,
            tracking_url=data.tracking_url,
            status=data.status,
            checkpoint_time=data.checkpoint_time,
            event_id=event.id,
        )
        state.shipments.append(shipment)
    elif (data.checkpoint_time, event.id) > (shipment.checkpoint_time, shipment.event_id):
        shipment.carrier = data.carrier
        shipment.tracking_number = data.tracking_number
        shipment.tracking_url = data.tracking_url or shipment.tracking_url
        shipment.status = data.status
        shipment.checkpoint_time = data.checkpoint_time
        shipment.event_id = event.id
    if data.estimated_delivery is not None:
        newest = shipment.eta_checkpoint is None or shipment.eta is None
        if not newest and shipment.eta_checkpoint is not None and shipment.eta is not None:
            newest = (data.checkpoint_time, data.estimated_delivery) > (shipment.eta_checkpoint, shipment.eta)
        if newest:
            shipment.eta = data.estimated_delivery
            shipment.eta_checkpoint = data.checkpoint_time
    if data.status in POSSESSION:
        shipment.shipped = True
    if data.status == "delivered":
        shipment.delivered_at = min(filter(None, [shipment.delivered_at, data.checkpoint_time]))
    return shipment


def order_eta(state: OrderState) -> datetime | None:
    """When the order should arrive: the latest ETA among its shipments still on the way."""
    etas = [s.eta for s in state.shipments if s.delivered_at is None and s.eta is not None]
    return max(etas) if etas else None


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
