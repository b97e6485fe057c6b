"""returns' reaction graph: orders, returns and ticks in; incident candidates out.

Reads : orders (order.placed only; keyed by order id), returns (keyed by order id, co-partitioned), ticks.returns
Writes: incident-candidates (keyed by customer id): detections, withdrawals and the cases it wants a person
        for, in that order; the one per-customer repeated-trouble step (order_watcher's `escalate`) publishes
        them to incidents and escalations, so a late parcel and an overdue refund count as two bad experiences.
        <topic>.dlq
State : per-order returns state (a Faust table, changelogged); the deadline index, in memory, derived from that
        state (rebuilt when a partition is assigned, `services.common.deadlines.DerivedDeadlines`); each
        partition's deadline clock (cursor and read positions) in the small `return-deadlines` table.

The agent takes its messages in batches and runs `ReturnSteps` through the processing core
(`services.common.processing`): what a batch publishes is acknowledged by the broker before any
of its state is written and before its offsets can be committed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import faust

from schemas import INCIDENT_CANDIDATES, ORDERS, RETURNS, CloudEvent, make_event
from services.common.clock import Clock, SystemClock
from services.common.deadlines import DeadlineIndex, DerivedDeadlines, DueEntry
from services.common.faust_patches import take_ready
from services.common.metrics import INCIDENTS_EMITTED
from services.common.processing import Processor, Send, Staged, Work
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.common.ticks import clocked_step, derive_deadlines, install_ticker, note_recovered
from services.common.watermark import Tick, Watermark
from services.returns.rules import (
    Deadline,
    Outcome,
    ReturnSettings,
    ReturnsState,
    on_deadline,
    on_event,
    pending_deadlines,
)
from services.returns.settings import ReturnsSettings

__all__ = ["SERVICE", "SOURCE", "TICKS", "ReturnSteps", "ReturnsWork", "build", "return_deadlines"]

logger = logging.getLogger(__name__)

SERVICE = "returns"
TICKS = "ticks.returns"
SOURCE = "forewarn/returns"
CANDIDATES: Final = "candidates"
"""The one outlet: detections, withdrawals and cases, keyed by customer id."""


def build(common: CommonSettings, *, rules: ReturnSettings | None = None, clock: Clock | None = None,
          settings: ReturnsSettings | None = None) -> faust.App:
    """Wire the app: every topic this service reads and writes is named here."""
    settings = settings or ReturnsSettings()
    rules = rules or settings.rules()
    clock = clock or SystemClock()
    app = create_app(SERVICE, common)
    inputs = full_names(common, [ORDERS, RETURNS])
    tick_name = common.topic(TICKS)
    source = raw_topic(app, *inputs, tick_name)
    outlets = {CANDIDATES: raw_topic(app, common.topic(INCIDENT_CANDIDATES))}
    guard = Guard(service=SERVICE, app=app, topics={**inputs, tick_name: TICKS})
    derived = DerivedDeadlines()  # the deadline index: in memory, a function of return-state
    orders = app.Table("return-state", default=None, partitions=common.partitions, key_type=str, value_type=None,
                       on_changelog_event=note_recovered(derived))
    deadline_clock = app.Table("return-deadlines", default=None, partitions=common.partitions, key_type=str)
    hold = timedelta(seconds=common.overdue_hold_s)
    derive_deadlines(app, orders, deadline_clock, derived, hold=hold,
                     entries=lambda value: return_deadlines(value, rules))
    install_ticker(app, raw_topic(app, tick_name), interval=common.tick_interval_s, partitions=common.partitions,
                   clock=clock, inputs=list(inputs), bootstrap=common.kafka_bootstrap_servers)
    watermark = Watermark(inputs)  # what this process read of each input, for the ticks to judge

    step = clocked_step(app, guard, tick_name, watermark, lambda views: ReturnSteps(
        views[0], views[1], rules, clock=views[2], hold=hold, watermark=watermark))
    returns = Processor(guard, outlets, step, (orders, derived.buckets, deadline_clock), settle=_reported)

    @app.agent(source, concurrency=1)
    async def follow_returns(stream: Any) -> None:
        async for batch in take_ready(stream, settings.batch_size, settings.batch_wait_s):
            await returns.process(batch)

    return app


@dataclass
class ReturnsWork(Work):
    """What one returns step decided: the records, the staged writes, and the outcomes (logged once acknowledged)."""

    outcomes: list[Outcome] = field(default_factory=list)


class ReturnSteps:
    """The returns rules over the `return-state` table (keyed by order id), the deadline index's buckets and its clock.

    No Kafka here: each step reads and writes through `Staged` views and returns a `ReturnsWork`, whose
    records the processing core sends (and awaits) before any write reaches a table. `deadlines` holds the
    buckets (in the service, in memory: `DerivedDeadlines`), `clock` each partition's cursor and read
    positions (the same mapping as `deadlines` when not given)."""

    def __init__(self, orders: MutableMapping[str, Any], deadlines: MutableMapping[str, Any], rules: ReturnSettings,
                 *, clock: MutableMapping[str, Any] | None = None, hold: timedelta = timedelta(0),
                 watermark: Watermark | None = None) -> None:
        self.orders = Staged(orders)
        self.deadlines = Staged(deadlines)
        self.clock = self.deadlines if clock is None else Staged(clock)
        self.index = DeadlineIndex(self.deadlines, clock=self.clock, hold=hold)
        self.rules = rules
        self.watermark = watermark or Watermark(())

    def on_tick(self, tick: Tick, partition: int, committed: Mapping[str, int]) -> ReturnsWork:
        """Fire what is due by the partition's watermark (see `services.common.watermark`): nothing fires
        while orders or returns of this partition have not been read far enough to tell."""
        work = self._work()
        recorded = self.index.read_positions(partition)
        for topic, offset in committed.items():
            recorded[topic] = max(recorded.get(topic, 0), offset)
        now = self.watermark.at_tick(partition, tick, recorded)
        self.index.record_read(partition, self.watermark.positions(partition))
        if now is not None:
            self._fire_due(work, now, partition)
        return work

    def event(self, event: CloudEvent, partition: int) -> ReturnsWork:
        """An order or return event of the order `event.subject`; then, if it was the last record a tick was
        waiting for, what is due by the partition's watermark fires (see `Watermark.catch_up`)."""
        work = self._work()
        order_id = event.subject
        state = self._load(order_id)
        self._fold(work, order_id, state, on_event(state, event, self.rules), partition)
        now = self.watermark.catch_up(partition)
        if now is not None:
            self._fire_due(work, now, partition)
        return work

    def _work(self) -> ReturnsWork:
        staged = [self.orders, self.deadlines] + ([self.clock] if self.clock is not self.deadlines else [])
        return ReturnsWork(staged=staged)

    def _fire_due(self, work: ReturnsWork, now: datetime, partition: int) -> None:
        for entry in self.index.pop_due(partition, now):
            state = self._load(entry.ref)
            if state is None:
                continue  # forgotten since
            outcome = on_deadline(state, Deadline(entry.due, entry.kind, entry.ref), now, self.rules)
            if outcome.state is None and state.early:
                logger.warning("dropped %d return events held for order %s: its order.placed never came",
                               len(state.early), entry.ref)
            self._fold(work, entry.ref, state, outcome, partition)

    def _fold(self, work: ReturnsWork, order_id: str, before: ReturnsState | None, outcome: Outcome,
              partition: int) -> None:
        work.outcomes.append(outcome)
        work.sends.extend(_candidates(outcome))
        if outcome.state is not before:  # the very object back: nothing changed, no changelog write
            if outcome.state is None:
                if order_id in self.orders:
                    del self.orders[order_id]
            else:
                self.orders[order_id] = outcome.state.model_dump(mode="json", exclude_defaults=True)
        for deadline in outcome.cancel:  # cancel before schedule: a rescheduled deadline stays
            self.index.cancel(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))
        for deadline in outcome.schedule:
            self.index.schedule(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))

    def _load(self, order_id: str) -> ReturnsState | None:
        raw = self.orders.get(order_id)
        return ReturnsState.model_validate(raw) if raw is not None else None


