"""order_watcher's reaction graph: every topic it reads and writes, and the agent for each key.

    orders, shipments, payments, ticks.order-watcher  (order id)  --> watch_orders   [order-state, order-deadlines]
        (order-deadlines holds each partition's deadline clock; the deadline index itself is derived from
        order-state, in memory, rebuilt when a partition is assigned: `services.common.deadlines.DerivedDeadlines`)
        --> order-watcher.demand-by-sku (by SKU: a batch's changes, one record per partition),
            incident-candidates (customer id)
    order-watcher.demand-by-sku, inventory            (SKU)       --> watch_stock    [sku-demand]
        --> incident-candidates (customer id)
    incident-candidates (also fed by returns)         (customer)  --> escalate       [trouble-history]
        --> incidents (customer id), escalations (customer id)
    every input --> <input>.dlq when it cannot be handled

Topics read by one agent are co-partitioned (same partition count, same key space), so a
table written while handling a message lives in that message's partition. Each agent runs with
concurrency 1 and takes its messages in batches (`faust_patches.take_ready`: a batch goes once
messages stop coming, when it holds `FOREWARN_WATCH_BATCH_SIZE`, or `FOREWARN_WATCH_BATCH_WAIT_S`
after it began). Every message a batch produces is acknowledged by the broker before the batch's
table writes are applied and before its source messages can be committed: each agent runs its
step through the one processing core (`services.common.processing`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

import faust

from schemas import ESCALATIONS, INCIDENT_CANDIDATES, INCIDENTS, INVENTORY, ORDERS, PAYMENTS, SHIPMENTS
from services.common.clock import Clock, SystemClock
from services.common.deadlines import DerivedDeadlines
from services.common.faust_patches import take_ready
from services.common.metrics import INCIDENTS_EMITTED
from services.common.processing import BatchStaged, Processor
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.common.ticks import clocked_step, derive_deadlines, install_ticker, note_recovered
from services.common.watermark import Watermark
from services.order_watcher import steps
from services.order_watcher.rules import WatchSettings
from services.order_watcher.settings import OrderWatcherSettings

__all__ = ["DEMAND_BY_SKU", "INTERNAL_TOPICS", "SERVICE", "TICKS", "build"]

logger = logging.getLogger(__name__)

SERVICE: Final = "order-watcher"
TICKS: Final = "ticks.order-watcher"
DEMAND_BY_SKU: Final = "order-watcher.demand-by-sku"
"""Internal: order lines opened and closed, keyed by SKU, co-partitioned with `inventory`."""
INTERNAL_TOPICS: Final = (TICKS, DEMAND_BY_SKU)
"""Topics this service needs beyond the registry (created with the same partition count). The incident
candidates every detector feeds (this service and returns) are in the registry: `schemas.INCIDENT_CANDIDATES`."""

def build(
    common: CommonSettings, *, watch: WatchSettings | None = None, clock: Clock | None = None,
    settings: OrderWatcherSettings | None = None,
) -> faust.App:
    """Wire the app: every topic this service reads and writes is named here."""
    settings = settings or OrderWatcherSettings()
    watch = watch or settings.rules()
    clock = clock or SystemClock()
    app = create_app(SERVICE, common)
    partitions = common.partitions
    size, within = settings.batch_size, settings.batch_wait_s

    def table(name: str) -> Any:
        """A changelogged table of state as JSON bytes per key, stored as they are (see `steps`)."""
        return app.Table(name, default=None, partitions=partitions, key_type=str, value_type=bytes)

    order_inputs = full_names(common, [ORDERS, SHIPMENTS, PAYMENTS])
    tick_name, demand_name = (common.topic(t) for t in INTERNAL_TOPICS)
    candidates_name = common.topic(INCIDENT_CANDIDATES)
    inventory_name = common.topic(INVENTORY)
    outlets: dict[str, faust.TopicT] = {
        steps.DEMAND: raw_topic(app, demand_name),
        steps.CANDIDATES: raw_topic(app, candidates_name),
        steps.INCIDENTS: raw_topic(app, common.topic(INCIDENTS)),
        steps.ESCALATIONS: raw_topic(app, common.topic(ESCALATIONS)),
    }
    install_ticker(app, raw_topic(app, tick_name), interval=common.tick_interval_s, partitions=partitions, clock=clock,
                   inputs=list(order_inputs), bootstrap=common.kafka_bootstrap_servers)

    # -- by order id: orders, shipments, payments and ticks -------------------------------------------
    derived = DerivedDeadlines()  # the deadline index: in memory, a function of order-state
    order_state = app.Table("order-state", default=None, partitions=partitions, key_type=str, value_type=bytes,
                            on_changelog_event=note_recovered(derived))
    # each partition's deadline clock (cursor and read positions), one key a partition
    deadline_clock = app.Table("order-deadlines", default=None, partitions=partitions, key_type=str)
    order_guard = Guard(service=SERVICE, app=app, topics={**order_inputs, tick_name: TICKS})
    hold = timedelta(seconds=common.overdue_hold_s)
    derive_deadlines(app, order_state, deadline_clock, derived, hold=hold,
                     entries=lambda value: steps.order_deadlines(value, watch))
    watermark = Watermark(order_inputs)  # what this process read of each input, for the ticks to judge

    order_step = clocked_step(app, order_guard, tick_name, watermark, lambda views: steps.OrderSteps(
        views[0], views[1], watch, clock=views[2], hold=hold, watermark=watermark))

    async def order_settled(event: Any, work: steps.Work) -> None:
        await _dead_letter_deadlines(order_guard, tick_name, event, work)  # deadlines that could not fire
        report(work)

    orders = Processor(order_guard, outlets, order_step, (order_state, derived.buckets, deadline_clock),
                       settle=order_settled, combine=steps.bundle_demand(partitions))

    @app.agent(raw_topic(app, *order_inputs, tick_name), concurrency=1)
    async def watch_orders(stream: Any) -> None:
        async for batch in take_ready(stream, size, within):
            await orders.process(batch)

    # -- by SKU: order lines (from watch_orders) and stock levels -------------------------------------
    sku_demand = table("sku-demand")
    stock_guard = Guard(service=SERVICE, app=app, topics={demand_name: DEMAND_BY_SKU, inventory_name: INVENTORY})

    parsed_demand = steps.ParsedDemand()  # hot SKUs' states, parsed once (see `ParsedDemand`)

    async def stock_step(event: Any, views: Sequence[BatchStaged]) -> steps.Work | None:
        stock_steps = steps.StockSteps(views[0], watch, parsed_demand)
        if event.message.topic == demand_name:
            return stock_steps.changes(steps.parse_demand_changes(event.value))
        parsed = await stock_guard.parse(event)
        return None if parsed is None else stock_steps.stock(parsed)

    stock = Processor(stock_guard, outlets, stock_step, (sku_demand,), settle=_reported)

    @app.agent(raw_topic(app, demand_name, inventory_name), concurrency=1)
    async def watch_stock(stream: Any) -> None:
        async for batch in take_ready(stream, size, within):
            await stock.process(batch)

    # -- by customer id: every detector's incident candidates (orders, stock, returns), for repeated trouble
    histories = table("trouble-history")
    escalation_guard = Guard(service=SERVICE, app=app, topics={candidates_name: INCIDENT_CANDIDATES})

    async def escalation_step(event: Any, views: Sequence[BatchStaged]) -> steps.Work | None:
        parsed = await escalation_guard.parse(event)
        return None if parsed is None else steps.EscalationSteps(views[0], watch).candidate(parsed)

    escalations = Processor(escalation_guard, outlets, escalation_step, (histories,), settle=_reported)

    @app.agent(raw_topic(app, candidates_name), concurrency=1)
    async def escalate(stream: Any) -> None:
        async for batch in take_ready(stream, size, within):
            await escalations.process(batch)

    return app


async def _reported(event: Any, work: steps.Work) -> None:
    report(work)


def report(work: steps.Work) -> None:
    """Count and log the incidents a step published (once its sends are acknowledged)."""
    for incident in work.published:
        INCIDENTS_EMITTED.labels(incident.kind).inc()
        logger.info("incident %s %s on order %s%s", incident.kind, incident.incident_id, incident.order_id,
                    f" (escalated, tier {incident.escalation_tier})" if incident.escalate else "")


async def _dead_letter_deadlines(guard: Guard, topic: str, event: Any, work: steps.Work) -> None:
    """Deadlines that could not be fired go to the tick topic's dead-letter topic, one record each."""
    partition, offset = event.message.partition, event.message.offset
    for entry, exc in work.failed:
        value = json.dumps({"ref": entry.ref, "kind": entry.kind, "due": entry.due.isoformat()}).encode()
        await guard.sink.send(topic=topic, partition=partition, offset=offset, key=entry.ref.encode(), value=value,
                              exc=exc)
