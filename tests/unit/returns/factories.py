"""Contract events for the return rules' tests, and a desk that plays the returns agent for them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    CloudEvent,
    EscalationOpenedData,
    IncidentDetectedData,
    IncidentResolvedData,
    make_event,
)
from services.common.deadlines import DeadlineIndex, DueEntry
from services.returns.rules import Deadline, Outcome, ReturnSettings, ReturnsState, on_deadline, on_event

__all__ = [
    "LABEL",
    "T0",
    "Desk",
    "label_scanned",
    "order_placed",
    "received",
    "refunded",
    "rejected",
    "requested",
]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""A Monday morning: the order is delivered here in most tests."""

STORE = "acme"
LABEL = "https://acme.example/returns/r-1/label.pdf"


def _event(type_: str, data: dict[str, Any], subject: str, time: datetime, event_id: str | None) -> CloudEvent:
    digest = hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:12]
    return make_event(
        type_, data, source=f"store/{STORE}", subject=subject, time=time, id=event_id or f"{type_}:{subject}:{digest}"
    )


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def order_placed(
    order_id: str = "o-1",
    *,
    at: datetime = T0 - timedelta(days=5),
    lines: tuple[tuple[str, str], ...] = (("BOOT-42", "Trail boots"),),
    store_id: str = STORE,
    event_id: str | None = None,
) -> CloudEvent:
    """An order placed at `at` (five days before T0 by default)."""
    data = {
        "order_id": order_id,
        "order_name": f"#{order_id.rsplit('-', 1)[-1]}",
        "store_id": store_id,
        "customer": {
            "id": "cus-1",
            "first_name": "Ada",
            "email": "ada@example.com",
            "phone": "+4915112345678",
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
        },
        "lines": [
            {"sku": sku, "product_name": name, "quantity": 1, "unit_price": _money("80.00")} for sku, name in lines
        ],
        "total": _money(f"{80 * len(lines)}.00"),
        "shipping_method": "standard",
        "placed_at": at,
        "promised_ship_by": at + timedelta(days=1),
        "promised_delivery_by": at + timedelta(days=4),
        "order_status_url": f"https://{STORE}.example/orders/{order_id}",
    }
    return _event("order.placed", data, order_id, at, event_id)


def requested(
    at: datetime,
    order_id: str = "o-1",
    *,
    return_id: str = "r-1",
    delivered_at: datetime | None = T0,
    window_ends_at: datetime | None = None,
    label_url: str | None = LABEL,
    product: str = "Trail boots",
    event_id: str | None = None,
) -> CloudEvent:
    """A return requested at `at` for an order delivered at `delivered_at`."""
    data = {
        "return_id": return_id,
        "order_id": order_id,
        "customer_id": "cus-1",
        "lines": [{"sku": "BOOT-42", "product_name": product, "quantity": 1}],
        "reason": "size_too_small",
        "refund_amount": _money("80.00"),
        "requested_at": at,
        "order_delivered_at": delivered_at,
        "return_window_ends_at": window_ends_at,
        "label_url": label_url,
    }
    return _event("return.requested", data, order_id, at, event_id)


def label_scanned(at: datetime, order_id: str = "o-1", *, return_id: str = "r-1") -> CloudEvent:
    data = {"return_id": return_id, "order_id": order_id, "carrier": "dhl", "tracking_number": "RT1", "scanned_at": at}
    return _event("return.label_scanned", data, order_id, at, None)


def received(
    at: datetime, order_id: str = "o-1", *, return_id: str = "r-1", amount: str | None = "80.00",
    event_id: str | None = None,
) -> CloudEvent:
    """The return parcel arrived at `at`."""
    data = {
        "return_id": return_id,
        "order_id": order_id,
        "customer_id": "cus-1",
        "refund_amount": _money(amount) if amount else None,
        "received_at": at,
    }
    return _event("return.received", data, order_id, at, event_id)


def refunded(
    at: datetime, order_id: str = "o-1", *, return_id: str | None = "r-1", refund_id: str = "re-1",
    expected_by: datetime | None = None,
) -> CloudEvent:
    """A refund of 80 EUR to the original payment, issued at `at`."""
    data = {
        "refund_id": refund_id,
        "return_id": return_id,
        "order_id": order_id,
        "customer_id": "cus-1",
        "amount": _money("80.00"),
        "method": "original_payment",
        "issued_at": at,
        "expected_by": expected_by,
    }
    return _event("refund.issued", data, order_id, at, None)


