"""The per-order rule core on a state of its own: ids, admission, the step's net effects, store overrides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import Field

from schemas import CloudEvent, IncidentFacts, OrderPlaced, ReturnReceived
from services.common.order_rules import (
    FORGET,
    Deadline,
    IncidentMarkBase,
    OrderRecord,
    Step,
    StoreSettings,
    admit,
    forget_held,
    incident_id,
)
from services.order_watcher.rules import incident_id as order_incident_id
from services.returns.rules import incident_id as return_incident_id
from tests.unit.returns.factories import T0, order_placed, received

pytestmark = pytest.mark.unit


class Record(OrderRecord[IncidentMarkBase, ReturnReceived]):
    """A state with nothing of its own: what the core keeps, plus the ids of the events applied."""

    applied: list[str] = Field(default_factory=list)


class Knobs(StoreSettings):
    grace: timedelta = timedelta(hours=1)


def _fold(state: Record | None, event: CloudEvent, settings: Knobs) -> Any:
    def apply(step: Step[Record, Knobs], event: CloudEvent) -> None:
        step.state.applied = [*step.state.applied, event.id]

    def place(state: Record, event: OrderPlaced) -> None:
        state.placed_event_id, state.store_id, state.customer = event.id, event.data.store_id, event.data.customer

    def pending(state: Record, settings: Knobs) -> list[Deadline]:
        return forget_held(state, settings) if not state.placed else []

    return admit(state, event, settings, new=lambda oid: Record(order_id=oid), step=Step, place=place, apply=apply,
                 pending=pending)


def test_incident_ids_are_the_same_hashes_as_ever() -> None:
    """Published ids must never change: a replay after an upgrade would emit every incident again."""
    assert incident_id("not_shipped", "o-1", "ship_by") == "inc-097d303aa978a561a0bc36db"
    assert incident_id("refund_overdue", "o-1", "r-1", "sla") == "inc-3cd70012ccfbd26e19f42d79"
    assert order_incident_id("not_shipped", "o-1", "ship_by") == "inc-097d303aa978a561a0bc36db"
    assert return_incident_id("refund_overdue", "o-1", "r-1", "sla") == "inc-3cd70012ccfbd26e19f42d79"


def test_events_before_the_order_are_held_then_applied_in_event_time_order() -> None:
    settings = Knobs(early_events_limit=2)
    late, early, earliest = (received(T0 + timedelta(hours=h), return_id=f"r-{h}") for h in (3, 2, 1))
    state = None
    for event in (late, early, earliest):
        state = _fold(state, event, settings).state
    assert state is not None and [e.id for e in state.early] == [early.id, earliest.id]  # the oldest held went
    outcome = _fold(state, order_placed(), settings)
    assert outcome.state.applied == [earliest.id, early.id]
    assert outcome.state.early == []
    assert outcome.cancel == [Deadline(earliest.time + settings.orphan_ttl, FORGET, "o-1")]


def test_an_event_read_again_changes_nothing_and_gives_back_the_very_state() -> None:
    settings = Knobs()
    state = _fold(None, order_placed(), settings).state
    event = received(T0)
    once = _fold(state, event, settings).state
    again = _fold(once, event, settings)
    assert again.state is once and once.applied == [event.id]


def test_the_stores_settings_apply_from_its_order_placed_on() -> None:
    settings = Knobs(seen_ids_limit=8, overrides={"acme": {"seen_ids_limit": 1}})
    state = _fold(None, received(T0), settings).state
    assert len(state.seen) == 1
    state = _fold(state, order_placed(), settings).state  # acme's limit: one id remembered
    assert len(state.seen) == 1
    assert settings.for_store("acme").seen_ids_limit == 1 and isinstance(settings.for_store("acme"), Knobs)
    assert settings.for_store("other") is settings and settings.for_store(None) is settings


def test_overrides_cannot_nest_and_are_validated_as_the_whole() -> None:
    with pytest.raises(ValueError, match="cannot nest"):
        Knobs(overrides={"acme": {"overrides": {}}})
    with pytest.raises(ValueError):
        Knobs(overrides={"acme": {"grace": "soon"}})


def test_an_incident_withdrawn_in_the_step_that_found_it_is_never_published() -> None:
    state = _fold(None, order_placed(), Knobs()).state.draft()
    step = Step(state, Knobs())
    kept, withdrawn = (IncidentMarkBase(id=incident_id("return_received", "o-1", n), kind="return_received")
                       for n in ("1", "2"))
    for mark in (kept, withdrawn):
        assert step.fresh(mark.id)
        step.add(mark, IncidentFacts(), ["e-1", None, "e-1"], T0)
    assert not step.fresh(kept.id)
    step.resolve(withdrawn, "refund_issued", T0)
    outcome = step.finish(state, [], [])
    assert [i.incident_id for i in outcome.incidents] == [kept.id]
    assert outcome.incidents[0].cause_event_ids == ["e-1"]
    assert outcome.resolutions == []
    assert state.mark(withdrawn.id) == withdrawn.model_copy(update={"resolved": True})
