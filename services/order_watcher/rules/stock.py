"""Stockouts per SKU: open order lines against available units, allocated first come, first served."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PositiveInt

from schemas import (
    CloudEvent,
    CustomerRef,
    IncidentDetectedData,
    IncidentFacts,
    IncidentResolvedData,
    OrderCancelled,
    OrderFulfilled,
    OrderPlaced,
    ShipmentUpdated,
    StockChanged,
)
from services.common.drafts import draft
from services.common.ids import event_digest
from services.common.order_rules import build_incident, incident_id
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import OrderState

__all__ = [
    "DemandChange",
    "DemandLine",
    "SkuDemand",
    "StockOutcome",
    "demand_changes",
    "on_demand",
    "on_stock",
]

CLOSED_ORDERS_LIMIT = 256


class DemandChange(BaseModel):
    """One order's line for one SKU opened (placed) or closed (cancelled, fulfilled).

    The order agent builds these from order events (see `demand_changes`) and sends them keyed
    by SKU, so that all demand for a SKU meets its stock events in one partition.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    change: Literal["placed", "cancelled", "fulfilled"]
    event_id: str = Field(description="the order event it came from")
    time: AwareDatetime = Field(description="that event's time")
    sku: str
    order_id: str
    quantity: PositiveInt = 1
    placed_at: AwareDatetime | None = None
    customer: CustomerRef | None = None
    store_id: str | None = None
    product_name: str | None = None
    order_status_url: str | None = None
    order_number: str | None = None


