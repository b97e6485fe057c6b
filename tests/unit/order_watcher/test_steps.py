"""The agents' steps over plain dicts: what is sent, and that state is written only after the sends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas import INCIDENT_CANDIDATES, ContractError, CustomerRef, IncidentDetectedData, make_event, parse_event
from services.common.deadlines import DerivedDeadlines
from services.common.processing import Send, Staged
from services.common.watermark import InputOffsets, Tick, Watermark
from services.order_watcher.rules import DemandChange, WatchSettings
from services.order_watcher.steps import (
    CANDIDATES,
    DEMAND,
    ESCALATIONS,
    INCIDENTS,
    EscalationSteps,
    OrderSteps,
    ParsedDemand,
    StockSteps,
    Work,
    bundle_demand,
    order_deadlines,
    parse_demand_change,
    parse_demand_changes,
)
from tests.unit.order_watcher.factories import T0, cancelled, order_placed, stock_changed, succeeded

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
WATCH = WatchSettings()


def order_steps() -> tuple[OrderSteps, dict[str, Any], dict[str, Any]]:
    orders: dict[str, Any] = {}
    deadlines: dict[str, Any] = {}
    return OrderSteps(orders, deadlines, WATCH), orders, deadlines


def test_staged_writes_reach_the_table_only_on_apply() -> None:
    table: dict[str, Any] = {"a": 1, "b": 2}
    view = Staged(table)
    view["a"] = 10
    view["c"] = 3
    del view["b"]
    assert (view["a"], view.get("b"), "c" in view, sorted(view)) == (10, None, True, ["a", "c"])
    assert table == {"a": 1, "b": 2}
    view.apply()
    assert table == {"a": 10, "c": 3}
    with pytest.raises(KeyError):
        del view["b"]


def test_an_order_event_sends_its_lines_by_sku_and_writes_state_after() -> None:
    steps, orders, deadlines = order_steps()
    work = steps.event(order_placed("o-1"), partition=0)
    assert [(s.to, s.key) for s in work.sends] == [(DEMAND, b"MUG-BLUE")]
    assert DemandChange.model_validate_json(work.sends[0].value).order_id == "o-1"
    assert orders == {} and deadlines == {}  # nothing written before the sends are acknowledged
    work.apply()
    assert set(orders) == {"o-1"} and deadlines
    again = steps.event(order_placed("o-1"), partition=0)
    assert again.sends == []  # the same event id twice: handled once


def test_a_tick_fires_what_is_due_as_candidates_keyed_by_customer() -> None:
    steps, _, _ = order_steps()
    steps.event(order_placed("o-1", ship_by=H), partition=1).apply()
    assert steps.tick(T0 + H, partition=1).sends == []  # within the grace
    work = steps.tick(T0 + 4 * H, partition=1)
    assert [(s.to, s.key) for s in work.sends] == [(CANDIDATES, b"cus-1")]
    event = parse_event(work.sends[0].value, topic="incidents")
    assert (event.type, event.data.kind) == ("incident.detected", "not_shipped")
    work.apply()
    assert steps.tick(T0 + 5 * H, partition=1).sends == []  # fired once


def test_a_tick_fires_only_by_the_watermark_and_records_what_was_read() -> None:
    """The shipment topic of the partition has a record not read yet: the overdue ship-by waits for it."""
    orders: dict[str, Any] = {}
    deadlines: dict[str, Any] = {}
    watermark = Watermark(("orders", "shipments"))
    steps = OrderSteps(orders, deadlines, WATCH, watermark=watermark)
    steps.event(order_placed("o-1", ship_by=H), partition=1).apply()
    watermark.read("orders", 1, 0)
    behind = Tick(T0 + 4 * H, {"orders": InputOffsets(0, 1), "shipments": InputOffsets(0, 1)})
    work = steps.on_tick(behind, partition=1)
    assert work.sends == []
    work.apply()
    assert deadlines["1|clock"]["read"] == {"orders": 1}  # recorded with the clock, for whoever takes it over
    watermark.read("shipments", 1, 0)
    work = steps.on_tick(Tick(T0 + 4 * H + timedelta(seconds=1), behind.inputs), partition=1)
    assert [(s.to, s.key) for s in work.sends] == [(CANDIDATES, b"cus-1")]  # read that far: the deadline is true
    work.apply()
    assert deadlines["1|clock"]["read"] == {"orders": 1, "shipments": 1}
    steps.event(order_placed("o-2", ship_by=5 * H), partition=1).apply()
    watermark.read("orders", 1, 1)
    steps.on_tick(Tick(T0 + 5 * H, {"orders": InputOffsets(0, 2), "shipments": InputOffsets(0, 1)}), 1).apply()
    # A worker that takes the partition over has read nothing itself; the recorded positions tell it enough.
    successor = OrderSteps(orders, deadlines, WATCH, watermark=Watermark(("orders", "shipments")))
    later = Tick(T0 + 8 * H, {"orders": InputOffsets(0, 2), "shipments": InputOffsets(0, 1)})
    fired = [parse_event(s.value, topic="incidents").data.order_id for s in successor.on_tick(later, 1).sends]
    assert fired == ["o-2"]


def test_the_record_a_tick_waited_for_fires_what_is_due_after_its_own_effects() -> None:
    orders: dict[str, Any] = {}
    deadlines: dict[str, Any] = {}
    watermark = Watermark(("orders", "payments"))
    steps = OrderSteps(orders, deadlines, WATCH, watermark=watermark)
    steps.event(order_placed("o-1", ship_by=H), partition=0).apply()
    watermark.read("orders", 0, 0)
    steps.on_tick(Tick(T0 + 2 * H, {"orders": InputOffsets(0, 1), "payments": InputOffsets(0, 0)}), 0).apply()
    waiting = Tick(T0 + 4 * H, {"orders": InputOffsets(0, 2), "payments": InputOffsets(0, 0)})
    assert steps.on_tick(waiting, partition=0).sends == []  # the cancellation it counted is not read yet
    watermark.read("orders", 0, 1)
    work = steps.event(cancelled(T0 + 2 * H), partition=0)  # read now: the deadline is re-checked after it
    assert all(s.to != CANDIDATES for s in work.sends)
    work.apply()
    steps.event(order_placed("o-2", ship_by=2.5 * H), partition=0).apply()  # due at 4.5 h
    watermark.read("orders", 0, 2)
    waiting = Tick(T0 + 5 * H, {"orders": InputOffsets(0, 4), "payments": InputOffsets(0, 0)})
    assert steps.on_tick(waiting, partition=0).sends == []
    watermark.read("orders", 0, 3)
    fired = steps.event(succeeded(T0 + 4 * H, order_id="o-2"), partition=0).sends
    assert [parse_event(s.value, topic="incidents").data.order_id for s in fired if s.to == CANDIDATES] == ["o-2"]


def test_a_cancelled_order_closes_its_lines() -> None:
    steps, _, _ = order_steps()
    steps.event(order_placed("o-1"), partition=0).apply()
    assert steps.event(succeeded(T0 + H), partition=0).sends == []
    sends = steps.event(cancelled(T0 + 2 * H), partition=0).sends
    assert [(s.to, DemandChange.model_validate_json(s.value).change) for s in sends] == [(DEMAND, "cancelled")]


def test_stock_steps_send_stockouts_for_the_latest_orders() -> None:
    table: dict[str, Any] = {}
    stock = StockSteps(table, WATCH)
    order_work = [order_steps()[0].event(order_placed(f"o-{n}", at=T0 + n * H, customer_id=f"cus-{n}"), 0)
                  for n in (1, 2, 3)]
    for work in order_work:
        stock.change(parse_demand_change(work.sends[0].value)).apply()
    work = stock.stock(stock_changed(1, T0 + 4 * H))
    assert [(s.to, s.key) for s in work.sends] == [(CANDIDATES, b"cus-2"), (CANDIDATES, b"cus-3")]
    with pytest.raises(ContractError):
        parse_demand_change(b'{"change": "placed"}')


def test_a_sku_state_is_parsed_again_only_when_the_table_holds_other_bytes() -> None:
    table: dict[str, Any] = {}
    parsed = ParsedDemand(size=2)
    orders = order_steps()[0]
    for n in (1, 2):
        placed = orders.event(order_placed(f"o-{n}", at=T0 + n * H, customer_id=f"cus-{n}"), 0)
        StockSteps(table, WATCH, parsed).change(parse_demand_change(placed.sends[0].value)).apply()
    (sku,) = table
    first = parsed.read(sku, table[sku])
    assert parsed.read(sku, bytes(table[sku])) is first  # the same bytes (another object): the parsed state
    assert [line.order_id for line in first.lines] == ["o-1", "o-2"]
    stale = first.model_copy(update={"lines": first.lines[:1]}).model_dump_json(exclude_defaults=True).encode()
    other = parsed.read(sku, stale)  # the table holds other bytes (a write dropped, another worker's): parsed
    assert other is not first and [line.order_id for line in other.lines] == ["o-1"]
    # a step reads through it and sees what the table holds, not what it parsed before
    table[sku] = stale
    work = StockSteps(table, WATCH, parsed).stock(stock_changed(0, T0 + 4 * H))
    assert [parse_event(s.value, topic="incidents").data.order_id for s in work.sends] == ["o-1"]
    for n in range(3):  # bounded: the least recently used goes
        parsed.wrote(f"sku-{n}", b"{}", first)
    assert parsed.read("sku-2", b"{}") is first
    with pytest.raises(ValueError):
        parsed.read("sku-0", b"{}")  # forgotten, so parsed: and b"{}" is no SKU state


def test_escalation_publishes_the_second_trouble_escalated_and_passes_withdrawals_on() -> None:
    table: dict[str, Any] = {}
    escalation = EscalationSteps(table, WATCH)
    candidates: list[Work] = []
    for n in (1, 2):
        steps, _, _ = order_steps()
        steps.event(order_placed(f"o-{n}", ship_by=H), partition=0).apply()
        candidates.append(steps.tick(T0 + 4 * H, partition=0))
    first = escalation.candidate(parse_event(candidates[0].sends[0].value, topic="incidents"))
    assert [s.to for s in first.sends] == [INCIDENTS] and table == {}
    first.apply()
    second = escalation.candidate(parse_event(candidates[1].sends[0].value, topic="incidents"))
    assert [s.to for s in second.sends] == [INCIDENTS, ESCALATIONS]
    published = parse_event(second.sends[0].value, topic="incidents")
    assert published.data.escalate and published.data.escalation_tier == 1
    resolved = order_steps()[0]
    resolved.event(order_placed("o-3", ship_by=H), partition=0).apply()
    fired = resolved.tick(T0 + 4 * H, partition=0)
    fired.apply()
    withdrawal = resolved.event(cancelled(T0 + 5 * H, order_id="o-3"), partition=0).sends
    passed = escalation.candidate(parse_event(withdrawal[0].value, topic="incidents"))
    assert [(s.to, s.value) for s in passed.sends] == [(INCIDENTS, withdrawal[0].value)]


def _from_returns(type_: str, data: Any, event_id: str) -> Any:
    """A candidate as the returns service sends it (its own source), read back through the registry."""
    event = make_event(type_, data, source="forewarn/returns", subject="cus-1", time=T0 + 30 * H, id=event_id)
    return parse_event(event.to_bytes(), topic=INCIDENT_CANDIDATES)


def test_returns_trouble_counts_after_a_late_order_and_its_own_case_is_not_opened_twice() -> None:
    table: dict[str, Any] = {}
    escalation = EscalationSteps(table, WATCH)
    steps, _, _ = order_steps()
    steps.event(order_placed("o-1", ship_by=H), partition=0).apply()
    late = steps.tick(T0 + 4 * H, partition=0)
    escalation.candidate(parse_event(late.sends[0].value, topic=INCIDENT_CANDIDATES)).apply()
    overdue = IncidentDetectedData(
        incident_id="inc-refund", kind="refund_overdue", order_id="o-2", store_id="acme",
        customer=CustomerRef(id="cus-1", first_name="Ada", email="ada@example.com"), facts={},
        cause_event_ids=["ev-received"], detected_at=T0 + 30 * H, escalate=True, escalation_tier=2,
    )
    work = escalation.candidate(_from_returns("incident.detected", overdue, "inc-refund"))
    work.apply()
    assert [s.to for s in work.sends] == [INCIDENTS, ESCALATIONS]
    published, opened = (parse_event(s.value) for s in work.sends)
    assert published.source == "forewarn/returns"  # the detector stays the source
    assert (opened.data.reason, opened.data.tier, opened.data.incident_id) == ("repeated_trouble", 2, "inc-refund")
    case = {"escalation_id": "esc-refund", "customer_id": "cus-1", "incident_id": "inc-refund",
            "kind": "refund_overdue", "tier": 2, "reason": "refund_overdue", "order_id": "o-2", "store_id": "acme",
            "opened_at": T0 + 100 * H}
    assert escalation.candidate(_from_returns("escalation.opened", case, "esc-refund")).sends == []
    window = {**case, "escalation_id": "esc-window", "incident_id": "inc-window", "reason": "return_window_exceeded"}
    passed = escalation.candidate(_from_returns("escalation.opened", window, "esc-window"))
    assert [(s.to, parse_event(s.value).id) for s in passed.sends] == [(ESCALATIONS, "esc-window")]


def test_a_deadline_that_cannot_fire_is_set_aside_and_the_others_fire() -> None:
    steps, orders, _ = order_steps()
    for n in (1, 2):
        steps.event(order_placed(f"o-{n}", ship_by=H, customer_id=f"cus-{n}"), partition=0).apply()
    orders["o-1"] = b"{broken"
    work = steps.tick(T0 + 4 * H, partition=0)
    assert [(entry.ref, entry.kind) for entry, _ in work.failed] == [("o-1", "ship_by")]
    assert [s.key for s in work.sends] == [b"cus-2"]
    work.apply()
    assert steps.tick(T0 + 5 * H, partition=0).failed == []  # set aside once, not on every tick


def test_an_event_read_again_mends_a_deadline_index_that_lost_its_writes() -> None:
    """A kill -9 can leave the order's state in its changelog without the deadline index's writes of the
    same batch (two tables, no transaction between them): the event, read again, is a duplicate for the
    state, and re-asserts the deadlines the state implies, so its ship-by still fires. (Without the mend
    this test fires nothing: checked on the code before it.)"""
    steps, _, deadlines = order_steps()
    steps.event(order_placed("o-1", ship_by=H), partition=1).apply()
    deadlines.clear()  # the deadline index's changelog records were lost
    again = steps.event(order_placed("o-1", ship_by=H), partition=1)
    assert again.sends == []  # still handled once: nothing sent again
    again.apply()
    work = steps.tick(T0 + 4 * H, partition=1)
    assert [parse_event(s.value, topic="incidents").data.kind for s in work.sends] == ["not_shipped"]


def test_after_a_restart_the_deadline_index_is_rebuilt_from_the_order_states() -> None:
    """The buckets are not kept anywhere but in memory: a new process rebuilds them from order-state (what
    `derive_deadlines` does once the state is recovered), and the clock comes back from its own table."""
    orders: dict[str, Any] = {}
    clock: dict[str, Any] = {}
    steps = OrderSteps(orders, {}, WATCH, clock=clock)
    steps.on_tick(Tick(T0, {}), partition=1).apply()
    steps.event(order_placed("o-1", ship_by=H), partition=1).apply()
    steps.event(order_placed("o-2", ship_by=2 * H, customer_id="cus-2"), partition=1).apply()
    assert set(clock) == {"1|clock"}  # the only thing written beside the state
    derived = DerivedDeadlines()  # the restarted process
    derived.assigned({1}, stored_keys=lambda partition: list(orders), clock=clock,
                     entries=lambda key: order_deadlines(orders[key], WATCH))
    restarted = OrderSteps(orders, derived.buckets, WATCH, clock=clock)
    fired = [parse_event(s.value, topic="incidents").data.order_id for s in restarted.tick(T0 + 4 * H, 1).sends]
    assert fired == ["o-1", "o-2"]


def test_a_batch_sends_its_demand_changes_as_one_record_per_partition_where_their_skus_belong() -> None:
    """Demand changes are many (one per order line) and small: the processing core joins a batch's into one
    record per partition, each change in the partition its SKU's key gives (as the inventory producer's), and
    the stock step reads a bundle as the changes one by one (a SKU changed twice written once)."""
    steps, _, _ = order_steps()
    works = [steps.event(order_placed(f"o-{n}", at=T0 + n * H, customer_id=f"cus-{n}",
                                     lines=((sku, "A thing", 1),)), 0)
             for n, sku in enumerate(["MUG-BLUE", "MUG-RED", "MUG-BLUE", "TEE-S", "CAP-1"])]
    records = [record for work in works for record in work.sends]
    candidate = Send(CANDIDATES, b"cus-9", b"{}")
    combined = bundle_demand(4)([candidate, *records])
    assert combined[0] == candidate
    bundles = combined[1:]
    assert [r.to for r in bundles] == [DEMAND] * len(bundles) and len(bundles) < len(records)
    every = list(range(4))
    for bundle in bundles:
        for change in parse_demand_changes(bundle.value):
            assert DefaultPartitioner()(change.sku.encode(), every, every) == bundle.partition
    assert sorted(c.order_id for b in bundles for c in parse_demand_changes(b.value)) == [f"o-{n}" for n in range(5)]
    one_by_one: dict[str, Any] = {}
    for record in records:
        StockSteps(one_by_one, WATCH).change(parse_demand_change(record.value)).apply()
    together: dict[str, Any] = {}
    for bundle in bundles:
        work = StockSteps(together, WATCH).changes(parse_demand_changes(bundle.value))
        assert work.staged[0].pending == len({c.sku for c in parse_demand_changes(bundle.value)})
        work.apply()
    assert together == one_by_one
    assert parse_demand_changes(records[0].value)[0].order_id == "o-0"  # a lone change, as before bundles
