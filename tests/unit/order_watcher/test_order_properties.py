"""Properties of the per-order rules: arrival order, duplicates and replays do not change the outcome."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import CloudEvent
from services.order_watcher.rules import OrderState
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
MINUTE = timedelta(minutes=1)
FINAL = T0 + timedelta(days=15)  # past every promise and deadline, before any state is forgotten
STATUSES = ["label_created", "in_transit", "in_transit", "out_for_delivery", "attempt_failed", "exception", "delivered"]
REASONS = ["weather", "customs", "lost", "carrier_delay"]
CODES = ["do_not_honor", "generic_decline", "insufficient_funds", "fraudulent", "try_again_later"]

Topics = dict[str, list[CloudEvent]]


@st.composite
def order_story(draw: st.DrawFn, *, shipments: int = 2, monotone_eta: bool = False) -> Topics:
    """One order's events per topic, each topic in its own (event time) order; all within 6 days of T0."""
    ship_by = draw(st.integers(2, 48)) * H
    placed = order_placed(
        ship_by=ship_by,
        deliver_by=ship_by + draw(st.integers(24, 72)) * H,
        paid_orders=draw(st.sampled_from([3, 1, 0, None])),
    )
    orders: list[CloudEvent] = [placed]
    if draw(st.booleans()):
        orders.append(backordered(T0 + draw(st.integers(1, 30)) * H, restock_eta=T0 + timedelta(days=9)))
    ending = draw(st.sampled_from([None, None, "cancelled", "fulfilled"]))
    if ending is not None:
        at = T0 + draw(st.integers(31, 120)) * H
        orders.append(cancelled(at) if ending == "cancelled" else fulfilled(at))

    carrier: list[CloudEvent] = []
    for number in range(draw(st.integers(0, shipments))):
        at = T0 + draw(st.integers(1, 40)) * H
        etas = sorted(draw(st.lists(st.integers(40, 200), min_size=6, max_size=6)))
        for step in range(draw(st.integers(1, 5))):
            status = draw(st.sampled_from(STATUSES))
            reason = draw(st.sampled_from(REASONS)) if status == "exception" else None
            eta_h = etas[step] if monotone_eta else draw(st.integers(40, 200))
            eta = T0 + eta_h * H if draw(st.booleans()) else None
            carrier.append(shipment(status, at, shipment_id=f"sh-{number}", reason=reason, eta=eta))
            at += draw(st.integers(1, 30)) * H
    # A parcel first seen after every earlier one was delivered would reopen a delivered order:
    # incidents withdrawn on delivery stay withdrawn, so such stories are out of scope here.
    delivered = [e.time for e in carrier if e.data.status == "delivered"]
    if delivered:
        first_seen: dict[str, datetime] = {}
        for e in carrier:
            first_seen.setdefault(e.data.shipment_id, e.time)
        carrier = [e for e in carrier if first_seen[e.data.shipment_id] <= min(delivered)]
    carrier.sort(key=lambda e: e.time)

    payments: list[CloudEvent] = []
    for number in range(draw(st.integers(0, 2))):
        at = T0 + draw(st.integers(0, 120)) * MINUTE
        payments.append(declined(at, code=draw(st.sampled_from(CODES)), payment_id=f"pay-{number}"))
    if draw(st.booleans()):
        payments.append(succeeded(T0 + draw(st.integers(0, 180)) * MINUTE))
    payments.sort(key=lambda e: e.time)
    return {"orders": orders, "shipments": carrier, "payments": payments}


def in_event_time_order(topics: Topics) -> list[CloudEvent]:
    rank = {"orders": 0, "payments": 1, "shipments": 2}
    tagged = [(e.time, rank[name], i, e) for name, events in topics.items() for i, e in enumerate(events)]
    return [e for *_, e in sorted(tagged, key=lambda t: t[:3])]


@st.composite
def interleaving(draw: st.DrawFn, topics: Topics) -> list[CloudEvent]:
    """Any interleaving of the topics that keeps each topic's own order (Kafka's per-partition order)."""
    labels = [name for name, events in topics.items() for _ in events]
    queues = {name: list(events) for name, events in topics.items()}
    return [queues[name].pop(0) for name in draw(st.permutations(labels))]


@st.composite
def with_duplicates(draw: st.DrawFn, events: list[CloudEvent]) -> list[CloudEvent]:
    """The same arrival with some events delivered again later (at-least-once)."""
    out = list(events)
    for event in draw(st.lists(st.sampled_from(events), max_size=4)) if events else []:
        first = out.index(event)
        out.insert(draw(st.integers(first + 1, len(out))), event)
    return out


