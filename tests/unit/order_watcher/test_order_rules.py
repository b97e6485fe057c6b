"""Per-order rules, scenario by scenario: what is published, what is withdrawn, what stays live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from schemas import CloudEvent
from tests.unit.order_watcher.factories import (
    T0,
    Watcher,
    backordered,
    cancelled,
    declined,
    fulfilled,
    order_placed,
    shipment,
    succeeded,
)

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
D = timedelta(days=1)
SHIP_BY = T0 + D  # promised_ship_by of the default order
DELIVER_BY = T0 + 4 * D  # promised_delivery_by of the default order
END = T0 + 60 * D


@dataclass(frozen=True)
class Case:
    """Events (or a datetime: advance the clock to it), then what must have been published."""

    name: str
    steps: tuple[CloudEvent | datetime, ...]
    published: tuple[str, ...]
    withdrawn: tuple[tuple[str, str], ...] = ()  # (kind, reason)


def _on_time(*extra: CloudEvent | datetime) -> tuple[CloudEvent | datetime, ...]:
    """An order that ships and arrives as promised, plus `extra` steps."""
    return (
        order_placed(),
        shipment("label_created", T0 + 2 * H),
        shipment("in_transit", T0 + 6 * H, eta=T0 + 3 * D),
        *extra,
    )


CASES = [
    Case("on time: nothing", (*_on_time(shipment("delivered", T0 + 3 * D)), END), ()),
    Case("label only, ship-by passes: not_shipped", (order_placed(), shipment("label_created", T0 + H), END),
         ("not_shipped",)),
    Case("ship-by within grace: nothing yet", (order_placed(), SHIP_BY + H + 59 * timedelta(minutes=1)), ()),
    Case("ship-by plus grace: not_shipped", (order_placed(), SHIP_BY + 2 * H), ("not_shipped",)),
    Case("shipped late withdraws not_shipped",
         (order_placed(), SHIP_BY + 3 * H, shipment("in_transit", SHIP_BY + 4 * H),
          shipment("delivered", T0 + 3 * D), END),
         ("not_shipped",), (("not_shipped", "shipped"),)),
    Case("fulfilled withdraws not_shipped; no tracking, no not_delivered",
         (order_placed(), SHIP_BY + 3 * H, fulfilled(SHIP_BY + 4 * H), END),
         ("not_shipped",), (("not_shipped", "shipped"),)),
    Case("tracking stalls after 48 h",
         (*_on_time(), T0 + 6 * H + 47 * H), ()),
    Case("tracking stalled, then the parcel moves",
         (*_on_time(T0 + 6 * H + 48 * H, shipment("in_transit", T0 + 3 * D, eta=T0 + 3 * D + 6 * H)),
          shipment("delivered", T0 + 3 * D + 6 * H), END),
         ("tracking_stalled",), (("tracking_stalled", "tracking_resumed"),)),
    Case("each checkpoint restarts the stall clock",
         (order_placed(deliver_by=10 * D), shipment("in_transit", T0 + 6 * H), shipment("in_transit", T0 + 40 * H),
          shipment("out_for_delivery", T0 + 80 * H), T0 + 80 * H + 47 * H),
         ()),
    Case("stalled twice: a new incident per silence",
         (*_on_time(T0 + 3 * D, shipment("in_transit", T0 + 3 * D + H, eta=T0 + 3 * D + 6 * H)), T0 + 6 * D),
         ("tracking_stalled", "not_delivered", "tracking_stalled"), (("tracking_stalled", "tracking_resumed"),)),
    Case("carrier exception: one incident per shipment and reason",
         (*_on_time(shipment("exception", T0 + D, reason="weather"),
                    shipment("exception", T0 + D + H, reason="weather"),
                    shipment("exception", T0 + D + 2 * H, reason="customs")),),
         ("delivery_exception", "delivery_exception")),
    Case("delivery withdraws every delay incident",
         (*_on_time(shipment("exception", T0 + D, reason="weather", eta=T0 + 6 * D)), DELIVER_BY + H,
          shipment("delivered", T0 + 5 * D), END),
         ("delivery_exception", "eta_slipped", "not_delivered"),
         (("delivery_exception", "delivered"), ("eta_slipped", "delivered"), ("not_delivered", "delivered"))),
    Case("returned to sender is a delivery exception",
         (*_on_time(shipment("returned_to_sender", T0 + 2 * D)),), ("delivery_exception",)),
    Case("ETA change within the promise: nothing",
         (*_on_time(shipment("in_transit", T0 + D, eta=DELIVER_BY - H), shipment("in_transit", T0 + 2 * D,
                                                                                  eta=DELIVER_BY)),),
         ()),
    Case("ETA slips past the promise",
         (*_on_time(shipment("in_transit", T0 + D, eta=DELIVER_BY + D)),), ("eta_slipped",)),
    Case("ETA slips again the same day: no new incident",
         (*_on_time(shipment("in_transit", T0 + D, eta=DELIVER_BY + D),
                    shipment("in_transit", T0 + D + H, eta=DELIVER_BY + D + 3 * H)),),
         ("eta_slipped",)),
    Case("ETA slips a further day: new incident supersedes the last",
         (*_on_time(shipment("in_transit", T0 + D, eta=DELIVER_BY + D),
                    shipment("in_transit", T0 + 2 * D, eta=DELIVER_BY + 2 * D)),),
         ("eta_slipped", "eta_slipped"), (("eta_slipped", "superseded"),)),
    Case("ETA earlier but still late: no new incident",
         (*_on_time(shipment("in_transit", T0 + D, eta=DELIVER_BY + 3 * D),
                    shipment("in_transit", T0 + 2 * D, eta=DELIVER_BY + D)),),
         ("eta_slipped",)),
    Case("ETA back within the promise withdraws eta_slipped",
         (*_on_time(shipment("in_transit", T0 + D, eta=DELIVER_BY + D),
                    shipment("in_transit", T0 + 2 * D, eta=DELIVER_BY - 2 * H)),),
         ("eta_slipped",), (("eta_slipped", "eta_within_promise"),)),
    Case("not delivered by the promise",
         (*_on_time(), DELIVER_BY), ("tracking_stalled", "not_delivered")),
    Case("backordered line: incident at once",
         (order_placed(), backordered(T0 + H, restock_eta=T0 + 10 * D)), ("backordered",)),
    Case("fulfilled withdraws backordered",
         (order_placed(), backordered(T0 + H), fulfilled(T0 + 5 * H)), ("backordered",),
         (("backordered", "fulfilled"),)),
    Case("cancelled order: incidents withdrawn, no further deadlines",
         (order_placed(), SHIP_BY + 3 * H, cancelled(SHIP_BY + 4 * H), END), ("not_shipped",),
         (("not_shipped", "order_cancelled"),)),
    Case("cancelled before anything is due: nothing",
         (order_placed(), cancelled(T0 + H), END), ()),
    Case("false decline after the window",
         (order_placed(), declined(T0 + 5 * timedelta(minutes=1)), T0 + 20 * timedelta(minutes=1)),
         ("false_decline",)),
    Case("payment succeeds within the window: nothing",
         (order_placed(), declined(T0), succeeded(T0 + 10 * timedelta(minutes=1)), T0 + H), ()),
    Case("payment succeeds after the window: false_decline withdrawn",
         (order_placed(), declined(T0), T0 + 16 * timedelta(minutes=1), succeeded(T0 + H)),
         ("false_decline",), (("false_decline", "payment_succeeded"),)),
    Case("several likely-false declines: one incident per order",
         (order_placed(), declined(T0), declined(T0 + 2 * timedelta(minutes=1), payment_id="pay-2"),
          T0 + H, declined(T0 + 2 * H, payment_id="pay-3"), T0 + 3 * H),
         ("false_decline",)),
    Case("insufficient funds: never", (order_placed(), declined(T0, code="insufficient_funds"), T0 + H), ()),
    Case("fraudulent: never", (order_placed(), declined(T0, code="fraudulent"), T0 + H), ()),
    Case("highest risk: never", (order_placed(), declined(T0, risk_level="highest"), T0 + H), ()),
    Case("our block at normal risk: likely false",
         (order_placed(), declined(T0, code="generic_decline", outcome_type="blocked"), T0 + H), ("false_decline",)),
    Case("our block at elevated risk: nothing",
         (order_placed(), declined(T0, outcome_type="blocked", risk_level="elevated"), T0 + H), ()),
    Case("first-time customer: not in good standing",
         (order_placed(paid_orders=0), declined(T0), T0 + H), ()),
    Case("unknown order history: not in good standing",
         (order_placed(paid_orders=None), declined(T0), T0 + H), ()),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rule(case: Case) -> None:
    watcher = Watcher()
    for step in case.steps:
        if isinstance(step, datetime):
            watcher.advance(step)
        else:
            watcher.feed(step)
    assert watcher.kinds == list(case.published)
    withdrawn = sorted((r.kind, r.reason) for r in watcher.resolutions)
    assert withdrawn == sorted(case.withdrawn)
