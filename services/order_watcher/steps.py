"""What each order_watcher agent does with one message: run the rules over staged state, list what to send.

No Kafka here. State is kept as compact JSON bytes (`model_dump_json(exclude_defaults=True)`),
one value per key. A step reads and writes its tables through `Staged` views and returns a `Work`:
the messages to send and the staged writes. The processing core sends the messages, waits for
every ack, and only then applies the writes (see `services.common.processing`), so a crash never
leaves state that claims an incident was published when it was not.

Three steps, three keys:

* `OrderSteps`  (keyed by order id): order, shipment and payment events, and ticks that fire deadlines.
  Incidents and withdrawals go to the incident candidates; order lines go to the demand topic by SKU.
* `StockSteps`  (keyed by SKU): demand changes and stock levels; stockouts go to the candidates.
  The demand changes of a batch travel together: `bundle_demand` joins them into one record per
  partition of the demand topic (each change where its SKU's key would have put it), so a batch
  produces a handful of demand records, not one per order line.
* `EscalationSteps` (keyed by customer id): every detector's candidates (these steps' and the returns
  service's), in order per customer; a detected incident is counted in the customer's trouble
  history and published (escalated or not), with an `escalation.opened` when it escalates; a
  withdrawal is passed on as it is; a detector's own case for a person is passed on unless the
  incident already escalated here (one incident, one case).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from aiokafka.partitioner import DefaultPartitioner
from pydantic import BaseModel, ValidationError

from schemas import (
    CloudEvent,
    ContractError,
    EscalationOpened,
    IncidentDetected,
    IncidentDetectedData,
    IncidentResolved,
    IncidentResolvedData,
    StockChanged,
    make_event,
)
from services.common.deadlines import DeadlineIndex, DueEntry
from services.common.processing import Record, Send, Staged
from services.common.processing import Work as CoreWork
from services.common.watermark import Tick, Watermark
from services.order_watcher.rules import (
    Deadline,
    DemandChange,
    OrderState,
    Outcome,
    SkuDemand,
    StockOutcome,
    TroubleHistory,
    WatchSettings,
    demand_changes,
    on_deadline,
    on_demand,
    on_escalation,
    on_event,
    on_incident,
    on_stock,
    pending_deadlines,
)

__all__ = [
    "CANDIDATES",
    "DEMAND",
    "ESCALATIONS",
    "INCIDENTS",
    "EscalationSteps",
    "OrderSteps",
    "ParsedDemand",
    "Send",
    "StockSteps",
    "Work",
    "bundle_demand",
    "order_deadlines",
    "parse_demand_change",
    "parse_demand_changes",
]

logger = logging.getLogger(__name__)

SOURCE: Final = "forewarn/order-watcher"

CANDIDATES: Final = "candidates"
"""Incidents and withdrawals on their way to the escalation step (keyed by customer id)."""
DEMAND: Final = "demand"
"""Demand changes on their way to the stock step (keyed by SKU)."""
INCIDENTS: Final = "incidents"
ESCALATIONS: Final = "escalations"


@dataclass
class Work(CoreWork):
    """The outcome of one step (see `services.common.processing.Work`), with what order_watcher reports."""

    published: list[IncidentDetectedData] = field(default_factory=list)
    failed: list[tuple[DueEntry, Exception]] = field(default_factory=list)
    """Deadlines that could not be fired (a bug, or a state that no longer parses): dead-letter them."""


def _detected(incident: IncidentDetectedData, source: str = SOURCE) -> CloudEvent:
    return make_event(
        "incident.detected", incident, source=source, subject=incident.customer.id,
        time=incident.detected_at, id=incident.incident_id,
    )


def _resolved(resolved: IncidentResolvedData) -> CloudEvent:
    return make_event(
        "incident.resolved", resolved, source=SOURCE, subject=resolved.customer_id,
        time=resolved.resolved_at, id=f"{resolved.incident_id}:resolved",
    )


def _candidates(incidents: list[IncidentDetectedData], resolutions: list[IncidentResolvedData]) -> list[Send]:
    """Detections and withdrawals both go through the escalation step, so per customer they stay in order."""
    events = [*map(_detected, incidents), *map(_resolved, resolutions)]
    return [Send(CANDIDATES, event.key(), event.to_bytes()) for event in events]


def _dump(model: BaseModel) -> bytes:
    """State as compact JSON bytes: a fifth of the memory of the same state as Python dicts."""
    return model.model_dump_json(exclude_defaults=True).encode()


class OrderSteps:
    """Order rules over the `order-state` table, the deadline index's buckets and its clock.

    `deadlines` holds the buckets (in the service, `DerivedDeadlines.buckets`: in memory, derived from
    the order states); `clock` each partition's cursor and read positions (a changelogged table; the
    same mapping as `deadlines` when not given)."""

    def __init__(self, orders: MutableMapping[str, Any], deadlines: MutableMapping[str, Any],
                 watch: WatchSettings, *, clock: MutableMapping[str, Any] | None = None,
                 hold: timedelta = timedelta(0), watermark: Watermark | None = None) -> None:
        self.orders = orders
        self.deadlines = deadlines
        self.clock = deadlines if clock is None else clock
        self.watch = watch
        self.hold = hold
        """How long a deadline born overdue waits (see `DeadlineIndex`)."""
        self.watermark = watermark or Watermark(())
        """What the agent has read of the inputs (kept across batches); with none, a tick's time is the clock."""

    def _start(self) -> tuple[Work, Staged, DeadlineIndex]:
        """A step's work over fresh staged views of the three mappings, and the deadline index over them."""
        orders, buckets, clock = Staged(self.orders), Staged(self.deadlines), Staged(self.clock)
        index = DeadlineIndex(buckets, clock=clock, hold=self.hold)
        return Work(staged=[orders, buckets, clock]), orders, index

    def on_tick(self, tick: Tick, partition: int, committed: Mapping[str, int] | None = None) -> Work:
        """A tick on this partition: fire what is due by the partition's watermark (`services.common.watermark`).

        What has been read of the inputs is recorded with the clock, so a worker taking the
        partition over knows it; nothing fires while an input has not been read far enough."""
        work, orders, index = self._start()
        recorded = index.read_positions(partition)
        for topic, offset in (committed or {}).items():  # the group's commits: handled, and state written
            recorded[topic] = max(recorded.get(topic, 0), offset)
        now = self.watermark.at_tick(partition, tick, recorded)
        index.record_read(partition, self.watermark.positions(partition))
        if now is not None:
            self._fire_due(work, now, partition, orders, index)
        return work

    def event(self, event: CloudEvent, partition: int) -> Work:
        """An order, shipment or payment event of the order `event.subject`.

        If a tick was read before the records it counted and this event was the last of them, the
        partition's watermark moves now: what is due by it fires here, after the event's own effects
        (see `Watermark.catch_up`)."""
        work, orders, index = self._start()
        order_id = event.subject
        before = _load_order(orders, order_id)
        outcome = on_event(before, event, self.watch)  # seen before: it only re-asserts the state's deadlines
        self._fold(work, outcome, order_id, orders, index, partition, before)
        if outcome.state is not before:  # seen: its effects were sent already
            for change in demand_changes(event, outcome.state, before):
                work.sends.append(Send(DEMAND, change.sku.encode(), change.model_dump_json().encode()))
        now = self.watermark.catch_up(partition)
        if now is not None:
            self._fire_due(work, now, partition, orders, index)
        return work

    def tick(self, now: datetime, partition: int) -> Work:
        """The stream clock reached `now` on this partition: fire every deadline due by then.

        `now` is the partition's watermark (see `services.common.watermark`), not the wall clock:
        every input that could have cleared a deadline due by `now` has been read that far.
        """
        work, orders, index = self._start()
        self._fire_due(work, now, partition, orders, index)
        return work

    def _fire_due(self, work: Work, now: datetime, partition: int, orders: Staged, index: DeadlineIndex) -> None:
        """Fire every deadline due by `now`. One that cannot be fired must not hold up the others on the
        partition (every later tick would fail on it again): it is listed in `Work.failed` and the rest go on."""
        for entry in index.pop_due(partition, now):
            try:
                state = _load_order(orders, entry.ref)
                if state is None:
                    continue  # forgotten since
                outcome = on_deadline(state, Deadline(entry.due, entry.kind, entry.ref), now, self.watch)
            except Exception as exc:  # a bug or a bad state: keep it, with why, and go on
                logger.exception("deadline %s of order %s could not be fired", entry.kind, entry.ref)
                work.failed.append((entry, exc))
                continue
            self._fold(work, outcome, entry.ref, orders, index, partition, state)

    @staticmethod
    def _fold(work: Work, outcome: Outcome, order_id: str, orders: Staged, index: DeadlineIndex,
              partition: int, before: OrderState | None) -> None:
        work.sends.extend(_candidates(outcome.incidents, outcome.resolutions))
        if outcome.state is None:
            if order_id in orders:
                del orders[order_id]
        elif outcome.state is not before:  # the very object back: nothing changed, no changelog write
            orders[order_id] = _dump(outcome.state)
        for deadline in outcome.cancel:  # cancel before schedule: a rescheduled deadline stays
            index.cancel(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))
        for deadline in outcome.schedule:
            index.schedule(partition, DueEntry(deadline.due, deadline.order_id, deadline.kind))


