"""order_watcher's reaction graph: orders, shipments, payments and ticks in; incidents out.

Reads : orders, shipments, payments (all keyed by order id, co-partitioned), ticks.order-watcher
Writes: incidents (keyed by customer id), <topic>.dlq
State : order state per order id, and the deadline index, both Faust tables (changelogged).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schemas import INCIDENTS, ORDERS, PAYMENTS, SHIPMENTS, CloudEvent, make_event
from services.common.clock import Clock, SystemClock
from services.common.deadlines import DeadlineIndex, DueEntry
from services.common.metrics import INCIDENTS_EMITTED
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.common.ticks import install_ticker, parse_tick
from services.order_watcher.rules import Deadline, OrderState, Outcome, WatchSettings, on_deadline, on_event

__all__ = ["SERVICE", "TICKS", "build"]

logger = logging.getLogger(__name__)

SERVICE = "order-watcher"
TICKS = "ticks.order-watcher"
SOURCE = "forewarn/order-watcher"


def build(common: CommonSettings, *, watch: WatchSettings | None = None, clock: Clock | None = None) -> faust.App:
    """Wire the app: every topic this service reads and writes is named here."""
    watch = watch or WatchSettings()
    clock = clock or SystemClock()
    app = create_app(SERVICE, common)
    inputs = full_names(common, [ORDERS, SHIPMENTS, PAYMENTS])
    tick_name = common.topic(TICKS)
    source = raw_topic(app, *inputs, tick_name)
    incidents = raw_topic(app, common.topic(INCIDENTS))
    guard = Guard(service=SERVICE, app=app, topics={**inputs, tick_name: TICKS})
    orders = app.Table("order-state", default=None, partitions=common.partitions, key_type=str, value_type=None)
    index = DeadlineIndex(app.Table("order-deadlines", default=None, partitions=common.partitions, key_type=str))
    install_ticker(app, raw_topic(app, tick_name), interval=common.tick_interval_s,
                   partitions=common.partitions, clock=clock)

    async def publish(outcome: Outcome, partition: int) -> None:
        for incident in outcome.incidents:
            event = make_event("incident.detected", incident, source=SOURCE, subject=incident.customer.id,
                               time=incident.detected_at, id=incident.incident_id)
            await _send(incidents, event)
            INCIDENTS_EMITTED.labels(incident.kind).inc()
            logger.info("incident %s %s on order %s", incident.kind, incident.incident_id, incident.order_id)
        for resolved in outcome.resolutions:
            event = make_event("incident.resolved", resolved, source=SOURCE, subject=resolved.customer_id,
                               time=resolved.resolved_at, id=f"{resolved.incident_id}:resolved")
            await _send(incidents, event)
        for deadline in outcome.cancel:
            index.cancel(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))
        for deadline in outcome.schedule:
            index.schedule(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))

    def save(order_id: str, state: OrderState | None) -> None:
        if state is None:
            if order_id in orders:
                del orders[order_id]
        else:
            orders[order_id] = state.model_dump(mode="json", exclude_defaults=True)

    def load(order_id: str) -> OrderState | None:
        raw = orders.get(order_id)
        return OrderState.model_validate(raw) if raw is not None else None

    @app.agent(source, concurrency=1)
    async def watch_orders(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            if event.message.topic == tick_name:
                async def on_tick(value: bytes, partition: int = partition) -> None:
                    now = parse_tick(value)
                    for entry in index.pop_due(partition, now):
                        state = load(entry.ref)
                        if state is None:
                            continue
                        outcome = on_deadline(state, Deadline(entry.due, entry.kind, entry.ref), now, watch)
                        save(entry.ref, outcome.state)
                        await publish(outcome, partition)

                await guard.handle(event, on_tick, parse=False)
            else:
                async def on_order_event(parsed: CloudEvent, partition: int = partition) -> None:
                    order_id = parsed.subject
                    outcome = on_event(load(order_id), parsed, watch)
                    save(order_id, outcome.state)
                    await publish(outcome, partition)

                await guard.handle(event, on_order_event)

    return app


async def _send(topic: faust.TopicT, event: CloudEvent) -> None:
    """Send and wait for the broker's ack before the source message can be committed."""
    pending = await topic.send(key=event.key(), value=event.to_bytes())
    await pending
