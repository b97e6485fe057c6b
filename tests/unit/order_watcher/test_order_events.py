"""Per-order rules in detail: facts carried, ids, duplicates, early events, deadlines and their bookkeeping."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from services.order_watcher.rules import (
    Deadline,
    WatchSettings,
    incident_id,
    on_deadline,
    on_event,
    overdue_now,
    pending_deadlines,
)
from services.order_watcher.rules.deadlines import DECLINE_WINDOW, FORGET, SHIP_BY, TRACKING_STALL
from tests.unit.order_watcher.factories import (
    T0,
    Watcher,
    backordered,
    cancelled,
    declined,
    order_placed,
    shipment,
    succeeded,
)

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
D = timedelta(days=1)
SETTINGS = WatchSettings()


def test_incident_ids_are_deterministic_and_derived_from_the_cause() -> None:
    first = Watcher().feed(order_placed()).advance(T0 + 2 * D)
    again = Watcher().feed(order_placed()).advance(T0 + 3 * D)
    (incident,) = first.incidents
    assert re.fullmatch(r"inc-[0-9a-f]{24}", incident.incident_id)
    assert incident.incident_id == again.incidents[0].incident_id
    assert incident.incident_id == incident_id("not_shipped", "o-1", (T0 + D).isoformat())
    assert incident_id("not_shipped", "o-2", (T0 + D).isoformat()) != incident.incident_id


def test_not_shipped_carries_the_order_and_its_promises() -> None:
    placed = order_placed()
    (incident,) = Watcher().feed(placed).advance(T0 + 2 * D).incidents
    assert incident.customer.first_name == "Ada"
    assert incident.store_id == "acme"
    assert incident.order_id == "o-1"
    assert incident.order_number == "#1"  # the store's own number, from order.placed's order_name
    assert incident.facts.product_name == "Blue enamel mug"
    assert incident.facts.sku == "MUG-BLUE"
    assert incident.facts.quantity == 1
    assert incident.facts.promised_ship_by == T0 + D
    assert incident.facts.promised_delivery_by == T0 + 4 * D
    assert incident.facts.order_status_url == "https://acme.example/orders/o-1"
    assert incident.cause_event_ids == [placed.id]
    assert incident.detected_at == T0 + D + SETTINGS.ship_grace  # event time of the deadline, not of the tick
    assert not incident.escalate


def test_delivery_exception_carries_carrier_reason_and_severity() -> None:
    update = shipment("exception", T0 + D, reason="lost")
    watcher = Watcher().feed(order_placed(), shipment("in_transit", T0 + 5 * H), update)
    (incident,) = watcher.incidents
    assert incident.kind == "delivery_exception"
    assert incident.facts.exception_reason == "lost"
    assert incident.facts.carrier == "dhl"
    assert incident.facts.tracking_url == "https://track.example/JD014600006281"
    assert incident.severity == "critical"
    assert update.id in incident.cause_event_ids


def test_eta_slipped_carries_the_new_date() -> None:
    eta = T0 + 6 * D
    watcher = Watcher().feed(order_placed(), shipment("in_transit", T0 + 5 * H, eta=eta))
    (incident,) = watcher.incidents
    assert incident.facts.new_estimated_delivery == eta
    assert incident.facts.promised_delivery_by == T0 + 4 * D


def test_eta_dates_are_on_the_customers_calendar() -> None:
    # 22:30 and 23:30 UTC are the same UTC day but two days in Berlin (UTC+1): the second is a further slip.
    late = (T0 + 6 * D).replace(hour=22, minute=30)
    watcher = Watcher().feed(
        order_placed(),
        shipment("in_transit", T0 + 5 * H, eta=late),
        shipment("in_transit", T0 + 6 * H, eta=late + H),
    )
    assert watcher.kinds == ["eta_slipped", "eta_slipped"]
    in_utc = Watcher().feed(
        order_placed(timezone=None),
        shipment("in_transit", T0 + 5 * H, eta=late),
        shipment("in_transit", T0 + 6 * H, eta=late + H),
    )
    assert in_utc.kinds == ["eta_slipped"]


def test_backordered_offers_choices_and_the_restock_date() -> None:
    watcher = Watcher().feed(order_placed(), backordered(T0 + H, restock_eta=T0 + 9 * D))
    (incident,) = watcher.incidents
    assert incident.facts.restock_eta == T0 + 9 * D
    assert incident.facts.choices == ["wait", "refund", "substitute"]


def test_false_decline_links_to_a_retry_from_the_template_and_names_the_amount() -> None:
    settings = WatchSettings(retry_url_template="https://pay.example/{store_id}/{order_id}?p={payment_id}")
    watcher = Watcher(settings=settings).feed(order_placed(), declined(T0)).advance(T0 + H)
    (incident,) = watcher.incidents
    assert incident.facts.retry_url == "https://pay.example/acme/o-1?p=pay-1"
    assert incident.facts.amount is not None and str(incident.facts.amount.amount) == "25.00"
    assert incident.detected_at == T0 + SETTINGS.decline_window


def test_false_decline_prefers_the_retry_link_the_payment_carried() -> None:
    watcher = Watcher().feed(order_placed(), declined(T0, retry_url="https://psp.example/r/1")).advance(T0 + H)
    assert watcher.incidents[0].facts.retry_url == "https://psp.example/r/1"


def test_a_success_before_the_deadline_by_event_time_prevents_it_even_if_it_arrives_late() -> None:
    watcher = Watcher(fire_as_clock_moves=False).feed(order_placed(), declined(T0), succeeded(T0 + 14 * H / 60))
    watcher.advance(T0 + D)
    assert "false_decline" not in watcher.kinds


def test_per_store_overrides_apply() -> None:
    settings = WatchSettings(overrides={"acme": {"ship_grace": "PT12H"}})
    watcher = Watcher(settings=settings).feed(order_placed()).advance(T0 + D + 11 * H)
    assert watcher.incidents == []
    watcher.advance(T0 + D + 12 * H)
    assert watcher.kinds == ["not_shipped"]


def test_a_duplicate_event_has_no_effect_but_re_asserting_the_deadlines_of_its_state() -> None:
    exception = shipment("exception", T0 + D, reason="weather")
    state = on_event(on_event(None, order_placed(), SETTINGS).state, exception, SETTINGS).state
    assert state is not None
    outcome = on_event(state, exception, SETTINGS)
    assert outcome.state is state
    assert (outcome.incidents, outcome.resolutions, outcome.cancel) == ([], [], [])
    assert outcome.schedule == pending_deadlines(state, SETTINGS) != []


def test_the_input_state_is_never_changed() -> None:
    state = on_event(None, order_placed(), SETTINGS).state
    assert state is not None
    before = state.model_dump(mode="json")
    on_event(state, shipment("exception", T0 + D, reason="weather"), SETTINGS)
    on_deadline(state, Deadline(T0 + D + 2 * H, SHIP_BY, "o-1"), T0 + 2 * D, SETTINGS)
    overdue_now(state, T0 + 9 * D, SETTINGS)
    assert state.model_dump(mode="json") == before


def test_events_of_other_topics_are_ignored() -> None:
    from tests.unit.order_watcher.factories import stock_changed

    assert on_event(None, stock_changed(3, T0), SETTINGS).state is None


def test_a_new_checkpoint_moves_the_stall_deadline() -> None:
    placed = on_event(None, order_placed(deliver_by=9 * D), SETTINGS)
    first = on_event(placed.state, shipment("in_transit", T0 + H), SETTINGS)
    assert Deadline(T0 + H + 48 * H, TRACKING_STALL, "o-1") in first.schedule
    assert Deadline(T0 + D + 2 * H, SHIP_BY, "o-1") in first.cancel  # shipped: no ship-by check any more
    second = on_event(first.state, shipment("in_transit", T0 + 5 * H), SETTINGS)
    assert second.cancel == [Deadline(T0 + H + 48 * H, TRACKING_STALL, "o-1")]
    assert second.schedule == [Deadline(T0 + 5 * H + 48 * H, TRACKING_STALL, "o-1")]
    assert Deadline(T0 + H, TRACKING_STALL, "o-1").key() == "tracking_stall|o-1"


def test_a_stale_deadline_detects_nothing_and_keeps_the_real_one() -> None:
    state = on_event(None, order_placed(), SETTINGS).state
    state = on_event(state, shipment("in_transit", T0 + 10 * H), SETTINGS).state
    assert state is not None
    stale = Deadline(T0 + H + 48 * H, TRACKING_STALL, "o-1")  # from a checkpoint since superseded
    outcome = on_deadline(state, stale, T0 + 50 * H, SETTINGS)
    assert outcome.incidents == []
    assert outcome.schedule == []  # the real deadline (T0+58h) is still in the caller's index
    assert outcome.cancel == []


def test_a_closed_order_waits_only_to_be_forgotten() -> None:
    state = on_event(None, order_placed(), SETTINGS).state
    state = on_event(state, declined(T0), SETTINGS).state
    assert state is not None
    assert {d.kind for d in pending_deadlines(state, SETTINGS)} >= {SHIP_BY, DECLINE_WINDOW}
    outcome = on_event(state, cancelled(T0 + H), SETTINGS)
    assert outcome.state is not None
    assert pending_deadlines(outcome.state, SETTINGS) == [Deadline(T0 + H + SETTINGS.retain_for, FORGET, "o-1")]
    assert {d.kind for d in outcome.cancel} == {SHIP_BY, DECLINE_WINDOW, FORGET}
    forget = pending_deadlines(outcome.state, SETTINGS)[0]
    assert on_deadline(outcome.state, forget, forget.due - H, SETTINGS).state is not None
    dropped = on_deadline(outcome.state, forget, forget.due, SETTINGS)
    assert dropped.state is None
    assert dropped.incidents == []


def test_delivered_order_fires_nothing_more() -> None:
    watcher = Watcher().feed(order_placed(), shipment("in_transit", T0 + H), shipment("delivered", T0 + D))
    assert {d.kind for d in watcher.index.values()} == {FORGET}
    watcher.feed(shipment("exception", T0 + 2 * D, reason="damaged"))
    watcher.advance(T0 + 20 * D)
    assert watcher.incidents == []


def test_events_before_their_order_are_held_then_replayed() -> None:
    early = Watcher().feed(
        shipment("in_transit", T0 + 3 * H, eta=T0 + 7 * D),
        backordered(T0 + 2 * H),
    )
    assert early.incidents == []
    assert early.state is not None and len(early.state.early) == 2
    assert {d.kind for d in early.index.values()} == {FORGET}
    early.feed(order_placed())
    assert sorted(early.kinds) == ["backordered", "eta_slipped"]
    assert early.state is not None and early.state.early == []


def test_an_order_that_never_arrives_is_forgotten() -> None:
    watcher = Watcher().feed(shipment("in_transit", T0))
    watcher.advance(T0 + SETTINGS.orphan_ttl)
    assert watcher.state is None
    assert watcher.incidents == []


def test_held_events_are_bounded() -> None:
    settings = WatchSettings(early_events_limit=3)
    watcher = Watcher(settings=settings).feed(*(shipment("in_transit", T0 + i * H) for i in range(5)))
    assert watcher.state is not None
    assert [e.time for e in watcher.state.early] == [T0 + 2 * H, T0 + 3 * H, T0 + 4 * H]


def test_overdue_now_detects_an_order_whose_ship_by_passed_before_it_arrived() -> None:
    late = order_placed(ship_by=-3 * H)  # a backfilled order, already past its promise
    outcome = on_event(None, late, SETTINGS)
    assert outcome.incidents == []
    assert outcome.state is not None
    due = overdue_now(outcome.state, T0, SETTINGS)
    assert [i.kind for i in due.incidents] == ["not_shipped"]
    assert Deadline(T0 - 3 * H + SETTINGS.ship_grace, SHIP_BY, "o-1") in due.cancel
    assert overdue_now(due.state, T0, SETTINGS).incidents == []  # type: ignore[arg-type]


def test_the_watcher_using_overdue_now_finds_the_same_incidents() -> None:
    steps = (order_placed(), declined(T0), shipment("in_transit", T0 + 2 * D), shipment("delivered", T0 + 6 * D))
    plain = Watcher().feed(*steps).advance(T0 + 30 * D)
    eager = Watcher(use_overdue_now=True).feed(*steps).advance(T0 + 30 * D)
    assert plain.kinds == eager.kinds
    assert plain.live == eager.live


def test_an_incident_found_and_cleared_in_one_step_is_never_published() -> None:
    # The order arrives last: its held exception is already superseded by the delivery.
    watcher = Watcher().feed(
        shipment("exception", T0 + D, reason="weather"),
        shipment("delivered", T0 + 2 * D),
        order_placed(),
    )
    assert watcher.incidents == []
    assert watcher.resolutions == []


def test_a_date_alone_is_that_day_on_the_customers_calendar() -> None:
    # Promised by T0 + 4 days (6 March, 09:00 UTC). A carrier's bare "6 March" is kept as end of day UTC,
    # which is already 7 March in Berlin: read as the date it is, it is within the promise.
    on_the_day = Watcher().feed(order_placed(), shipment("in_transit", T0 + 5 * H, eta_date=date(2026, 3, 6)))
    assert on_the_day.kinds == []
    later = Watcher().feed(order_placed(), shipment("in_transit", T0 + 5 * H, eta_date=date(2026, 3, 9)))
    (incident,) = later.incidents
    assert incident.kind == "eta_slipped"
    assert incident.facts.new_estimated_delivery_date == date(2026, 3, 9)
    assert incident.incident_id == incident_id("eta_slipped", "o-1", "2026-03-09")
