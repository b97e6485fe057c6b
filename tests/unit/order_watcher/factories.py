"""Contract events for order_watcher's rule tests, and a small caller that fires deadlines like the agent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from schemas import CloudEvent, IncidentDetectedData, IncidentResolvedData, StockChanged, make_event
from services.order_watcher.rules import Deadline, OrderState, WatchSettings, on_deadline, on_event, overdue_now

__all__ = [
    "T0",
    "Watcher",
    "backordered",
    "cancelled",
    "declined",
    "fulfilled",
    "order_placed",
    "shipment",
    "stock_changed",
    "succeeded",
]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""A Monday morning: the order is placed here in most tests."""

STORE = "acme"


def _event(type_: str, data: dict[str, Any], subject: str, time: datetime, event_id: str | None) -> CloudEvent:
    return make_event(
        type_,
        data,
        source=f"store/{STORE}",
        subject=subject,
        time=time,
        id=event_id or f"{type_}:{subject}:{hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:12]}",
    )


def order_placed(
    order_id: str = "o-1",
    *,
    at: datetime = T0,
    ship_by: timedelta = timedelta(days=1),
    deliver_by: timedelta = timedelta(days=4),
    paid_orders: int | None = 2,
    lines: tuple[tuple[str, str, int], ...] = (("MUG-BLUE", "Blue enamel mug", 1),),
    customer_id: str = "cus-1",
    timezone: str | None = "Europe/Berlin",
    total: str = "25.00",
    store_id: str = STORE,
    event_id: str | None = None,
) -> CloudEvent:
    """An order placed at `at`, promised to ship within `ship_by` and arrive within `deliver_by`."""
    data = {
        "order_id": order_id,
        "order_name": f"#{order_id.rsplit('-', 1)[-1]}",
        "store_id": store_id,
        "customer": {
            "id": customer_id,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "phone": "+4915112345678",
            "locale": "de-DE",
            "timezone": timezone,
        },
        "lines": [
            {"sku": sku, "product_name": name, "quantity": qty, "unit_price": {"amount": "12.50", "currency": "EUR"}}
            for sku, name, qty in lines
        ],
        "total": {"amount": total, "currency": "EUR"},
        "shipping_method": "standard",
        "placed_at": at,
        "promised_ship_by": at + ship_by,
        "promised_delivery_by": at + deliver_by,
        "customer_paid_orders_count": paid_orders,
        "order_status_url": f"https://{STORE}.example/orders/{order_id}",
    }
    return _event("order.placed", data, order_id, at, event_id)


