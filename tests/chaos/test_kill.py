"""kill -9 of order_watcher and the notifier, several times each at random moments while incidents stream in.

Each incident is an order followed by a carrier exception: one burst, one SMS owed to its own customer.
The stream is paced over a window; each service is SIGKILLed `kills_per_service` times at random
moments inside it and restarted at once. Nothing may be lost (the order watcher re-handles what it
had not committed; the notifier's ledger row is reserved before the call and an interrupted send is
looked up at the provider) and nothing sent twice. Short: 300 incidents, 2 kills each; long
(`make chaos`): 10,000 incidents, 4 kills each.

Can it fail? Removing the ledger reservation or committing offsets before effects makes `lost` or
`duplicates` non-zero here; so does a service that does not come back after a kill (it is not restarted
a second time by this test beyond the scheduled kills, and the deadline to deliver is bounded).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosResults
from tests.chaos.harness import (
    burst,
    measure,
    now_utc,
    produce_fast,
    scale,
    seed,
    service,
    service_env,
    sqlite_url,
    wait_delivered,
)
from tests.support.fake_providers import FakeProviders

pytestmark = pytest.mark.timeout(1800)

WAVES = 20


def test_kill_9_each_faust_service_at_random_moments(
    kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders, chaos_results: ChaosResults
) -> None:
    size, run_seed = scale(), seed()
    rng = random.Random(run_seed)
    now = now_utc()
    bursts = [burst(n, now, "kill") for n in range(size.kill_incidents)]
    phones = {phone for _, _, phone in bursts}
    per_wave = -(-len(bursts) // WAVES)
    batches: list[tuple[str, list[tuple[bytes | None, bytes | None]]]] = []
    for start in range(0, len(bursts), per_wave):
        wave = bursts[start:start + per_wave]
        batches.append((f"{topic_prefix}orders", [order for order, _, _ in wave]))
        batches.append((f"{topic_prefix}shipments", [exception for _, exception, _ in wave]))
    pause = size.kill_stream_s / (2 * WAVES)

    env = service_env(kafka, topic_prefix, tmp_path, fake_providers.url)
    watcher = service("order_watcher", env, tmp_path)
    notifier = service("notifier", env, tmp_path)
    schedule = sorted([(rng.uniform(0.05, 1.0) * size.kill_stream_s, watcher) for _ in range(size.kills_per_service)]
                      + [(rng.uniform(0.05, 1.0) * size.kill_stream_s, notifier)
                         for _ in range(size.kills_per_service)], key=lambda item: item[0])
    kills: list[dict[str, object]] = []
    failure: list[BaseException] = []

    def stream() -> None:
        try:
            asyncio.run(produce_fast(kafka, batches, pause_s=pause))
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    producer = threading.Thread(target=stream, name="chaos-stream")
    try:
        watcher.start()
        notifier.start()
        t0 = time.monotonic()
        producer.start()
        for at, victim in schedule:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            accepted = len(fake_providers.messages)
            victim.kill()
            kills.append({"service": victim.name, "at_s": round(time.monotonic() - t0, 1),
                          "messages_accepted_before": accepted})
            victim.start()
        producer.join()
        assert not failure, failure
        all_told = wait_delivered(fake_providers, phones, timeout=120 + size.kill_incidents / 10)
        figures = measure(fake_providers, phones, database_url=sqlite_url(tmp_path), seed=run_seed, kills=kills,
                          stream_s=size.kill_stream_s, incidents=size.kill_incidents,
                          drained_s=round(time.monotonic() - t0, 1), all_told=all_told)
    finally:
        watcher.stop()
        notifier.stop()
    chaos_results.record("kill_9", figures)

    assert len(kills) == 2 * size.kills_per_service
    assert figures.lost == 0, f"{figures.as_dict()}\n{watcher.log()[-3000:]}\n{notifier.log()[-3000:]}"
    assert figures.duplicates == 0, figures.as_dict()
    assert figures.extra["unexpected_recipients"] == 0, figures.as_dict()
    unsettled = {"reserved", "sending", "ambiguous", "deferred", "failed"} & set(figures.extra["ledger_states"])
    assert not unsettled, figures.as_dict()
