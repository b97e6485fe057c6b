"""Stockouts: open demand against stock, first come first served, one incident per order and episode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import CloudEvent
from services.order_watcher.rules import (
    DemandChange,
    OrderState,
    SkuDemand,
    StockOutcome,
    WatchSettings,
    demand_changes,
    on_demand,
    on_event,
    on_stock,
)
from tests.unit.order_watcher.factories import T0, cancelled, fulfilled, order_placed, shipment, stock_changed

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
SETTINGS = WatchSettings()
SKU = "MUG-BLUE"


class Shelf:
    """Plays the SKU-keyed agent: demand changes and stock events in, incidents out."""

    def __init__(self) -> None:
        self.demand: SkuDemand | None = None
        self.incidents: list[str] = []  # order ids with a stockout published, in order
        self.ids: list[str] = []
        self.resolved: list[tuple[str | None, str]] = []

    def _take(self, outcome: StockOutcome) -> None:
        self.demand = outcome.demand
        self.incidents += [i.order_id or "" for i in outcome.incidents]
        self.ids += [i.incident_id for i in outcome.incidents]
        self.resolved += [(r.order_id, r.reason) for r in outcome.resolutions]

    def order(self, event: CloudEvent, state: OrderState | None = None) -> Shelf:
        for change in demand_changes(event, state):
            if change.sku == SKU:
                self._take(on_demand(self.demand, change, SETTINGS))
        return self

    def stock(self, available: int, at_hours: float) -> Shelf:
        self._take(on_stock(self.demand, stock_changed(available, T0 + at_hours * H), SETTINGS))
        return self


def five_orders() -> list[CloudEvent]:
    """Five orders of one unit, placed one hour apart (o-1 first), fed out of order."""
    events = [order_placed(f"o-{n}", at=T0 + n * H, customer_id=f"cus-{n}") for n in range(1, 6)]
    return [events[3], events[0], events[4], events[2], events[1]]


def test_the_orders_that_cannot_be_served_first_come_first_served_get_a_stockout() -> None:
    shelf = Shelf()
    for event in five_orders():
        shelf.order(event)
    assert shelf.incidents == []  # no stock level known yet
    shelf.stock(2, 10)
    assert sorted(shelf.incidents) == ["o-3", "o-4", "o-5"]


def test_stockout_carries_restock_date_and_choices() -> None:
    shelf = Shelf().order(order_placed())
    outcome = on_stock(shelf.demand, stock_changed(0, T0 + H, restock_eta=T0 + 240 * H), SETTINGS)
    (incident,) = outcome.incidents
    assert incident.kind == "stockout"
    assert incident.facts.restock_eta == T0 + 240 * H
    assert incident.facts.choices == ["wait", "refund", "substitute"]
    assert incident.facts.product_name == "Blue enamel mug"
    assert incident.customer.id == "cus-1"
    assert incident.store_id == "acme"
    assert incident.order_number == "#1"  # the store's own number, from order.placed's order_name


def test_one_incident_per_order_and_episode() -> None:
    shelf = Shelf()
    for event in five_orders():
        shelf.order(event)
    shelf.stock(2, 10).stock(1, 11).stock(2, 12)
    assert sorted(shelf.incidents) == ["o-2", "o-3", "o-4", "o-5"]  # o-2 lost its unit at 11h
    assert shelf.resolved == [("o-2", "stock_restored")]  # and got it back at 12h
    shelf.stock(1, 13)
    assert shelf.incidents.count("o-2") == 2  # a new episode, a new incident
    assert len(set(shelf.ids)) == len(shelf.ids)


def test_restock_resolves_in_queue_order() -> None:
    shelf = Shelf()
    for event in five_orders():
        shelf.order(event)
    shelf.stock(2, 10).stock(4, 20)
    assert shelf.resolved == [("o-3", "stock_restored"), ("o-4", "stock_restored")]


def test_a_larger_earlier_order_is_not_jumped_by_a_smaller_later_one() -> None:
    shelf = Shelf()
    shelf.order(order_placed("o-1", at=T0, lines=((SKU, "Blue enamel mug", 3),)))
    shelf.order(order_placed("o-2", at=T0 + H))
    shelf.stock(2, 5)
    assert sorted(shelf.incidents) == ["o-1", "o-2"]


def test_a_cancelled_order_frees_its_units_for_the_next_in_line() -> None:
    shelf = Shelf()
    for event in five_orders():
        shelf.order(event)
    shelf.stock(2, 10)
    state = on_event(None, order_placed("o-1", at=T0 + H, customer_id="cus-1"), SETTINGS).state
    shelf.order(cancelled(T0 + 11 * H, "o-1"), state)
    assert shelf.resolved == [("o-3", "stock_restored")]
    state5 = on_event(None, order_placed("o-5", at=T0 + 5 * H, customer_id="cus-5"), SETTINGS).state
    shelf.order(fulfilled(T0 + 12 * H, "o-5"), state5)
    assert shelf.resolved[-1] == ("o-5", "fulfilled")


def test_a_new_order_when_stock_is_short_gets_a_stockout_at_once() -> None:
    shelf = Shelf().stock(1, 0).order(order_placed("o-1", at=T0 + H))
    assert shelf.incidents == []
    shelf.order(order_placed("o-2", at=T0 + 2 * H))
    assert shelf.incidents == ["o-2"]


def test_duplicates_and_stale_stock_levels_are_ignored() -> None:
    shelf = Shelf().order(order_placed("o-1"))
    event = stock_changed(0, T0 + 2 * H)
    first = on_stock(shelf.demand, event, SETTINGS)
    again = on_stock(first.demand, event, SETTINGS)
    assert len(first.incidents) == 1
    assert again.incidents == [] and again.demand is first.demand
    stale = on_stock(first.demand, stock_changed(5, T0 + H), SETTINGS)
    assert stale.resolutions == [] and stale.demand.available == 0
    change = demand_changes(order_placed("o-1"), None)[0]
    assert on_demand(first.demand, change, SETTINGS).demand is first.demand


def test_a_closed_line_is_not_reopened_by_a_late_placement() -> None:
    placed = order_placed("o-1")
    state = on_event(None, placed, SETTINGS).state
    closing = demand_changes(cancelled(T0 + H, "o-1"), state)[0]
    demand = on_demand(None, closing, SETTINGS).demand
    demand = on_demand(demand, demand_changes(placed, None)[0], SETTINGS).demand
    assert demand.lines == []


def test_demand_changes_merge_lines_of_one_sku() -> None:
    placed = order_placed(lines=((SKU, "Blue enamel mug", 1), ("SAUCER", "Saucer", 2), (SKU, "Blue enamel mug", 2)))
    changes = demand_changes(placed, None)
    assert [(c.sku, c.quantity, c.change) for c in changes] == [(SKU, 3, "placed"), ("SAUCER", 2, "placed")]
    state = on_event(None, placed, SETTINGS).state
    assert [c.sku for c in demand_changes(fulfilled(T0 + H), state)] == [SKU, "SAUCER"]
    assert demand_changes(fulfilled(T0 + H), None) == []


def test_the_first_carrier_scan_closes_the_lines_once() -> None:
    placed = order_placed()
    before = on_event(None, placed, SETTINGS).state
    labelled = shipment("label_created", T0 + H)
    assert before is not None
    after_label = on_event(before, labelled, SETTINGS).state
    assert demand_changes(labelled, after_label, before) == []
    scanned = shipment("in_transit", T0 + 2 * H)
    after_scan = on_event(after_label, scanned, SETTINGS).state
    assert [(c.change, c.sku) for c in demand_changes(scanned, after_scan, after_label)] == [("fulfilled", SKU)]
    later = shipment("out_for_delivery", T0 + 3 * H)
    assert demand_changes(later, on_event(after_scan, later, SETTINGS).state, after_scan) == []


def test_an_order_closed_before_it_arrived_opens_no_demand() -> None:
    placed = order_placed()
    for early in (cancelled(T0 + H), fulfilled(T0 + H), shipment("in_transit", T0 + H)):
        held = on_event(None, early, SETTINGS).state
        assert demand_changes(early, held, None) == []  # nothing known of the order yet
        state = on_event(held, placed, SETTINGS).state
        assert demand_changes(placed, state, held) == []


def test_a_shipped_order_stops_waiting_for_stock() -> None:
    shelf = Shelf()
    state = None
    for n in (1, 2):
        event = order_placed(f"o-{n}", at=T0 + n * H, customer_id=f"cus-{n}")
        state = on_event(None, event, SETTINGS).state
        shelf.order(event)
    shelf.stock(1, 3)
    assert shelf.incidents == ["o-2"]
    scanned = shipment("in_transit", T0 + 4 * H, order_id="o-2")
    shipped = on_event(state, scanned, SETTINGS).state
    shelf.order(scanned, shipped)
    assert shelf.resolved == [("o-2", "fulfilled")]
    assert shelf.demand is not None and [ln.order_id for ln in shelf.demand.lines] == ["o-1"]


def test_demand_state_round_trips_through_json() -> None:
    shelf = Shelf()
    for event in five_orders():
        shelf.order(event)
    shelf.stock(2, 10)
    assert shelf.demand is not None
    restored = SkuDemand.model_validate_json(shelf.demand.model_dump_json(exclude_defaults=True))
    assert restored == shelf.demand
    assert DemandChange.model_validate_json(demand_changes(five_orders()[0], None)[0].model_dump_json())


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(range(1, 7)), available=st.integers(0, 8))
def test_who_is_short_does_not_depend_on_arrival_order(order: list[int], available: int) -> None:
    shelf = Shelf()
    for n in order:
        shelf.order(order_placed(f"o-{n}", at=T0 + n * H, customer_id=f"cus-{n}"))
    shelf.stock(available, 10)
    assert sorted(shelf.incidents) == [f"o-{n}" for n in range(available + 1, 7)]