def order_deadlines(value: bytes, watch: WatchSettings) -> list[DueEntry]:
    """The deadline index's entries a stored order state implies (to rebuild the index from the state)."""
    state = OrderState.model_validate_json(value)
    return [DueEntry(d.due, d.order_id, d.kind) for d in pending_deadlines(state, watch)]


def _load_order(orders: MutableMapping[str, Any], order_id: str) -> OrderState | None:
    raw = orders.get(order_id)
    return OrderState.model_validate_json(raw) if raw is not None else None


def parse_demand_change(value: bytes) -> DemandChange:
    """A demand change from the internal topic; a bad one is a ContractError (no input values in it)."""
    try:
        return DemandChange.model_validate_json(value)
    except ValidationError as exc:
        raise ContractError.from_validation_error(exc) from None


class _DemandBundle(BaseModel):
    changes: list[DemandChange]


def parse_demand_changes(value: bytes) -> list[DemandChange]:
    """The demand changes of one record of the internal topic, in order: a bundle (see `bundle_demand`), or a
    lone change as records were before bundles; a bad one is a ContractError (no input values in it)."""
    if not value.startswith(b'{"changes":'):
        return [parse_demand_change(value)]
    try:
        return _DemandBundle.model_validate_json(value).changes
    except ValidationError as exc:
        raise ContractError.from_validation_error(exc) from None