class DemandLine(BaseModel):
    """An open, unfulfilled order line for the SKU; never changed in place, replaced by a changed copy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    quantity: int
    placed_at: AwareDatetime
    customer: CustomerRef
    store_id: str
    product_name: str
    order_status_url: str | None = None
    order_number: str | None = None
    event_id: str
    short: bool = Field(default=False, description="cannot be served from stock right now")
    episode: int = Field(default=0, description="stockout episodes so far; part of the incident id")


class SkuDemand(BaseModel):
    """Everything known about one SKU: open demand, the last stock level, and dedupe memory."""

    model_config = ConfigDict(extra="forbid")

    sku: str
    lines: list[DemandLine] = Field(default_factory=list)
    available: int | None = Field(default=None, description="None until a stock.changed arrives")
    changed_at: AwareDatetime | None = None
    restock_eta: AwareDatetime | None = None
    stock_event_id: str | None = None
    closed: list[str] = Field(
        default_factory=list, description="recently closed order ids, so a late line stays closed"
    )
    seen: list[str] = Field(default_factory=list)

    def draft(self) -> SkuDemand:
        """A copy a step may change without touching this one: new lists, the (immutable) lines shared."""
        return draft(self)


@dataclass(frozen=True)
class StockOutcome:
    """The new demand state and what to publish."""

    demand: SkuDemand
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)


def demand_changes(
    event: CloudEvent, state: OrderState | None, before: OrderState | None = None
) -> list[DemandChange]:
    """What an order event means for SKU demand.

    `state` is the order's state after the event (for its SKUs and whether it is still open),
    `before` its state before the event, where the caller has it. A line opens on order.placed
    unless the order is already cancelled, fulfilled or shipped (events held until the order
    arrived may have said so); it closes on order.cancelled or order.fulfilled, and when the
    carrier first takes the parcel (a shipped line no longer waits for stock). Without `before`
    a shipment update closes the order's lines whenever the order has shipped (harmless:
    `on_demand` ignores a line closed twice).
    """
    if isinstance(event, OrderPlaced):
        if state is not None and (state.cancelled_at or state.fulfilled_at or state.shipped):
            return []
        data = event.data
        merged: dict[str, tuple[int, str]] = {}
        for line in data.lines:
            qty, name = merged.get(line.sku, (0, line.product_name))
            merged[line.sku] = (qty + line.quantity, name)
        return [
            DemandChange(
                change="placed",
                event_id=event.id,
                time=event.time,
                sku=sku,
                order_id=data.order_id,
                quantity=qty,
                placed_at=data.placed_at,
                customer=data.customer,
                store_id=data.store_id,
                product_name=name,
                order_status_url=data.order_status_url,
                order_number=data.order_name,
            )
            for sku, (qty, name) in merged.items()
        ]
    if state is None:
        return []
    change: Literal["cancelled", "fulfilled"]
    if isinstance(event, OrderCancelled | OrderFulfilled):
        change = "cancelled" if isinstance(event, OrderCancelled) else "fulfilled"
    elif isinstance(event, ShipmentUpdated) and state.shipped and (before is None or not before.shipped):
        change = "fulfilled"
    else:
        return []
    return [
        DemandChange(change=change, event_id=event.id, time=event.time, sku=sku, order_id=state.order_id)
        for sku in state.skus
    ]


def _stockout_id(line: DemandLine, sku: str) -> str:
    return incident_id("stockout", line.order_id, f"{sku}#{line.episode}")


def _queue(demand: SkuDemand) -> list[DemandLine]:
    return sorted(demand.lines, key=lambda ln: (ln.placed_at, ln.order_id))


def _short_orders(demand: SkuDemand) -> set[str]:
    """Strict first come, first served by placed_at (then order id): once one order cannot be
    served in full, no later order jumps the queue. More stock never makes a new stockout."""
    if demand.available is None:
        return set()
    remaining, blocked, short = demand.available, False, set()
    for line in _queue(demand):
        if not blocked and line.quantity <= remaining:
            remaining -= line.quantity
        else:
            blocked = True
            short.add(line.order_id)
    return short


def _reconcile(demand: SkuDemand, at: datetime, cause_id: str) -> StockOutcome:
    if demand.available is None and not any(line.short for line in demand.lines):
        return StockOutcome(demand=demand)  # no stock level yet: nothing is short, and nothing was (no queue sorted)
    short = _short_orders(demand)
    incidents, resolutions = [], []
    changed: dict[str, DemandLine] = {}
    for queued in _queue(demand):
        if queued.order_id in short and not queued.short:
            line = changed[queued.order_id] = queued.model_copy(update={"short": True, "episode": queued.episode + 1})
            facts = IncidentFacts(
                product_name=line.product_name,
                sku=demand.sku,
                quantity=line.quantity,
                restock_eta=demand.restock_eta,
                order_status_url=line.order_status_url,
            )
            incidents.append(
                build_incident(
                    incident_id=_stockout_id(line, demand.sku),
                    kind="stockout",
                    order_id=line.order_id,
                    order_number=line.order_number,
                    store_id=line.store_id,
                    customer=line.customer,
                    facts=facts,
                    cause_event_ids=[cause_id, line.event_id],
                    detected_at=at,
                )
            )
        elif queued.order_id not in short and queued.short:
            line = changed[queued.order_id] = queued.model_copy(update={"short": False})
            resolutions.append(_resolution(line, demand.sku, "stock_restored", at))
    if changed:
        demand.lines = [changed.get(line.order_id, line) for line in demand.lines]
    return StockOutcome(demand=demand, incidents=incidents, resolutions=resolutions)


def _resolution(line: DemandLine, sku: str, reason: str, at: datetime) -> IncidentResolvedData:
    return IncidentResolvedData(
        incident_id=_stockout_id(line, sku),
        kind="stockout",
        order_id=line.order_id,
        customer_id=line.customer.id,
        reason=reason,
        resolved_at=at,
    )


def _remember(ids: Sequence[str], new: str, limit: int) -> list[str]:
    return [*ids, new][-limit:]


def on_demand(demand: SkuDemand | None, change: DemandChange, settings: WatchSettings) -> StockOutcome:
    """An order line for the SKU opened or closed; a duplicate change has no effect."""
    current = demand if demand is not None else SkuDemand(sku=change.sku)
    digest = event_digest(change.event_id)
    if digest in current.seen:
        return StockOutcome(demand=current)
    work = current.draft()
    work.seen = _remember(work.seen, digest, settings.seen_ids_limit)
    resolutions: list[IncidentResolvedData] = []
    existing = next((ln for ln in work.lines if ln.order_id == change.order_id), None)
    if change.change == "placed":
        if existing is not None or change.order_id in work.closed:
            return StockOutcome(demand=work)
        if change.placed_at is None or change.customer is None or change.store_id is None:
            return StockOutcome(demand=work)  # a placed change always carries these; nothing to track without
        work.lines.append(
            DemandLine(
                order_id=change.order_id,
                quantity=change.quantity,
                placed_at=change.placed_at,
                customer=change.customer,
                store_id=change.store_id,
                product_name=change.product_name or change.sku,
                order_status_url=change.order_status_url,
                order_number=change.order_number,
                event_id=change.event_id,
            )
        )
    else:
        if change.order_id not in work.closed:
            work.closed = _remember(work.closed, change.order_id, CLOSED_ORDERS_LIMIT)
        if existing is None:
            return StockOutcome(demand=work)
        work.lines.remove(existing)
        if existing.short:
            reason = "order_cancelled" if change.change == "cancelled" else "fulfilled"
            resolutions.append(_resolution(existing, work.sku, reason, change.time))
    outcome = _reconcile(work, change.time, change.event_id)
    return StockOutcome(demand=work, incidents=outcome.incidents, resolutions=resolutions + outcome.resolutions)


def on_stock(demand: SkuDemand | None, event: StockChanged, settings: WatchSettings) -> StockOutcome:
    """A new stock level for the SKU: orders that cannot be served get a stockout, once per episode."""
    current = demand if demand is not None else SkuDemand(sku=event.data.sku)
    digest = event_digest(event.id)
    if digest in current.seen:
        return StockOutcome(demand=current)
    work = current.draft()
    work.seen = _remember(work.seen, digest, settings.seen_ids_limit)
    data = event.data
    if work.changed_at is not None and data.changed_at < work.changed_at:
        return StockOutcome(demand=work)  # an older level than the one we hold
    work.available = data.available
    work.changed_at = data.changed_at
    work.restock_eta = data.restock_eta
    work.stock_event_id = event.id
    return _reconcile(work, event.time, event.id)