def rejected(at: datetime, order_id: str = "o-1", *, return_id: str = "r-1") -> CloudEvent:
    data = {
        "return_id": return_id,
        "order_id": order_id,
        "customer_id": "cus-1",
        "reason": "used_item",
        "reason_text": "The boots show signs of wear.",
        "rejected_at": at,
    }
    return _event("return.rejected", data, order_id, at, None)


@dataclass
class Desk:
    """Plays the returns agent on one partition: the states, the real DeadlineIndex over a dict, ticks.

    Each state goes through JSON between steps, as the agent's table does. It also checks the
    contract every consumer relies on: an incident id is published once, a resolution only ever
    withdraws a published incident, once, and an escalation is opened once; and every payload
    makes a valid event with the topic key as subject.
    """

    settings: ReturnSettings = field(default_factory=ReturnSettings)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    table: dict[str, Any] = field(default_factory=dict)
    incidents: list[IncidentDetectedData] = field(default_factory=list)
    resolutions: list[IncidentResolvedData] = field(default_factory=list)
    escalations: list[EscalationOpenedData] = field(default_factory=list)

    @property
    def index(self) -> DeadlineIndex:
        return DeadlineIndex(self.table)

    def state(self, order_id: str = "o-1") -> ReturnsState | None:
        raw = self.states.get(order_id)
        return ReturnsState.model_validate(raw) if raw is not None else None

    def feed(self, *events: CloudEvent) -> Desk:
        """Process events in this arrival order."""
        for event in events:
            self._apply(event.subject, on_event(self.state(event.subject), event, self.settings))
        return self

    def tick(self, now: datetime) -> Desk:
        """One tick at `now`: fire every deadline due by then."""
        for entry in self.index.pop_due(0, now):
            state = self.state(entry.ref)
            if state is not None:
                deadline = Deadline(entry.due, entry.kind, entry.ref)
                self._apply(entry.ref, on_deadline(state, deadline, now, self.settings))
        return self

    def run(self, until: datetime, *, start: datetime = T0, every: timedelta = timedelta(hours=1)) -> Desk:
        """Tick every `every` from `start` to `until`."""
        at = start
        while at <= until:
            self.tick(at)
            at += every
        return self

    def kinds(self) -> list[str]:
        return [i.kind for i in self.incidents]

    def of(self, kind: str) -> list[IncidentDetectedData]:
        return [i for i in self.incidents if i.kind == kind]

    def _apply(self, order_id: str, outcome: Outcome) -> None:
        published = {i.incident_id for i in self.incidents}
        for incident in outcome.incidents:
            assert incident.incident_id not in published, f"{incident.kind} published twice"
            make_event("incident.detected", incident, source="forewarn/returns", subject=incident.customer.id,
                       time=incident.detected_at, id=incident.incident_id)
            published.add(incident.incident_id)
            self.incidents.append(incident)
        withdrawn = {r.incident_id for r in self.resolutions}
        for resolution in outcome.resolutions:
            assert resolution.incident_id in published, "withdrew an incident never published"
            assert resolution.incident_id not in withdrawn, "withdrew an incident twice"
            withdrawn.add(resolution.incident_id)
            self.resolutions.append(resolution)
        opened = {e.escalation_id for e in self.escalations}
        for case in outcome.escalations:
            assert case.escalation_id not in opened, "escalation opened twice"
            make_event("escalation.opened", case, source="forewarn/returns", subject=case.customer_id,
                       time=case.opened_at, id=case.escalation_id)
            opened.add(case.escalation_id)
            self.escalations.append(case)
        index = self.index
        for deadline in outcome.cancel:
            index.cancel(0, DueEntry(deadline.due, deadline.order_id, deadline.kind))
        for deadline in outcome.schedule:
            index.schedule(0, DueEntry(deadline.due, deadline.order_id, deadline.kind))
        if outcome.state is None:
            self.states.pop(order_id, None)
        else:
            self.states[order_id] = outcome.state.model_dump(mode="json", exclude_defaults=True)