def bundle_demand(partitions: int) -> Any:
    """The processing core's `combine` for the order agent: the demand changes of a batch, one record per
    partition of the demand topic, in their order; every other record as it is, in its order.

    Each change goes to the partition its SKU's key would have given it (the producer's default
    partitioner, murmur2, as for the inventory topic it is co-partitioned with), so it still meets
    its SKU's stock levels; the stock step reads a bundle's changes in order."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))

    def combine(records: list[Record]) -> list[Record]:
        by_partition: dict[int, list[bytes]] = {}
        others: list[Record] = []
        for record in records:
            if record.to != DEMAND:
                others.append(record)
                continue
            partition = record.partition
            if partition is None:
                partition = partitioner(record.key, every, every)
            by_partition.setdefault(partition, []).append(record.value)
        bundles = [Send(DEMAND, f"demand-{partition}".encode(), b'{"changes":[' + b",".join(values) + b"]}",
                        partition=partition) for partition, values in sorted(by_partition.items())]
        return [*others, *bundles]

    return combine


class ParsedDemand:
    """The SKU states last read or written, parsed, each with the very bytes it was parsed from (a bounded LRU).

    A SKU many open orders wait for (a sale's one product) has a state as large as its queue, and a demand change
    for it arrives with almost every batch: parsing that state again each time made one hot SKU cost more than
    all the others. A state is reused only while the table still holds the same bytes (compared, not trusted), so
    a write dropped with its batch, or one made by another worker, is parsed afresh. The rules never change a
    state they are given (they work on a `draft`), so sharing the parsed one is safe."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._states: OrderedDict[str, tuple[bytes, SkuDemand]] = OrderedDict()

    def read(self, sku: str, raw: bytes) -> SkuDemand:
        known = self._states.get(sku)
        if known is not None and known[0] == raw:
            self._states.move_to_end(sku)
            return known[1]
        state = SkuDemand.model_validate_json(raw)
        self.wrote(sku, raw, state)
        return state

    def wrote(self, sku: str, raw: bytes, state: SkuDemand) -> None:
        self._states[sku] = (raw, state)
        self._states.move_to_end(sku)
        if len(self._states) > self.size:
            self._states.popitem(last=False)


class StockSteps:
    """Stock rules over the `sku-demand` table (keyed by SKU); `parsed` keeps hot SKUs' states parsed across
    steps (see `ParsedDemand`; the agent keeps one for its life)."""

    def __init__(self, demand: MutableMapping[str, Any], watch: WatchSettings,
                 parsed: ParsedDemand | None = None) -> None:
        self.demand = demand
        self.watch = watch
        self.parsed = parsed if parsed is not None else ParsedDemand()

    def change(self, change: DemandChange) -> Work:
        return self.changes([change])

    def changes(self, changes: list[DemandChange]) -> Work:
        """Demand changes of one record, in order (see `_run`)."""
        return self._run([(c.sku, partial(on_demand, change=c, settings=self.watch)) for c in changes])

    def stock(self, event: CloudEvent) -> Work:
        if not isinstance(event, StockChanged):  # the contract allows only stock.changed on inventory
            raise ContractError("type", f"unexpected event type {event.type} on inventory")
        return self._run([(event.data.sku, lambda current: on_stock(current, event, self.watch))])

    def _run(self, rules: list[tuple[str, Callable[[SkuDemand | None], StockOutcome]]]) -> Work:
        """Each (SKU, rule) in order over one staged view: each SKU's state is read once and written once (a
        demand record carries a whole batch's changes, many for the same SKU, whose state grows with its open
        orders: reading and writing it at every change made a record cost changes x state)."""
        table = Staged(self.demand)
        work = Work(staged=[table])
        read: dict[str, SkuDemand | None] = {}
        now: dict[str, SkuDemand | None] = {}
        for sku, rule in rules:
            if sku not in read:
                raw = table.get(sku)
                read[sku] = now[sku] = self.parsed.read(sku, raw) if raw is not None else None
            outcome = rule(now[sku])
            now[sku] = outcome.demand
            work.sends.extend(_candidates(outcome.incidents, outcome.resolutions))
        for sku, demand in now.items():
            if demand is not None and demand != read[sku]:
                table[sku] = raw = _dump(demand)
                self.parsed.wrote(sku, raw, demand)
        return work


class EscalationSteps:
    """Repeated-trouble rules over the `trouble-history` table (keyed by customer id)."""

    def __init__(self, histories: MutableMapping[str, Any], watch: WatchSettings) -> None:
        self.histories = histories
        self.watch = watch

    def candidate(self, event: CloudEvent) -> Work:
        """One candidate of any detector; what it publishes keeps the detector as its source."""
        if isinstance(event, IncidentResolved):
            return Work(sends=[Send(INCIDENTS, event.key(), event.to_bytes())])
        if isinstance(event, EscalationOpened):
            history = _load_history(self.histories, event.data.customer_id)
            if not on_escalation(history, event.data):
                return Work()  # the incident already escalated here: one incident, one case
            return Work(sends=[Send(ESCALATIONS, event.key(), event.to_bytes())])
        if not isinstance(event, IncidentDetected):
            raise ContractError("type", f"unexpected event type {event.type} among incident candidates")
        table = Staged(self.histories)
        customer_id = event.data.customer.id
        history = _load_history(table, customer_id)
        outcome = on_incident(history, event.data, None, self.watch)
        if outcome.history != history and (history is not None or outcome.history.troubles):
            table[customer_id] = _dump(outcome.history)
        work = Work(staged=[table], published=[outcome.incident])
        published = _detected(outcome.incident, event.source)
        work.sends.append(Send(INCIDENTS, published.key(), published.to_bytes()))
        if outcome.escalation is not None:
            opened = make_event(
                "escalation.opened", outcome.escalation, source=SOURCE, subject=outcome.escalation.customer_id,
                time=outcome.escalation.opened_at, id=outcome.escalation.escalation_id,
            )
            work.sends.append(Send(ESCALATIONS, opened.key(), opened.to_bytes()))
        return work


def _load_history(histories: MutableMapping[str, Any], customer_id: str) -> TroubleHistory | None:
    raw = histories.get(customer_id)
    return TroubleHistory.model_validate_json(raw) if raw is not None else None
