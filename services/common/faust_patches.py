"""Every private part of faust-streaming we patch or read, behind one module and one version check.

faust-streaming exposes no hooks for what the services need, so a few of its private parts are
patched or read. They are listed here, and only here, each pinned by a test against the
version of constraints.txt:

* `rewind` (`Consumer.__init__`, `Consumer._add_gap`, `Consumer.ack`, mode's `FlowControlQueue.clear`
  and `ThrowableQueue.clear`): every record of a committed partition reaches its agent in order, none
  skipped around a seek; and `ThreadDelegateConsumer._seek` seeks in the consumer thread;
* `fetching` (`AIOKafkaConsumerThread._create_worker_consumer`): the broker's fetch wait and least fetch;
* `acting_for` (`faust.streams._current_event`): a table write placed by an event of a batch;
* `committed_offsets` (`Consumer._committed_offset`): the group's commits as the worker knows them;
* `stored_keys` (the RocksDB store's `_dbs`, `_visible_keys`, `_decode_key`): one partition's stored keys;
* `write_through` (what `Table.__setitem__`, `on_key_set` and `_on_changelog_sent` do, by their public parts):
  a batch's table writes and their changelog records in bulk;
* `take_ready` (`Stream.take_events`' body and its buffering processor): batches that go once events stop
  coming, not when a fixed wait runs out;
* `quiet_worker_logging` (`Worker._setup_logging`): Faust's log handler left out, ours kept.

`install()` refuses (`UnsupportedFaust`) any faust-streaming version but `TESTED_VERSION`, so an
upgrade fails at start with a clear message instead of misbehaving in silence: bump the pin, run
the tests that pin these parts (`tests/unit/common/test_rewind.py`, `test_fetching.py`, `test_deadlines.py`,
`test_ticks.py`, `test_faust_patches.py`,
`tests/integration/test_seek_thread.py`, `test_write_through.py`, `order_watcher/test_ready_batches.py`), then bump
`TESTED_VERSION`.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Final

import faust
import faust.streams
from faust.tables.base import Collection
from faust.types import TP

__all__ = [
    "TESTED_VERSION",
    "UnsupportedFaust",
    "acting_for",
    "check_version",
    "committed_offsets",
    "install",
    "quiet_worker_logging",
    "stored_keys",
    "take_ready",
    "write_through",
]

logger = logging.getLogger(__name__)

TESTED_VERSION: Final = "0.15.3"
"""The faust-streaming version these patches were written and tested against (as pinned in constraints.txt)."""


class UnsupportedFaust(RuntimeError):
    """The installed faust-streaming is not the version the private patches were tested against."""


def check_version(installed: str | None = None) -> None:
    """Raise `UnsupportedFaust` unless `installed` (by default the installed faust-streaming) is `TESTED_VERSION`."""
    found = installed if installed is not None else importlib.metadata.version("faust-streaming")
    if found != TESTED_VERSION:
        raise UnsupportedFaust(
            f"faust-streaming {found} is installed, but Forewarn patches private parts of faust-streaming "
            f"{TESTED_VERSION} only (services/common/faust_patches.py); install the version pinned in "
            f"constraints.txt, or port and re-test the patches before bumping TESTED_VERSION")


def install(*, fetch_max_wait_ms: int, fetch_min_bytes: int = 1) -> None:
    """Check the version, then install every patch (idempotent); called before an app is built."""
    from services.common import fetching, rewind  # patches of the checked version only

    check_version()
    rewind.install()  # records around a rebalance are read again, never skipped (see `rewind`)
    # busy partitions are not held behind idle ones (see `fetching`)
    fetching.install(fetch_max_wait_ms, fetch_min_bytes)


@contextmanager
def acting_for(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event for the block.

    A Faust table places every read and write by the current event: the changelog partition a
    write goes to, and the RocksDB partition store it reads and writes. Faust sets it while an
    agent iterates `stream.events()`, but not for the events of a batch (`take_ready`), which the
    agent handles after they were all taken. faust-streaming keeps it in a context variable of
    `faust.streams` and exposes no setter, hence the private name.
    """
    token = faust.streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


def committed_offsets(app: faust.App, topics: Sequence[str], partition: int) -> dict[str, int | None]:
    """The group's committed offset of each of `topics` on `partition`, as this worker's consumer knows it
    (None: not known). Faust keeps them in a private mapping of its consumer, read only here."""
    known: Any = getattr(app.consumer, "_committed_offset", {})
    return {topic: known.get(TP(topic, partition)) for topic in topics}


def quiet_worker_logging(worker: Any) -> None:
    """Keep Faust's worker from installing its own (unmasked) log handler; ours is already on the root logger."""
    worker._setup_logging = lambda: None


def stored_keys(table: Any, partition: int) -> list[str]:
    """The keys a per-partition store (RocksDB) already holds for `partition` (recovery brings in only what it
    lacks); none for the memory store, which recovers a newly assigned partition whole from its changelog.

    faust-streaming offers no way to list one partition's keys: this reads the RocksDB store's
    partition databases (`Store._dbs`, `_visible_keys`, `_decode_key`)."""
    store = table.data
    databases = getattr(store, "_dbs", None)
    if databases is None or partition not in databases:
        return []
    return [store._decode_key(raw) for raw in store._visible_keys(databases[partition])]


