"""How long the broker may hold a fetch: Faust's 1.5 s made busy partitions wait behind idle ones.

aiokafka keeps one fetch in flight per broker, and leaves out of it every partition whose
records are still buffered. After a fetch brings records for the busy partitions (orders,
shipments, payments), the next one often asks only for idle ones (ticks, internal topics); the
broker holds it until data comes or `fetch_max_wait_ms` passes, and the busy partitions cannot
be fetched again meanwhile. faust-streaming hard-codes 1,500 ms for its worker consumer, so
records reached agents in bursts up to 1.5 s apart, behind the ticks that counted them: the
watermark (`watermark`) and every latency paid for it. `install(ms)` sets the wait of every
worker consumer Faust creates from then on (`FOREWARN_FETCH_MAX_WAIT_MS`, 100 by default), and
the least data the broker gathers before it answers within that wait (`FOREWARN_FETCH_MIN_BYTES`;
Faust has no setting for it).

This replaces one private method of faust-streaming's aiokafka driver (the version pinned in
constraints.txt); `tests/unit/common/test_fetching.py` pins it.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

__all__ = ["install"]

_ORIGINAL = driver.AIOKafkaConsumerThread._create_worker_consumer
_FETCH: dict[str, int] = {}


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _ORIGINAL(self, transport)
    if "max_wait_ms" in _FETCH:  # both read by the fetcher the consumer starts
        consumer._fetch_max_wait_ms = _FETCH["max_wait_ms"]
        consumer._fetch_min_bytes = _FETCH["min_bytes"]
    return consumer


def install(max_wait_ms: int, min_bytes: int = 1) -> None:
    """Every Faust worker consumer created after this asks the broker to answer fetches within `max_wait_ms`,
    as soon as it has `min_bytes` for it."""
    _FETCH.update(max_wait_ms=max_wait_ms, min_bytes=min_bytes)
    driver.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer
