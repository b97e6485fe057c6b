"""The processing core every agent runs its messages through: one guarantee, kept in one place.

A *step* is a function from (event, state view) to work: the records to send and the state
writes to make. It reads and writes its tables only through the view it is given (one
`BatchStaged` layer per table, in the order the `Processor` names them) and returns what it
decided (anything with `sends` and `apply()`, such as `Work`), or None when there is nothing to
do (a bad value it has dead-lettered through the guard, say). A step may be async: one that
must look something up in a database awaits it. `Processor.process` then, for a batch of Faust
events of one agent, in stream order:

1. Decides each event inside `acting_for(event)` over the batch's layers. A step that raises is
   dead-lettered alone (through the guard's `DeadLetterSink`) and its writes dropped; the others
   go on. A step that succeeds merges its writes into the batch layers (`apply()`), so later
   events of the batch read them. A transient failure (a database briefly away) ends the batch
   path: nothing of it is applied and its events go one at a time, where they are retried.
2. Produces every record of the batch (after `combine`, when the agent gives one: records the batch
   may join into fewer, such as order_watcher's demand changes, one record per partition) and awaits
   every ack together (a transient send failure is retried with backoff; the same records again: their
   ids are deterministic and readers dedupe).
3. Only then runs the `settle` hook for each decided event (what may happen once its effects are
   acknowledged: counting incidents, dead-lettering what a step could not do) and writes each
   layer to its table, every key as the event that wrote it last (one changelog record per key
   per batch, however often the batch changed it; a Faust table's records straight to the producer,
   `faust_patches.write_through`).
4. Returns; `take_ready` acks the batch afterwards, so the offsets are committed only now.

Produce effects -> await acks -> write state -> commit: a crash anywhere before the end leaves
every event of the batch to be handled again, with the same outcome. If the sends still fail,
nothing of the batch is written and each event goes through `one` (the one-at-a-time path: its
own retries, its own dead letter), so an event whose output the broker refuses (too large, say)
is dead-lettered alone. A dead letter that cannot be written raises `DeadLetterFailed` out of
the batch (after the sink has stopped the process), so the batch is never acked past an event
that was neither handled nor dead-lettered.

The staged views live here too (`Staged`, `BatchStaged`): a table write is held back until the
sends it goes with are acknowledged, then applied in one go.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from schemas import CloudEvent
from services.common.deadletter import DeadLetterFailed
from services.common.faust_patches import acting_for, changelogged, write_through
from services.common.metrics import EVENTS_CONSUMED, HANDLER_SECONDS
from services.common.streams import TRANSIENT, Guard

__all__ = [
    "BatchStaged",
    "Decided",
    "Outlet",
    "Processor",
    "Send",
    "Staged",
    "Work",
    "handler_step",
]

logger = logging.getLogger(__name__)

YIELD_EVERY_S = 0.05
"""Deciding a batch gives the event loop a turn at least this often: a step that awaits nothing would otherwise
hold it for the whole batch (a SIGTERM taken seconds late, past the stop deadline's reach)."""

_DELETED = object()


# -- staged views ------------------------------------------------------------------------------------------


class Staged(MutableMapping[str, Any]):
    """A write-back overlay over a mapping (a Faust table, a `BatchStaged` layer, or a dict in tests)."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self._writes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._writes:
            value = self._writes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        value = self.table.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        self._writes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._writes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key in self.table:
            seen.add(key)
            if self._writes.get(key, None) is not _DELETED:
                yield key
        for key, value in self._writes.items():
            if key not in seen and value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def pending(self) -> int:
        """How many keys are waiting to be written."""
        return len(self._writes)

    def apply(self) -> None:
        """Write everything staged to the table (deletes of absent keys are no-ops), and start afresh."""
        for key, value in self._writes.items():
            self._write(key, value)
        self._writes.clear()

    def _write(self, key: str, value: Any) -> None:
        if value is _DELETED:
            if key in self.table:
                del self.table[key]
        else:
            self.table[key] = value

    def discard(self) -> None:
        """Forget the staged writes (the message will be handled again, or was dead-lettered)."""
        self._writes.clear()


class BatchStaged(Staged):
    """A `Staged` layer for a whole batch that remembers, per key, which message wrote it last.

    Set `owner` to the message being decided before its writes are merged in; `write` then writes
    each key as its owner, as a Faust table needs to place it (the changelog partition and the
    RocksDB partition store of that message).
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        super().__init__(table)
        self.owner: Any = None
        self._owners: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._owners[key] = self.owner

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._owners[key] = self.owner

    async def write(self) -> None:
        """Write everything staged to the table, each key as its owner, and start afresh: a Faust table in bulk
        (`faust_patches.write_through`), any other mapping key by key inside `acting_for(owner)`."""
        writes = [(self._owners[key], key, value) for key, value in self._writes.items()]
        self.discard()
        if changelogged(self.table):
            await write_through(self.table, [(owner, key, None if value is _DELETED else value)
                                             for owner, key, value in writes])
            return
        for owner, key, value in writes:
            with acting_for(owner):
                self._write(key, value)

    def apply(self) -> None:
        super().apply()
        self._owners.clear()

    def discard(self) -> None:
        super().discard()
        self._owners.clear()


# -- what a step decides -----------------------------------------------------------------------------------


class Record(Protocol):
    """One record to produce: `to` names the outlet; `partition`, when not None, places it (else its key does)."""

    @property
    def to(self) -> str: ...
    @property
    def key(self) -> bytes: ...
    @property
    def value(self) -> bytes: ...
    @property
    def partition(self) -> int | None: ...


class Decided(Protocol):
    """What a step decided: records to produce, and `apply()` to merge its staged writes into the batch's layers."""

    @property
    def sends(self) -> Sequence[Record]: ...
    def apply(self) -> None: ...


@dataclass(frozen=True)
class Send:
    """One record to produce: `to` names the outlet; `partition`, when not None, places it (else its key does)."""

    to: str
    key: bytes
    value: bytes
    partition: int | None = None


@dataclass
class Work:
    """The plain outcome of a step: send these, wait for the acks; `apply()` merges the staged writes."""

    sends: list[Send] = field(default_factory=list)
    staged: list[Staged] = field(default_factory=list)

    def apply(self) -> None:
        for view in self.staged:
            view.apply()


class Outlet(Protocol):
    """Where records of one outlet go (a Faust topic): `send` returns the future of the broker's ack; `partition`
    None lets the record's key place it."""

    async def send(self, *, key: bytes, value: bytes, partition: int | None = None) -> Awaitable[Any]: ...


W = TypeVar("W", bound=Decided)


def handler_step(
    guard: Guard, handler: Callable[[CloudEvent], Awaitable[None]],
) -> Callable[[Any, Sequence[BatchStaged]], Awaitable[Work | None]]:
    """A step for a handler that makes its own effects and awaits them (a database, a help desk, a producer whose
    acks it waits for): the event is parsed (a bad value dead-lettered) and handed over; nothing is left for the
    core to send or write. The handler must be idempotent: a retry or a fallback runs it again."""

    async def step(event: Any, views: Sequence[BatchStaged]) -> Work | None:
        parsed = await guard.parse(event)
        if parsed is not None:
            await handler(parsed)
        return None

    return step


class _FallBack(Exception):
    """A transient failure while deciding a batch: handle its events one at a time instead."""


@dataclass
class Processor(Generic[W]):
    """Runs one agent's events through its step (see the module doc); one per agent, built when the app is wired.

    `tables` are the agent's state tables, in the order the step receives their layers. `settle(event,
    work)` runs once the event's sends are acknowledged, before any state of the batch is written."""

    guard: Guard
    outlets: Mapping[str, Outlet]
    step: Callable[[Any, Sequence[BatchStaged]], W | Awaitable[W | None] | None]
    """(Faust event, one layer per table) -> what it decided, or None; called in the event's context."""
    tables: Sequence[MutableMapping[str, Any]] = ()
    settle: Callable[[Any, W], Awaitable[None]] | None = None
    combine: Callable[[list[Record]], list[Record]] | None = None
    """Records of a batch (or of one event) -> the records to produce: fewer, carrying the same (see `process`)."""
    send_attempts: int = 5
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0

    async def process(self, events: Sequence[Any]) -> None:
        """Handle a batch of Faust events of one agent, in stream order (see the module doc)."""
        layers = [BatchStaged(table) for table in self.tables]
        decided: list[tuple[Any, W]] = []
        yielded = time.perf_counter()
        for index, event in enumerate(events):
            EVENTS_CONSUMED.labels(self.guard.service, event.message.topic).inc()
            if time.perf_counter() - yielded >= YIELD_EVERY_S:  # a signal, a timer or another agent gets a turn
                await asyncio.sleep(0)
                yielded = time.perf_counter()
            try:
                work = await self._decide(event, layers)
            except _FallBack:
                self._discard(layers)
                rest = [e for e, _ in decided] + list(events[index:])
                logger.warning("a transient failure while deciding a batch; handling its %d events one at a time",
                               len(rest))
                await self._one_at_a_time(rest)
                return
            if work is not None:
                decided.append((event, work))
        if not await self._send_all(self._combined([record for _, work in decided for record in work.sends])):
            self._discard(layers)
            logger.warning("sends of a batch of %d failed; handling its events one at a time", len(decided))
            await self._one_at_a_time([event for event, _ in decided])
            return
        for event, work in decided:
            await self._settle(event, work)
        for layer in layers:
            await layer.write()

    async def process_together(self, events: Sequence[Any],
                               together: Callable[[list[CloudEvent]], Awaitable[None]]) -> None:
        """Handle a batch by one call over all its valid values (a handler cheaper over many, with its own effects,
        such as the notifier's dispatch); bad values are dead-lettered first. If that call fails, each valid event
        goes through the step one at a time, with its own retries and dead letter. Both must be idempotent (the
        fallback repeats what the call may already have done)."""
        for event in events:
            EVENTS_CONSUMED.labels(self.guard.service, event.message.topic).inc()
        valid = [(event, value) for event in events if (value := await self.guard.parse(event)) is not None]
        try:
            await together([value for _, value in valid])
        except DeadLetterFailed:
            raise
        except Exception:
            logger.exception("batch of %d failed; handling its events one at a time", len(valid))
            await self._one_at_a_time([event for event, _ in valid])  # bad values were dead-lettered above, once

    async def one(self, event: Any) -> None:
        """Handle one event alone: its sends acknowledged, then its writes; a transient failure is retried with
        backoff, a bug or a bad value (or a transient failure that outlasts the retries) dead-lettered."""
        EVENTS_CONSUMED.labels(self.guard.service, event.message.topic).inc()
        await self._one(event)

    async def _one(self, event: Any) -> bool:
        """`one` without the count; True if handled, False if the core dead-lettered it."""
        message = event.message
        started = time.perf_counter()
        delay = self.guard.backoff_s
        for attempt in range(1, self.guard.attempts + 1):
            layers = [BatchStaged(table) for table in self.tables]
            try:
                with acting_for(event):
                    for layer in layers:
                        layer.owner = event
                    work = await self._run_step(event, layers)
                if work is None:
                    return True
                work.apply()
                await self._send_once(self._combined(list(work.sends)))
                await self._settle(event, work)
                for layer in layers:
                    await layer.write()
            except DeadLetterFailed:
                raise  # never passed over: the message stays uncommitted
            except TRANSIENT as exc:
                if attempt == self.guard.attempts:
                    await self.guard.dead_letter(event, exc, attempts=attempt)
                    return False
                logger.warning("transient failure on %s (attempt %d): %s", message.topic, attempt,
                               exc.__class__.__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.guard.backoff_max_s)
            except Exception as exc:  # a bug or a bad message: keep it, with why, and go on
                logger.exception("step failed on %s[%d]@%d", message.topic, message.partition, message.offset)
                await self.guard.dead_letter(event, exc, attempts=attempt)
                return False
            else:
                HANDLER_SECONDS.labels(self.guard.service, message.topic).observe(time.perf_counter() - started)
                return True
        return False  # pragma: no cover - the loop always returns

    async def _decide(self, event: Any, layers: Sequence[BatchStaged]) -> W | None:
        """Decide one event of a batch over its layers; None when it was dead-lettered or had nothing to do."""
        with acting_for(event):
            for layer in layers:
                layer.owner = event
            try:
                work = await self._run_step(event, layers)
            except DeadLetterFailed:
                raise  # the message was neither handled nor dead-lettered: never passed over
            except TRANSIENT as exc:
                raise _FallBack() from exc
            except Exception as exc:  # a bug or a bad message: keep it, with why, and go on
                message = event.message
                logger.exception("step failed on %s[%d]@%d", message.topic, message.partition, message.offset)
                await self.guard.dead_letter(event, exc)
                return None
            if work is not None:
                work.apply()  # into the batch layers, owned by this event
            return work

    async def _run_step(self, event: Any, layers: Sequence[BatchStaged]) -> W | None:
        result = self.step(event, layers)
        if inspect.isawaitable(result):
            return await result
        return result

    async def _one_at_a_time(self, events: Sequence[Any]) -> None:
        for event in events:
            await self._one(event)

    async def _settle(self, event: Any, work: W) -> None:
        if self.settle is not None:
            await self.settle(event, work)

    @staticmethod
    def _discard(layers: Sequence[BatchStaged]) -> None:
        for layer in layers:
            layer.discard()

    def _combined(self, records: list[Record]) -> list[Record]:
        return records if self.combine is None or not records else self.combine(records)

    async def _send_once(self, records: Sequence[Record]) -> None:
        """Produce every record, then wait for every ack: the broker has all of them when this returns."""
        pending = [await self.outlets[r.to].send(key=r.key, value=r.value, partition=r.partition) for r in records]
        if pending:
            await asyncio.gather(*pending)

    async def _send_all(self, records: Sequence[Record]) -> bool:
        """`_send_once` with bounded retries of transient failures; True once the broker has them all."""
        delay = self.backoff_s
        for attempt in range(1, self.send_attempts + 1):
            try:
                await self._send_once(records)
                return True
            except TRANSIENT as exc:
                logger.warning("sending a batch failed (attempt %d): %s", attempt, exc.__class__.__name__)
            except Exception:
                logger.exception("sending a batch failed")
                return False
            if attempt < self.send_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)
        return False