def changelogged(table: Any) -> bool:
    """Whether `table` is a Faust table (its writes go to a store and a changelog topic)."""
    return isinstance(table, Collection)


async def write_through(table: Any, writes: Sequence[tuple[Any, str, Any]]) -> None:
    """Write `(event, key, value)` to a Faust table (value None: delete the key) as `table[key] = value` (or
    `del table[key]`) inside `acting_for(event)` would: the store of the event's partition, and one changelog
    record on that partition; but in bulk.

    Faust sends each changelog record through its topic machinery (a FutureMessage, the producer buffer, a
    callback per record that writes the changelog offset into RocksDB): the largest part of a table write.
    Here each record goes straight to the producer, and the persisted offset of each changelog partition is
    written once, when its last record is acknowledged (what Faust's per-record callback leaves in the end). The
    records are in the producer when this returns: the commit that follows flushes it before it commits the
    offsets, as for Faust's own changelog sends. Windowed tables and `use_partitioner` are not supported."""
    if getattr(table, "use_partitioner", False) or getattr(table, "_window", None) is not None:
        raise TypeError(f"table {table.name} places its keys itself: write it with table[key] = value")
    store, app = table.data, table.app
    topic = table.changelog_topic.get_topic_name()
    last: dict[int, asyncio.Future[Any]] = {}
    for event, key, value in writes:
        partition = event.message.partition
        with acting_for(event):  # the RocksDB store places a key by the current event's partition
            if value is None:
                if key not in store:
                    continue
                del store[key]
            else:
                store[key] = value
        key_bytes = app.serializers.dumps_key(table.key_type, key, serializer=table.key_serializer)
        value_bytes = None if value is None else app.serializers.dumps_value(
            table.value_type, value, serializer=table.value_serializer)
        last[partition] = await app.producer.send(topic, key_bytes, value_bytes, partition, None, None)
    for future in last.values():
        future.add_done_callback(partial(_persisted, table))


def _persisted(table: Any, future: asyncio.Future[Any]) -> None:
    """The last changelog record of a batch on its partition is acknowledged: the store holds the changelog up to
    its offset (read back from there on recovery)."""
    if future.cancelled() or future.exception() is not None:
        logger.warning("a changelog record of table %s was not acknowledged: %r", table.name,
                       None if future.cancelled() else future.exception())
        return
    metadata = future.result()
    table.data.set_persisted_offset(TP(metadata.topic, metadata.partition), metadata.offset)


QUIET_S: Final = 0.002
"""A batch taken by `take_ready` goes once no event has joined it for this long."""


def take_ready(stream: Any, max_: int, within: float) -> AsyncIterator[list[Any]]:
    """The stream's events in batches, as `stream.take_events(max_, within)` takes them (each batch acked after it
    is handled), but a batch goes once events stop coming (`QUIET_S` without one), instead of when `within`
    runs out.

    `take_events` waits `within` after every batch unless `max_` events come first: a fixed delay added at every
    hop of a pipeline, and paid even when nothing more was coming. Here a batch starts with its first event and
    goes when it is full, when no event joined it for `QUIET_S`, or `within` after it started: an event on a quiet
    stream goes at once, with whatever came along with it, and under load, when events keep coming, batches
    still fill. (The stream's queue is no sign of what is coming: Faust hands the records of a fetch over one at
    a time, each taken from the queue before the next is put in.)

    The body is `take_events`' (faust-streaming 0.15.3) but for when a batch goes: its buffering processor
    (`Stream.add_processor`, `_enable_passive`, `current_event`, `enable_acks`, `_processors`); `_active_agens`
    lets the stream close it when it stops, as it closes its own."""
    batches = _take_ready(stream, max_, within)
    stream._active_agens.add(batches)
    return batches


async def _take_ready(stream: Any, max_: int, within: float) -> AsyncIterator[list[Any]]:
    events: list[Any] = []
    started = asyncio.Event()  # the batch has its first event
    taking = asyncio.Event()  # clear while the batch is full or being handled: an event waits to join the next one
    taking.set()
    enable_acks: bool = stream.enable_acks
    channel_it = aiter(stream.channel)
    loop = asyncio.get_running_loop()

    async def add_to_buffer(value: Any) -> Any:
        try:
            if not taking.is_set():
                await taking.wait()
            event = stream.current_event
            if event is None:
                raise RuntimeError("take_ready found no current event")
            events.append(event)
            started.set()
            if len(events) >= max_:
                taking.clear()  # never more than max_ in a batch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # the events are acked here, after their batch is handled
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(started, timeout=within)
            if not events:
                started.clear()
                continue
            until = loop.time() + within
            while len(events) < max_ and loop.time() < until:
                size = len(events)
                await asyncio.sleep(QUIET_S)
                if len(events) == size:
                    break
            taking.clear()
            try:
                yield list(events)
            finally:
                for event in events:
                    await stream.ack(event)
                events.clear()
                started.clear()
                taking.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
