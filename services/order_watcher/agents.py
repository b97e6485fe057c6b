"""order_watcher's reaction graph: every topic it reads and writes, and the agent for each key.

    orders, shipments, payments, ticks.order-watcher  (order id)  --> watch_orders   [order-state, order-deadlines]
        --> order-watcher.demand-by-sku (SKU), incident-candidates (customer id)
    order-watcher.demand-by-sku, inventory            (SKU)       --> watch_stock    [sku-demand]
        --> incident-candidates (customer id)
    incident-candidates (also fed by returns)         (customer)  --> escalate       [trouble-history]
        --> incidents (customer id), escalations (customer id)
    every input --> <input>.dlq when it cannot be handled

Topics read by one agent are co-partitioned (same partition count, same key space), so a
table written while handling a message lives in that message's partition. Each agent runs with
concurrency 1 and takes its messages in batches (`FOREWARN_WATCH_BATCH_SIZE`, waiting at most
`FOREWARN_WATCH_BATCH_WAIT_S` to fill one). Every message a batch produces is acknowledged by the
broker before the batch's table writes are applied and before its source messages can be
committed (see `batches`, `steps`, `staging`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any, Final

import faust

from schemas import ESCALATIONS, INCIDENT_CANDIDATES, INCIDENTS, INVENTORY, ORDERS, PAYMENTS, SHIPMENTS, CloudEvent
from services.common.clock import Clock, SystemClock
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.common.ticks import committed_positions, install_ticker, parse_tick
from services.common.watermark import Watermark
from services.order_watcher import steps
from services.order_watcher.batches import Agent, handle_batch, report
from services.order_watcher.rules import WatchSettings
from services.order_watcher.settings import OrderWatcherSettings
from services.order_watcher.staging import BatchStaged

__all__ = ["DEMAND_BY_SKU", "INTERNAL_TOPICS", "SERVICE", "TICKS", "build"]

logger = logging.getLogger(__name__)

SERVICE: Final = "order-watcher"
TICKS: Final = "ticks.order-watcher"
DEMAND_BY_SKU: Final = "order-watcher.demand-by-sku"
"""Internal: order lines opened and closed, keyed by SKU, co-partitioned with `inventory`."""
INTERNAL_TOPICS: Final = (TICKS, DEMAND_BY_SKU)
"""Topics this service needs beyond the registry (created with the same partition count). The incident
candidates every detector feeds (this service and returns) are in the registry: `schemas.INCIDENT_CANDIDATES`."""

Handler = Callable[[Any], Awaitable[None]]


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
    order_state = table("order-state")
    deadlines = app.Table("order-deadlines", default=None, partitions=partitions, key_type=str)  # small JSON lists
    order_guard = Guard(service=SERVICE, app=app, topics={**order_inputs, tick_name: TICKS})
    hold = timedelta(seconds=common.overdue_hold_s)
    watermark = Watermark(order_inputs)  # what this process read of each input, for the ticks to judge
    order_one = _order_handler(app, steps.OrderSteps(order_state, deadlines, watch, hold=hold, watermark=watermark),
                               watermark, order_guard, outlets, tick_name)

    @app.agent(raw_topic(app, *order_inputs, tick_name), concurrency=1)
    async def watch_orders(stream: Any) -> None:
        async for batch in stream.take_events(size, within=within):
            layers = (BatchStaged(order_state), BatchStaged(deadlines))
            batch_steps = steps.OrderSteps(*layers, watch, hold=hold, watermark=watermark)

            async def decide(event: Any, batch_steps: steps.OrderSteps = batch_steps) -> steps.Work | None:
                message = event.message
                if message.topic == tick_name:
                    committed = committed_positions(app, list(order_inputs), message.partition)
                    return batch_steps.on_tick(parse_tick(event.value), message.partition, committed)
                watermark.read(message.topic, message.partition, message.offset)  # dead-lettered or not
                parsed = await order_guard.parse(event)
                return None if parsed is None else _order_event(batch_steps, watermark, message, parsed)

            failed = partial(_dead_letter_deadlines, order_guard, tick_name)
            await handle_batch(batch, layers, Agent(order_guard, outlets, decide, order_one, failed))

    # -- by SKU: order lines (from watch_orders) and stock levels -------------------------------------
    sku_demand = table("sku-demand")
    stock_guard = Guard(service=SERVICE, app=app, topics={demand_name: DEMAND_BY_SKU, inventory_name: INVENTORY})
    stock_one = _stock_handler(steps.StockSteps(sku_demand, watch), stock_guard, outlets, demand_name)

    @app.agent(raw_topic(app, demand_name, inventory_name), concurrency=1)
    async def watch_stock(stream: Any) -> None:
        async for batch in stream.take_events(size, within=within):
            layer = BatchStaged(sku_demand)
            batch_steps = steps.StockSteps(layer, watch)

            async def decide(event: Any, batch_steps: steps.StockSteps = batch_steps) -> steps.Work | None:
                if event.message.topic == demand_name:
                    return batch_steps.change(steps.parse_demand_change(event.value))
                parsed = await stock_guard.parse(event)
                return None if parsed is None else batch_steps.stock(parsed)

            await handle_batch(batch, (layer,), Agent(stock_guard, outlets, decide, stock_one))

    # -- by customer id: every detector's incident candidates (orders, stock, returns), for repeated trouble
    histories = table("trouble-history")
    escalation_guard = Guard(service=SERVICE, app=app, topics={candidates_name: INCIDENT_CANDIDATES})
    escalation_one = _guarded(escalation_guard, _delivering(steps.EscalationSteps(histories, watch).candidate, outlets))

    @app.agent(raw_topic(app, candidates_name), concurrency=1)
    async def escalate(stream: Any) -> None:
        async for batch in stream.take_events(size, within=within):
            layer = BatchStaged(histories)
            batch_steps = steps.EscalationSteps(layer, watch)

            async def decide(event: Any, batch_steps: steps.EscalationSteps = batch_steps) -> steps.Work | None:
                parsed = await escalation_guard.parse(event)
                return None if parsed is None else batch_steps.candidate(parsed)

            await handle_batch(batch, (layer,), Agent(escalation_guard, outlets, decide, escalation_one))

    return app


OneAtATime = Callable[[Any], Awaitable[bool]]


def _guarded(guard: Guard, handler: Handler, *, parse: bool = True) -> OneAtATime:
    return partial(guard.handle, handler=handler, parse=parse)


def _order_handler(app: faust.App, order_steps: steps.OrderSteps, watermark: Watermark, guard: Guard,
                   outlets: Mapping[str, faust.TopicT], tick_name: str) -> OneAtATime:
    """One order event or tick the one-at-a-time way (the fallback of a batch whose sends failed)."""

    async def one(event: Any) -> bool:
        message = event.message
        dead_letter = partial(_dead_letter_deadlines, guard, tick_name, event)  # deadlines fire on both paths
        if message.topic == tick_name:
            on_tick = partial(_tick, order_steps, message.partition,
                              committed_positions(app, list(watermark.inputs), message.partition))
            return await guard.handle(event, _delivering(on_tick, outlets, dead_letter), parse=False)
        watermark.read(message.topic, message.partition, message.offset)
        on_event = partial(_order_event, order_steps, watermark, message)
        return await guard.handle(event, _delivering(on_event, outlets, dead_letter))

    return one


def _stock_handler(stock_steps: steps.StockSteps, guard: Guard, outlets: Mapping[str, faust.TopicT],
                   demand_name: str) -> OneAtATime:
    on_change = _delivering(lambda value: stock_steps.change(steps.parse_demand_change(value)), outlets)
    on_stock = _delivering(stock_steps.stock, outlets)

    async def one(event: Any) -> bool:
        if event.message.topic == demand_name:
            return await guard.handle(event, on_change, parse=False)
        return await guard.handle(event, on_stock)

    return one


def _tick(order_steps: steps.OrderSteps, partition: int, committed: Mapping[str, int], value: bytes) -> steps.Work:
    return order_steps.on_tick(parse_tick(value), partition, committed)


def _order_event(order_steps: steps.OrderSteps, watermark: Watermark, message: Any, event: CloudEvent) -> steps.Work:
    watermark.read(message.topic, message.partition, message.offset, event.time)
    return order_steps.event(event, message.partition)


async def _dead_letter_deadlines(guard: Guard, topic: str, event: Any, work: steps.Work) -> None:
    """Deadlines that could not be fired go to the tick topic's dead-letter topic, one record each."""
    partition, offset = event.message.partition, event.message.offset
    for entry, exc in work.failed:
        value = json.dumps({"ref": entry.ref, "kind": entry.kind, "due": entry.due.isoformat()}).encode()
        await guard.sink.send(topic=topic, partition=partition, offset=offset, key=entry.ref.encode(), value=value,
                              exc=exc)


def _delivering(
    step: Callable[[Any], steps.Work], outlets: Mapping[str, faust.TopicT],
    dead_letter: Callable[[steps.Work], Awaitable[None]] | None = None,
) -> Handler:
    """A Guard handler: run the step, send its messages, wait for every ack, then apply its table writes."""

    async def handle(payload: Any) -> None:
        work = step(payload)
        pending = [await outlets[s.to].send(key=s.key, value=s.value) for s in work.sends]
        if pending:
            await asyncio.gather(*pending)  # the broker has all of it before the writes and the commit
        if work.failed and dead_letter is not None:
            await dead_letter(work)
        work.apply()
        report(work)

    return handle
