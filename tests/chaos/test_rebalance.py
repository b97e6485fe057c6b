"""A second notifier worker joins mid-stream and leaves again: nothing lost, nothing sent twice.

Two notifier processes in one consumer group share one ledger on a real PostgreSQL (as two workers
would in production). Incidents stream onto `incidents` (4 partitions) for `rebalance_stream_s`;
a second worker starts while the first half streams (partitions move to it) and is stopped with SIGTERM
while the second half streams (they move back). Short: 240 incidents over 24 s;
long (`make chaos`): 3,000 over 60 s.

The second worker's stop may cut sends off mid-call (past its stop deadline it is ended at once): their
rows stay `sending`, and the first worker, taking their incidents over, finds them handled. Its periodic
pass must take such a row as interrupted once untouched for `interrupted_after_s` (20 s here, no provider
trouble in this scenario) and look it up at the provider, so every row ends settled; the test waits for
that (at most `interrupted_after_s` + 60 s) before counting. A run under load once ended with one row
`sending` for good (all 240 delivered): nothing settled such a row short of a restart.

Can it fail? A joining worker that takes over another's in-flight sends (its start-up recovery
treating a live worker's `sending` or `reserved` rows as its own leftovers) sends them twice; a
partition handed over with uncommitted work done but not recorded loses or repeats it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosResults
from tests.chaos.harness import (
    measure,
    now_utc,
    phone_of,
    produce_fast,
    scale,
    service,
    service_env,
    wait_delivered,
    wait_settled,
)
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import incident_event
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.timeout(1800)

WAVES = 20
INTERRUPTED_AFTER_S = 20


def test_second_notifier_joins_mid_stream_and_leaves(
    kafka: str, postgres: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders,
    chaos_results: ChaosResults,
) -> None:
    size = scale()
    now = now_utc()
    base = 50_000  # phones apart from the other scenarios'
    events = [incident_event(f"inc-rebalance-{n:05d}", at=now, order_id=f"ord-rebalance-{n:05d}",
                             customer_id=f"cus-rebalance-{n}", phone=phone_of(base + n), email=None, timezone="UTC")
              for n in range(size.rebalance_incidents)]
    phones = {phone_of(base + n) for n in range(size.rebalance_incidents)}
    per_wave = -(-len(events) // WAVES)
    batches: list[tuple[str, list[tuple[bytes | None, bytes | None]]]] = [
        (f"{topic_prefix}incidents", [(e.subject.encode(), e.to_bytes()) for e in events[i:i + per_wave]])
        for i in range(0, len(events), per_wave)]
    database_url = asyncio.run(fresh_database("postgresql", tmp_path, postgres, "rebalance"))
    env = service_env(kafka, topic_prefix, tmp_path, fake_providers.url, database_url=database_url,
                      FOREWARN_NOTIFIER_INTERRUPTED_AFTER_S=str(INTERRUPTED_AFTER_S))
    first = service("notifier", env, tmp_path, name="notifier-1")
    second = service("notifier", env, tmp_path, name="notifier-2")
    moments: dict[str, float] = {}
    half = len(batches) // 2
    pace = size.rebalance_stream_s / WAVES

    def streaming(part: list[tuple[str, list[tuple[bytes | None, bytes | None]]]]) -> threading.Thread:
        thread = threading.Thread(target=lambda: asyncio.run(produce_fast(kafka, part, pause_s=pace)))
        thread.start()
        return thread

    try:
        first.start()
        t0 = time.monotonic()
        stream = streaming(batches[:half])
        time.sleep(0.15 * size.rebalance_stream_s)
        moments["second_started_s"] = round(time.monotonic() - t0, 1)
        moments["accepted_when_second_started"] = len(fake_providers.messages)
        second.start()  # joins while the first half streams: partitions move to it
        moments["second_ready_s"] = round(time.monotonic() - t0, 1)
        stream.join()
        time.sleep(0.1 * size.rebalance_stream_s)  # a member for a while, partitions and all
        stream = streaming(batches[half:])
        time.sleep(0.2 * size.rebalance_stream_s)
        moments["second_stopped_s"] = round(time.monotonic() - t0, 1)
        moments["accepted_when_second_stopped"] = len(fake_providers.messages)
        second.stop()  # leaves while the second half streams: they move back
        stream.join()
        all_told = wait_delivered(fake_providers, phones, timeout=120 + size.rebalance_incidents / 10)
        settled_s = time.monotonic()
        wait_settled(database_url, timeout=INTERRUPTED_AFTER_S + 60)
        moments["settled_after_delivered_s"] = round(time.monotonic() - settled_s, 1)
        figures = measure(fake_providers, phones, database_url=database_url, incidents=size.rebalance_incidents,
                          stream_s=size.rebalance_stream_s, all_told=all_told, **moments,
                          second_exit_code=second.proc.returncode if second.proc else None,
                          drained_s=round(time.monotonic() - t0, 1))
    finally:
        second.stop()
        first.stop()
    chaos_results.record("rebalance", figures)

    assert moments["accepted_when_second_stopped"] < len(phones), "the second worker left after the stream drained"
    assert figures.lost == 0, f"{figures.as_dict()}\n{first.log()[-2500:]}\n{second.log()[-2500:]}"
    assert figures.duplicates == 0, f"{figures.as_dict()}\n{second.log()[-2500:]}"
    assert figures.extra["unexpected_recipients"] == 0
    unsettled = {"reserved", "sending", "ambiguous", "deferred", "failed"} & set(figures.extra["ledger_states"])
    assert not unsettled, figures.as_dict()
