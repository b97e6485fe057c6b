"""Arrival order and repeats: events before their order are held, duplicates are ignored, state is bounded."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from schemas import CloudEvent
from services.returns.rules import FORGET, ReturnSettings, on_deadline, on_event, pending_deadlines
from tests.unit.returns.factories import (
    T0,
    Desk,
    label_scanned,
    order_placed,
    received,
    refunded,
    rejected,
    requested,
)

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
D = timedelta(days=1)
SETTINGS = ReturnSettings(journey_refund_issued=True, journey_window_exceeded=True)

JOURNEY: tuple[CloudEvent, ...] = (
    requested(T0 + 40 * D, return_id="r-1"),  # late: escalated
    requested(T0 + 2 * D, return_id="r-2"),
    label_scanned(T0 + 3 * D, return_id="r-2"),
    received(T0 + 6 * D, return_id="r-2"),
    received(T0 + 41 * D, return_id="r-1"),
    refunded(T0 + 43 * D, return_id="r-1"),  # late: overdue, then withdrawn
    rejected(T0 + 7 * D, return_id="r-2"),
)


def _published(desk: Desk) -> dict[str, Any]:
    return {
        "incidents": sorted(i.model_dump_json() for i in desk.incidents),
        "resolutions": sorted(r.model_dump_json() for r in desk.resolutions),
        "escalations": sorted(e.model_dump_json() for e in desk.escalations),
    }


def _play(events: list[CloudEvent]) -> Desk:
    """Feed events in arrival order, ticking hourly by event time as the stream would."""
    desk = Desk(SETTINGS)
    clock = None
    for event in events:
        if clock is not None and event.time > clock:
            desk.run(event.time - timedelta(seconds=1), start=clock, every=H)
        desk.feed(event)
        clock = max(filter(None, [clock, event.time]))
    assert clock is not None
    return desk.run(T0 + 50 * D, start=clock, every=H)


def test_the_journey_publishes_what_it_should() -> None:
    desk = _play([order_placed(), *sorted(JOURNEY, key=lambda e: e.time)])
    assert sorted(desk.kinds()) == sorted(
        ["return_window_exceeded", "return_received", "return_received", "return_rejected", "refund_overdue",
         "refund_issued"]
    )
    assert sorted((r.kind, r.reason) for r in desk.resolutions) == [
        ("refund_overdue", "refund_issued"),
        ("return_received", "refund_issued"),  # its "refund by" is moot once the refund went out
        ("return_received", "return_rejected"),
    ]
    assert [e.reason for e in desk.escalations] == ["return_window_exceeded"]


def _at_once(events: list[CloudEvent]) -> Desk:
    """Feed events with no tick between them, then let the clock run."""
    return Desk(SETTINGS).feed(*events).run(T0 + 50 * D, every=H)


ORDERED = sorted(JOURNEY, key=lambda e: e.time)


@pytest.mark.parametrize("position", range(1, len(JOURNEY) + 1))
def test_events_before_their_order_give_the_in_order_outcome(position: int) -> None:
    in_order = _at_once([order_placed(), *ORDERED])
    late = _at_once([*ORDERED[:position], order_placed(), *ORDERED[position:]])
    assert _published(late) == _published(in_order)
    assert late.incidents  # the comparison is about something


@pytest.mark.parametrize("seed", range(5))
def test_held_events_are_replayed_in_event_time_order(seed: int) -> None:
    shuffled = list(JOURNEY)
    random.Random(seed).shuffle(shuffled)
    assert _published(_at_once([*shuffled, order_placed()])) == _published(_at_once([order_placed(), *ORDERED]))


def test_the_same_event_id_twice_is_processed_once() -> None:
    desk = Desk().feed(order_placed(), received(T0))
    state = desk.state()
    outcome = on_event(state, received(T0), ReturnSettings())
    assert outcome.state is state
    assert outcome.incidents == [] and outcome.cancel == []
    assert state is not None and outcome.schedule == pending_deadlines(state, ReturnSettings()) != []


def test_a_duplicate_held_event_is_held_once() -> None:
    desk = Desk().feed(received(T0), received(T0), order_placed()).tick(T0)
    assert desk.kinds() == ["return_received"]
    state = desk.state()
    assert state is not None and state.early == []


def test_other_order_events_are_ignored() -> None:
    from schemas import make_event

    cancelled = make_event("order.cancelled", {"order_id": "o-1", "cancelled_at": T0}, source="store/acme",
                           subject="o-1", time=T0)
    assert on_event(None, cancelled, ReturnSettings()).state is None
    desk = Desk().feed(order_placed())
    state = desk.state()
    assert on_event(state, cancelled, ReturnSettings()).state is state


def test_a_second_order_placed_changes_nothing() -> None:
    desk = Desk().feed(order_placed(), order_placed(event_id="again", lines=(("X", "Other"),)), received(T0)).tick(T0)
    assert desk.of("return_received")[0].facts.product_name == "Trail boots"


def test_events_for_an_order_never_seen_are_dropped_after_the_orphan_ttl() -> None:
    desk = Desk().feed(received(T0))
    state = desk.state()
    assert state is not None
    [forget] = pending_deadlines(state, ReturnSettings())
    assert (forget.kind, forget.due) == (FORGET, T0 + 7 * D)
    desk.tick(T0 + 7 * D)
    assert desk.state() is None
    assert desk.incidents == []


def test_an_order_is_forgotten_long_after_its_last_event_once_nothing_waits() -> None:
    desk = Desk().feed(order_placed(), received(T0), refunded(T0 + H))
    state = desk.state()
    assert state is not None
    [forget] = pending_deadlines(state, ReturnSettings())
    assert (forget.kind, forget.due) == (FORGET, T0 + H + 400 * D)
    assert on_deadline(state, forget, T0 + H + 400 * D - timedelta(seconds=1), ReturnSettings()).state is not None
    desk.tick(T0 + H + 400 * D)
    assert desk.state() is None


def test_nothing_is_forgotten_while_a_deadline_waits() -> None:
    desk = Desk().feed(order_placed(), received(T0))
    state = desk.state()
    assert state is not None
    assert FORGET not in {d.kind for d in pending_deadlines(state, ReturnSettings())}


def test_returns_per_order_are_bounded() -> None:
    desk = Desk(ReturnSettings(returns_limit=2))
    desk.feed(order_placed(), *(received(T0, return_id=f"r-{n}") for n in range(4))).tick(T0)
    assert len(desk.incidents) == 2
    state = desk.state()
    assert state is not None and [c.return_id for c in state.returns] == ["r-0", "r-1"]


def test_dedupe_memory_and_held_events_are_bounded() -> None:
    settings = ReturnSettings(seen_ids_limit=4, early_events_limit=3)
    desk = Desk(settings).feed(*(received(T0 + n * H, return_id=f"r-{n}") for n in range(6)))
    state = desk.state()
    assert state is not None
    assert len(state.seen) == 4
    assert [e.data.return_id for e in state.early] == ["r-3", "r-4", "r-5"]


def test_incident_ids_do_not_depend_on_the_run() -> None:
    one = Desk().feed(order_placed(), received(T0)).run(T0 + 2 * D)
    two = Desk().feed(order_placed(), received(T0)).run(T0 + 2 * D, every=timedelta(minutes=7))
    assert [i.incident_id for i in one.incidents] == [i.incident_id for i in two.incidents]
    other = Desk().feed(order_placed(), received(T0, return_id="r-2")).tick(T0)
    assert other.incidents[0].incident_id != one.incidents[0].incident_id