def run(events: list[CloudEvent], *, fire_as_clock_moves: bool = True, use_overdue_now: bool = False) -> Watcher:
    """Feed one arrival, then fire everything due by FINAL."""
    watcher = Watcher(fire_as_clock_moves=fire_as_clock_moves, use_overdue_now=use_overdue_now)
    return watcher.feed(*events).advance(FINAL)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), topics=order_story())
def test_arrival_order_across_topics_and_duplicates_do_not_change_the_incidents(
    data: st.DataObject, topics: Topics
) -> None:
    expected = run(in_event_time_order(topics)).live
    arrival = data.draw(interleaving(topics).flatmap(with_duplicates))
    assert run(arrival).live == expected
    assert run(arrival, fire_as_clock_moves=False).live == expected
    assert run(arrival, use_overdue_now=True).live == expected


@settings(max_examples=200, deadline=None)
@given(data=st.data(), topics=order_story(shipments=1, monotone_eta=True))
def test_any_permutation_of_one_shipments_updates_gives_the_same_incidents(
    data: st.DataObject, topics: Topics
) -> None:
    everything = [e for events in topics.values() for e in events]
    expected = run(in_event_time_order(topics)).live
    arrival = data.draw(st.permutations(everything).flatmap(with_duplicates))
    assert run(arrival).live == expected


@settings(max_examples=100, deadline=None)
@given(data=st.data(), topics=order_story())
def test_replaying_the_same_log_gives_the_same_incidents(data: st.DataObject, topics: Topics) -> None:
    arrival = data.draw(interleaving(topics))
    first, second = run(arrival), run(arrival)
    assert [i.model_dump() for i in first.incidents] == [i.model_dump() for i in second.incidents]
    assert [r.model_dump() for r in first.resolutions] == [r.model_dump() for r in second.resolutions]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), topics=order_story())
def test_state_survives_a_json_round_trip_at_every_step(data: st.DataObject, topics: Topics) -> None:
    watcher = Watcher()
    for event in data.draw(interleaving(topics)):
        watcher.feed(event)
        assert watcher.state is not None
        state = watcher.state
        for dump in (state.model_dump(mode="json"), state.model_dump(mode="json", exclude_defaults=True)):
            restored = OrderState.model_validate(json.loads(json.dumps(dump)))
            assert restored == watcher.state
    # A watcher that reloads its state from JSON before every step decides exactly the same.
    reloading = Watcher()
    for event in data.draw(interleaving(topics)):
        if reloading.state is not None:
            reloading.state = OrderState.model_validate_json(reloading.state.model_dump_json(exclude_defaults=True))
        reloading.feed(event)
    assert reloading.advance(FINAL).live == run(in_event_time_order(topics)).live


def typical_lifecycle() -> list[CloudEvent]:
    """An order with a hiccup: a declined then successful payment, eight carrier scans, a weather delay."""
    events: list[CloudEvent] = [
        order_placed(lines=(("MUG-BLUE", "Blue enamel mug", 2), ("SAUCER-7", "Saucer", 1))),
        declined(T0 + MINUTE),
        succeeded(T0 + 3 * MINUTE, payment_id="pay-2"),
        shipment("label_created", T0 + 4 * H),
    ]
    events += [shipment("in_transit", T0 + (8 + 6 * i) * H, eta=T0 + 100 * H) for i in range(6)]
    events += [shipment("exception", T0 + 60 * H, reason="weather"), shipment("delivered", T0 + 110 * H)]
    return events


def test_state_of_a_typical_order_stays_small() -> None:
    watcher = Watcher()
    sizes = []
    for event in typical_lifecycle():
        watcher.feed(event)
        assert watcher.state is not None
        sizes.append(len(watcher.state.model_dump_json(exclude_defaults=True)))
    assert watcher.kinds  # it did have trouble to remember
    assert max(sizes) < 1450, sizes  # 1,400 before the store's order number was kept (QUALITY: 2 KB an order)


def test_state_stays_bounded_under_many_events() -> None:
    watcher = Watcher()
    watcher.feed(order_placed(deliver_by=timedelta(days=40)))
    for i in range(300):
        watcher.feed(shipment("in_transit", T0 + i * H, eta=T0 + timedelta(days=30)))
    assert watcher.state is not None
    assert len(watcher.state.seen) == watcher.settings.seen_ids_limit
    assert len(watcher.state.model_dump_json(exclude_defaults=True)) < 3000
