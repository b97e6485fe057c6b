"""returns' reaction graph: orders, returns and ticks in; incidents and escalations out.

Reads : orders (order.placed only; keyed by order id), returns (keyed by order id, co-partitioned), ticks.returns
Writes: incidents (keyed by customer id), escalations (keyed by customer id), <topic>.dlq
State : per-order returns state and the deadline index, both Faust tables (changelogged).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import faust

from schemas import ESCALATIONS, INCIDENTS, ORDERS, RETURNS, CloudEvent, make_event
from services.common.clock import Clock, SystemClock
from services.common.deadlines import DeadlineIndex, DueEntry
from services.common.metrics import INCIDENTS_EMITTED
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.common.ticks import install_ticker, parse_tick
from services.returns.rules import Deadline, Outcome, ReturnSettings, ReturnsState, on_deadline, on_event
from services.returns.settings import ReturnsEnv

__all__ = ["SERVICE", "SOURCE", "TICKS", "build"]

logger = logging.getLogger(__name__)

SERVICE = "returns"
TICKS = "ticks.returns"
SOURCE = "forewarn/returns"


def build(common: CommonSettings, *, rules: ReturnSettings | None = None, clock: Clock | None = None) -> faust.App:
    """Wire the app: every topic this service reads and writes is named here."""
    rules = rules or ReturnsEnv().rules()
    clock = clock or SystemClock()
    app = create_app(SERVICE, common)
    inputs = full_names(common, [ORDERS, RETURNS])
    tick_name = common.topic(TICKS)
    source = raw_topic(app, *inputs, tick_name)
    incidents = raw_topic(app, common.topic(INCIDENTS))
    escalations = raw_topic(app, common.topic(ESCALATIONS))
    guard = Guard(service=SERVICE, app=app, topics={**inputs, tick_name: TICKS})
    orders = app.Table("return-state", default=None, partitions=common.partitions, key_type=str, value_type=None)
    index = DeadlineIndex(app.Table("return-deadlines", default=None, partitions=common.partitions, key_type=str))
    install_ticker(app, raw_topic(app, tick_name), interval=common.tick_interval_s,
                   partitions=common.partitions, clock=clock)

    async def publish(outcome: Outcome) -> None:
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
            logger.info("resolved %s %s (%s)", resolved.kind, resolved.incident_id, resolved.reason)
        for case in outcome.escalations:
            event = make_event("escalation.opened", case, source=SOURCE, subject=case.customer_id,
                               time=case.opened_at, id=case.escalation_id)
            await _send(escalations, event)
            logger.info("escalation %s (%s) on order %s", case.escalation_id, case.reason, case.order_id)

    def reschedule(outcome: Outcome, partition: int) -> None:
        for deadline in outcome.cancel:
            index.cancel(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))
        for deadline in outcome.schedule:
            index.schedule(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))

    def save(order_id: str, before: ReturnsState | None, outcome: Outcome) -> None:
        if outcome.state is before:
            return  # nothing changed: no changelog write
        if outcome.state is None:
            if order_id in orders:
                del orders[order_id]
        else:
            orders[order_id] = outcome.state.model_dump(mode="json", exclude_defaults=True)

    def load(order_id: str) -> ReturnsState | None:
        raw = orders.get(order_id)
        return ReturnsState.model_validate(raw) if raw is not None else None

    async def on_tick(value: bytes, partition: int) -> None:
        """Fire what is due. Each popped entry is re-armed until it is handled, so neither a retry nor a
        crash half way through loses it; firing twice is harmless (the rules re-check the state)."""
        now = parse_tick(value)
        due = index.pop_due(partition, now)
        for entry in due:
            index.schedule(partition, entry)
        for entry in due:
            state = load(entry.ref)
            if state is None:
                index.cancel(partition, entry)
                continue
            outcome = on_deadline(state, Deadline(entry.due, entry.kind, entry.ref), now, rules)
            if outcome.state is None and state.early:
                logger.warning("dropped %d return events held for order %s: its order.placed never came",
                               len(state.early), entry.ref)
            await publish(outcome)
            save(entry.ref, state, outcome)
            index.cancel(partition, entry)
            reschedule(outcome, partition)

    async def on_order_event(event: CloudEvent, partition: int) -> None:
        """Publish first, then remember: a retry or a crash in between re-publishes the same ids, never loses them."""
        order_id = event.subject
        state = load(order_id)
        outcome = on_event(state, event, rules)
        await publish(outcome)
        save(order_id, state, outcome)
        reschedule(outcome, partition)

    @app.agent(source, concurrency=1)
    async def follow_returns(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            if event.message.topic == tick_name:
                await guard.handle(event, functools.partial(on_tick, partition=partition), parse=False)
            else:
                await guard.handle(event, functools.partial(on_order_event, partition=partition))

    return app


async def _send(topic: faust.TopicT, event: CloudEvent) -> None:
    """Send and wait for the broker's ack before the source message can be committed."""
    pending = await topic.send(key=event.key(), value=event.to_bytes())
    await pending