def return_deadlines(value: Any, rules: ReturnSettings) -> list[DueEntry]:
    """The deadline index's entries a stored returns state implies (to rebuild the index from the state)."""
    state = ReturnsState.model_validate(value)
    return [DueEntry(d.due, d.order_id, d.kind) for d in pending_deadlines(state, rules)]


def _candidates(outcome: Outcome) -> list[Send]:
    """Detections, then withdrawals, then cases, all to the incident candidates (keyed by customer id)."""
    events = [
        *(make_event("incident.detected", incident, source=SOURCE, subject=incident.customer.id,
                     time=incident.detected_at, id=incident.incident_id) for incident in outcome.incidents),
        *(make_event("incident.resolved", resolved, source=SOURCE, subject=resolved.customer_id,
                     time=resolved.resolved_at, id=f"{resolved.incident_id}:resolved")
          for resolved in outcome.resolutions),
        *(make_event("escalation.opened", case, source=SOURCE, subject=case.customer_id, time=case.opened_at,
                     id=case.escalation_id) for case in outcome.escalations),
    ]
    return [Send(CANDIDATES, event.key(), event.to_bytes()) for event in events]


async def _reported(event: Any, work: ReturnsWork) -> None:
    """Count and log what a step published, once the broker has acknowledged it."""
    for outcome in work.outcomes:
        for incident in outcome.incidents:
            INCIDENTS_EMITTED.labels(incident.kind).inc()
            logger.info("incident %s %s on order %s", incident.kind, incident.incident_id, incident.order_id)
        for resolved in outcome.resolutions:
            logger.info("resolved %s %s (%s)", resolved.kind, resolved.incident_id, resolved.reason)
        for case in outcome.escalations:
            logger.info("escalation %s (%s) on order %s", case.escalation_id, case.reason, case.order_id)
