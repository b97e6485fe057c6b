"""returns' reaction graph: orders, returns and ticks in; incident candidates out.

Reads : orders (order.placed only; keyed by order id), returns (keyed by order id, co-partitioned), ticks.returns
Writes: incident-candidates (keyed by customer id): detections, withdrawals and the cases it wants a person
        for, in that order; the one per-customer repeated-trouble step (order_watcher's `escalate`) publishes
        them to incidents and escalations, so a late parcel and an overdue refund count as two bad experiences.
        <topic>.dlq
State : per-order returns state and the deadline index, both Faust tables (changelogged).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

import faust

from schemas import INCIDENT_CANDIDATES, ORDERS, RETURNS, CloudEvent, make_event
from services.common.clock import Clock, SystemClock
from services.common.deadlines import DeadlineIndex, DueEntry
from services.common.metrics import INCIDENTS_EMITTED
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.common.ticks import committed_positions, install_ticker, parse_tick
from services.common.watermark import Watermark
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
    candidates = raw_topic(app, common.topic(INCIDENT_CANDIDATES))
    guard = Guard(service=SERVICE, app=app, topics={**inputs, tick_name: TICKS})
    orders = app.Table("return-state", default=None, partitions=common.partitions, key_type=str, value_type=None)
    index = DeadlineIndex(app.Table("return-deadlines", default=None, partitions=common.partitions, key_type=str),
                          hold=timedelta(seconds=common.overdue_hold_s))
    install_ticker(app, raw_topic(app, tick_name), interval=common.tick_interval_s, partitions=common.partitions,
                   clock=clock, inputs=list(inputs), bootstrap=common.kafka_bootstrap_servers)
    watermark = Watermark(inputs)  # what this process read of each input, for the ticks to judge

    async def publish(outcome: Outcome) -> None:
        for incident in outcome.incidents:
            event = make_event("incident.detected", incident, source=SOURCE, subject=incident.customer.id,
                               time=incident.detected_at, id=incident.incident_id)
            await _send(candidates, event)
            INCIDENTS_EMITTED.labels(incident.kind).inc()
            logger.info("incident %s %s on order %s", incident.kind, incident.incident_id, incident.order_id)
        for resolved in outcome.resolutions:
            event = make_event("incident.resolved", resolved, source=SOURCE, subject=resolved.customer_id,
                               time=resolved.resolved_at, id=f"{resolved.incident_id}:resolved")
            await _send(candidates, event)
            logger.info("resolved %s %s (%s)", resolved.kind, resolved.incident_id, resolved.reason)
        for case in outcome.escalations:
            event = make_event("escalation.opened", case, source=SOURCE, subject=case.customer_id,
                               time=case.opened_at, id=case.escalation_id)
            await _send(candidates, event)
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
        """Fire what is due by the partition's watermark (see `services.common.watermark`): nothing fires
        while orders or returns of this partition have not been read far enough to tell."""
        recorded = index.read_positions(partition)
        for topic, offset in committed_positions(app, list(inputs), partition).items():  # handled, state written
            recorded[topic] = max(recorded.get(topic, 0), offset)
        now = watermark.at_tick(partition, parse_tick(value), recorded)
        index.record_read(partition, watermark.positions(partition))
        if now is not None:
            await fire_due(now, partition)

    async def fire_due(now: datetime, partition: int) -> None:
        """Each popped entry is re-armed until it is handled, so neither a retry nor a crash half way
        through loses it; firing twice is harmless (the rules re-check the state)."""
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

    async def on_order_event(event: CloudEvent, message: Any) -> None:
        """Publish first, then remember: a retry or a crash in between re-publishes the same ids, never loses them."""
        partition = message.partition
        watermark.read(message.topic, partition, message.offset, event.time)
        order_id = event.subject
        state = load(order_id)
        outcome = on_event(state, event, rules)
        await publish(outcome)
        save(order_id, state, outcome)
        reschedule(outcome, partition)
        now = watermark.catch_up(partition)  # the last record a tick was waiting for: fire what it held
        if now is not None:
            await fire_due(now, partition)

    @app.agent(source, concurrency=1)
    async def follow_returns(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            if event.message.topic == tick_name:
                await guard.handle(event, functools.partial(on_tick, partition=partition), parse=False)
            else:
                watermark.read(event.message.topic, partition, event.message.offset)  # dead-lettered or not
                await guard.handle(event, functools.partial(on_order_event, message=event.message))

    return app


async def _send(topic: faust.TopicT, event: CloudEvent) -> None:
    """Send and wait for the broker's ack before the source message can be committed."""
    pending = await topic.send(key=event.key(), value=event.to_bytes())
    await pending
