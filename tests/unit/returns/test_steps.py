"""The returns agent's step over plain dicts: the deadline index is rebuilt from the states after a restart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schemas import parse_event
from services.common.deadlines import DerivedDeadlines
from services.common.watermark import Tick
from services.returns.agents import ReturnSteps, return_deadlines
from services.returns.rules import ReturnSettings
from tests.unit.returns.factories import T0, order_placed, received

pytestmark = pytest.mark.unit

RULES = ReturnSettings()


def test_after_a_restart_the_deadline_index_is_rebuilt_from_the_return_states() -> None:
    """Only the state and each partition's clock are written; a restarted process rebuilds the buckets from
    the state (as `derive_deadlines` does once it is recovered), and the receipt is still acknowledged."""
    orders: dict[str, Any] = {}
    clock: dict[str, Any] = {}

    def steps(buckets: dict[str, Any]) -> ReturnSteps:
        return ReturnSteps(orders, buckets, RULES, clock=clock)

    buckets: dict[str, Any] = {}
    steps(buckets).on_tick(Tick(T0 - timedelta(hours=1), {}), 0, {}).apply()
    for event in (order_placed(), received(T0)):
        steps(buckets).event(event, 0).apply()
    assert buckets and set(clock) == {"0|clock"}
    derived = DerivedDeadlines()  # the restarted process: the buckets are gone with the old one
    derived.assigned({0}, stored_keys=lambda partition: list(orders), clock=clock,
                     entries=lambda key: return_deadlines(orders[key], RULES))
    assert derived.buckets == buckets
    work = steps(derived.buckets).on_tick(Tick(T0 + timedelta(minutes=5), {}), 0, {})
    assert [parse_event(s.value).data.kind for s in work.sends] == ["return_received"]
