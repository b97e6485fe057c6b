"""The order and stock rules are pure: the state passed in is the same after the call, whatever the rule did."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import CustomerRef
from services.order_watcher.rules import (
    DemandChange,
    OrderState,
    SkuDemand,
    WatchSettings,
    on_deadline,
    on_demand,
    on_event,
    on_stock,
    overdue_now,
)
from services.order_watcher.rules.orders import pending_deadlines
from tests.support.purity import fire_due, unchanged
from tests.unit.order_watcher.factories import T0, stock_changed
from tests.unit.order_watcher.test_order_properties import FINAL, Topics, interleaving, order_story, with_duplicates

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
SETTINGS = WatchSettings()
SKU = "MUG-BLUE"


def fire_all(state: OrderState, now: datetime) -> OrderState | None:
    """Fire every deadline of `state` due by `now`, and everything overdue at once, each on the same input."""
    unchanged(overdue_now, state, now, SETTINGS)
    return fire_due(pending_deadlines, on_deadline, state, now, SETTINGS)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), topics=order_story())
def test_order_rules_leave_their_input_state_unchanged(data: st.DataObject, topics: Topics) -> None:
    state: OrderState | None = None
    for event in data.draw(interleaving(topics).flatmap(with_duplicates)):
        state = unchanged(on_event, state, event, SETTINGS).state
        if state is not None and state.placed:
            fired = fire_all(state, event.time)
            state = fired if fired is not None else state
    if state is not None and state.placed:
        fire_all(state, FINAL)


def _customer(n: int) -> CustomerRef:
    return CustomerRef(id=f"cus-{n}", first_name="Ada", email=f"ada{n}@example.com")


def _change(kind: str, n: int, at_hours: int, quantity: int) -> DemandChange:
    at = T0 + at_hours * H
    if kind == "placed":
        return DemandChange(change="placed", event_id=f"placed-{n}", time=at, sku=SKU, order_id=f"o-{n}",
                            quantity=quantity, placed_at=at, customer=_customer(n), store_id="acme",
                            product_name="Blue enamel mug")
    return DemandChange(change=kind, event_id=f"{kind}-{n}", time=at, sku=SKU, order_id=f"o-{n}")  # type: ignore[arg-type]


steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["placed", "placed", "cancelled", "fulfilled"]), st.integers(1, 6),
                  st.integers(0, 48), st.integers(1, 3)),
        st.tuples(st.just("stock"), st.integers(0, 10), st.integers(0, 48), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(story=steps)
def test_stock_rules_leave_their_input_demand_unchanged(story: list[tuple[str, int, int, int]]) -> None:
    demand: SkuDemand | None = None
    for kind, number, at_hours, quantity in story:
        if kind == "stock":
            event = stock_changed(number, T0 + at_hours * H)
            outcome = unchanged(on_stock, demand, event, SETTINGS)
        else:
            change = _change(kind, number, at_hours, quantity)
            outcome = unchanged(on_demand, demand, change, SETTINGS)
        demand = outcome.demand


def test_a_stockout_marks_the_new_demand_and_not_the_one_passed_in() -> None:
    placed = on_demand(None, _change("placed", 1, 0, 2), SETTINGS).demand
    outcome = on_stock(placed, stock_changed(1, T0 + H), SETTINGS)
    assert [i.order_id for i in outcome.incidents] == ["o-1"]
    assert [line.short for line in outcome.demand.lines] == [True]
    assert [line.short for line in placed.lines] == [False]
    assert placed.available is None and outcome.demand.available == 1