def shipment(
    status: str,
    at: datetime,
    order_id: str = "o-1",
    *,
    shipment_id: str = "sh-1",
    reason: str | None = None,
    eta: datetime | None = None,
    eta_date: date | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """A carrier checkpoint at `at` (event time and checkpoint time alike); `eta_date`: a date alone."""
    if eta_date is not None:  # as the gateway maps a bare date: the end of that day in UTC, and the date
        eta = datetime.combine(eta_date, time(23, 59, 59), UTC)
    data = {
        "order_id": order_id,
        "shipment_id": shipment_id,
        "carrier": "dhl",
        "tracking_number": "JD014600006281",
        "tracking_url": "https://track.example/JD014600006281",
        "status": status,
        "exception_reason": reason,
        "estimated_delivery": eta,
        "estimated_delivery_date": eta_date,
        "checkpoint_time": at,
        "checkpoint_location": "Leipzig",
    }
    return _event("shipment.updated", data, order_id, at, event_id)


def declined(
    at: datetime,
    order_id: str = "o-1",
    *,
    code: str = "do_not_honor",
    outcome_type: str = "issuer_declined",
    risk_level: str = "normal",
    payment_id: str = "pay-1",
    retry_url: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    data = {
        "order_id": order_id,
        "payment_id": payment_id,
        "amount": {"amount": "25.00", "currency": "EUR"},
        "attempt": 1,
        "decline_code": code,
        "outcome_type": outcome_type,
        "network_status": "declined_by_network",
        "risk_level": risk_level,
        "customer_id": "cus-1",
        "retry_url": retry_url,
        "declined_at": at,
    }
    return _event("payment.declined", data, order_id, at, event_id)


def succeeded(at: datetime, order_id: str = "o-1", *, payment_id: str = "pay-1") -> CloudEvent:
    data = {
        "order_id": order_id,
        "payment_id": payment_id,
        "amount": {"amount": "25.00", "currency": "EUR"},
        "customer_id": "cus-1",
        "succeeded_at": at,
    }
    return _event("payment.succeeded", data, order_id, at, None)


def cancelled(at: datetime, order_id: str = "o-1") -> CloudEvent:
    data = {"order_id": order_id, "reason": "customer", "cancelled_at": at}
    return _event("order.cancelled", data, order_id, at, None)


def fulfilled(at: datetime, order_id: str = "o-1") -> CloudEvent:
    return _event("order.fulfilled", {"order_id": order_id, "fulfilled_at": at}, order_id, at, None)


def backordered(
    at: datetime, order_id: str = "o-1", *, sku: str = "MUG-BLUE", restock_eta: datetime | None = None
) -> CloudEvent:
    data = {
        "order_id": order_id,
        "sku": sku,
        "product_name": "Blue enamel mug",
        "quantity": 1,
        "restock_eta": restock_eta,
    }
    return _event("order.line_backordered", data, order_id, at, None)


def stock_changed(
    available: int, at: datetime, *, sku: str = "MUG-BLUE", restock_eta: datetime | None = None
) -> StockChanged:
    data = {"sku": sku, "available": available, "restock_eta": restock_eta, "changed_at": at}
    event = _event("stock.changed", data, sku, at, None)
    assert isinstance(event, StockChanged)
    return event


@dataclass
class Watcher:
    """Plays the agent for one order: keeps the state and a deadline index, fires what is due.

    It also checks the contract every caller relies on: an incident id is published once, and a
    resolution only ever withdraws a published incident, once.
    """

    settings: WatchSettings = field(default_factory=WatchSettings)
    state: OrderState | None = None
    index: dict[str, Deadline] = field(default_factory=dict)
    clock: datetime | None = None
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)
    fire_as_clock_moves: bool = True
    use_overdue_now: bool = False

    def feed(self, *events: CloudEvent) -> Watcher:
        """Process events in this arrival order; the stream clock is the latest event time seen."""
        for event in events:
            self._apply(on_event(self.state, event, self.settings))
            self.clock = max(filter(None, [self.clock, event.time]))
            if self.use_overdue_now and self.state is not None and self.clock is not None:
                self._apply(overdue_now(self.state, self.clock, self.settings))
            if self.fire_as_clock_moves:
                self.advance(self.clock)
        return self

    def advance(self, now: datetime) -> Watcher:
        """Fire every deadline due at or before `now`, earliest first, as ticks would."""
        while self.state is not None:
            due = sorted(d for d in self.index.values() if d.due <= now)
            if not due:
                break
            deadline = due[0]
            del self.index[deadline.key()]
            self._apply(on_deadline(self.state, deadline, now, self.settings))
        return self

    def _apply(self, outcome: Any) -> None:
        published = {i.incident_id for i in self.incidents}
        withdrawn = {r.incident_id for r in self.resolutions}
        for incident in outcome.incidents:
            assert incident.incident_id not in published, f"incident {incident.kind} published twice"
            published.add(incident.incident_id)
        for resolution in outcome.resolutions:
            assert resolution.incident_id in published, "resolution of an incident never published"
            assert resolution.incident_id not in withdrawn, "incident withdrawn twice"
            withdrawn.add(resolution.incident_id)
        self.incidents.extend(outcome.incidents)
        self.resolutions.extend(outcome.resolutions)
        for deadline in outcome.cancel:
            if self.index.get(deadline.key()) == deadline:
                del self.index[deadline.key()]
        for deadline in outcome.schedule:
            self.index[deadline.key()] = deadline
        self.state = outcome.state

    @property
    def kinds(self) -> list[str]:
        """Kinds of every incident published so far, in order."""
        return [i.kind for i in self.incidents]

    @property
    def live(self) -> dict[str, str]:
        """Incidents published and not withdrawn: id -> kind."""
        withdrawn = {r.incident_id for r in self.resolutions}
        return {i.incident_id: i.kind for i in self.incidents if i.incident_id not in withdrawn}

    def resolved(self, kind: str) -> list[str]:
        """Reasons of the resolutions of one kind."""
        return [r.reason for r in self.resolutions if r.kind == kind]
