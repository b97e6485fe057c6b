"""The return rules are pure: the state passed in is the same after the call, whatever the rule did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import CloudEvent
from services.returns.rules import ReturnSettings, ReturnsState, on_deadline, on_event, pending_deadlines
from tests.support.purity import fire_due, unchanged
from tests.unit.returns.factories import T0, label_scanned, order_placed, received, refunded, rejected, requested

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
SETTINGS = ReturnSettings()
FINAL = T0 + timedelta(days=60)

BUILDERS: dict[str, Callable[..., CloudEvent]] = {
    "requested": requested,
    "scanned": label_scanned,
    "received": received,
    "refunded": refunded,
    "rejected": rejected,
}


@st.composite
def return_story(draw: st.DrawFn) -> list[CloudEvent]:
    """Return events for up to two returns at any times, order.placed anywhere among them, some delivered twice."""
    events = [
        BUILDERS[name](T0 + draw(st.integers(0, 30 * 24)) * H, return_id=f"r-{draw(st.integers(1, 2))}")
        for name in draw(st.lists(st.sampled_from(sorted(BUILDERS)), max_size=10))
    ]
    events.insert(draw(st.integers(0, len(events))), order_placed())
    if events and draw(st.booleans()):
        events.append(draw(st.sampled_from(events)))
    return events


def fire_all(state: ReturnsState, now: datetime) -> ReturnsState | None:
    return fire_due(pending_deadlines, on_deadline, state, now, SETTINGS)


@settings(max_examples=200, deadline=None)
@given(story=return_story())
def test_return_rules_leave_their_input_state_unchanged(story: list[CloudEvent]) -> None:
    state: ReturnsState | None = None
    for event in story:
        state = unchanged(on_event, state, event, SETTINGS).state
        if state is not None and state.placed:
            fired = fire_all(state, event.time)
            state = fired if fired is not None else state
    if state is not None:
        fire_all(state, FINAL)


def test_a_receipt_changes_the_new_case_and_not_the_one_passed_in() -> None:
    state = on_event(None, order_placed(), SETTINGS).state
    state = on_event(state, requested(T0 + H), SETTINGS).state
    assert state is not None
    after = on_event(state, received(T0 + 24 * H), SETTINGS).state
    assert after is not None
    assert [c.received_at for c in after.returns] == [T0 + 24 * H]
    assert [c.received_at for c in state.returns] == [None]
