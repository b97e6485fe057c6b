"""The broker stopped mid-stream and started again: nothing lost, nothing sent twice.

This scenario runs its own broker (port 19492, a scratch home, wiped afterwards; the shared
development broker is never touched). order_watcher and the notifier process the first half of the
incidents; once messages are going out the broker is stopped for `broker_down_s` (short, in `make test`:
5 s over 60 incidents; long: 30 s over 2,000), started again on the same data, and the second half is
produced. A service that exits while
the broker is gone is restarted, as its supervisor would, and counted in the figures (`exits`).

Can it fail? A service that commits offsets for work it could not publish, or a notifier that
forgets a reservation it could not report, shows up as `lost`; a restart that re-sends what went
out as `duplicates`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosResults
from tests.chaos.harness import (
    broker,
    burst,
    measure,
    now_utc,
    own_broker,
    produce_fast,
    scale,
    service,
    service_env,
    sqlite_url,
    supervise,
    wait_delivered,
)
from tests.support.fake_providers import FakeProviders

pytestmark = pytest.mark.timeout(1800)

PORT = 19492
WAVES = 10


def test_broker_stopped_mid_stream_and_started_again(
    topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders, chaos_results: ChaosResults
) -> None:
    size = scale()
    now = now_utc()
    bursts = [burst(n, now, "broker") for n in range(size.broker_incidents)]
    phones = {phone for _, _, phone in bursts}
    half = len(bursts) // 2

    def batches(part: list[tuple[tuple[bytes, bytes], tuple[bytes, bytes], str]]
                ) -> list[tuple[str, list[tuple[bytes | None, bytes | None]]]]:
        per_wave = max(1, -(-len(part) // WAVES))
        out: list[tuple[str, list[tuple[bytes | None, bytes | None]]]] = []
        for i in range(0, len(part), per_wave):
            out.append((f"{topic_prefix}orders", [order for order, _, _ in part[i:i + per_wave]]))
            out.append((f"{topic_prefix}shipments", [exception for _, exception, _ in part[i:i + per_wave]]))
        return out

    exits: Counter[str] = Counter()
    with own_broker(PORT) as (kafka, broker_env):
        env = service_env(kafka, topic_prefix, tmp_path, fake_providers.url)
        services = [service("order_watcher", env, tmp_path), service("notifier", env, tmp_path)]
        try:
            for each in services:
                each.start()
            t0 = time.monotonic()
            asyncio.run(produce_fast(kafka, batches(bursts[:half]), pause_s=0.2))
            fake_providers.wait_for_sends(1, timeout=60)
            sent_before_stop = len(fake_providers.messages)
            stopped_at = time.monotonic()  # it stops answering as soon as its shutdown begins
            broker("stop", broker_env)
            time.sleep(max(0.0, stopped_at + size.broker_down_s - time.monotonic()))
            sent_while_down = len(fake_providers.messages) - sent_before_stop
            broker("start", broker_env)
            down_s = time.monotonic() - stopped_at
            supervise(services, exits)
            asyncio.run(produce_fast(kafka, batches(bursts[half:]), pause_s=0.2))
            all_told = wait_delivered(fake_providers, phones, timeout=180 + size.broker_incidents / 10,
                                      check=lambda: supervise(services, exits))
            figures = measure(fake_providers, phones, database_url=sqlite_url(tmp_path),
                              incidents=size.broker_incidents, broker_down_s=round(down_s, 1),
                              sent_before_stop=sent_before_stop, sent_while_down=sent_while_down,
                              exits=dict(exits), all_told=all_told, drained_s=round(time.monotonic() - t0, 1))
        finally:
            for each in services:
                each.stop()
    chaos_results.record("broker_restart", figures)
    logs = "\n".join(each.log()[-2500:] for each in services)

    assert sent_before_stop < len(phones), "the broker was stopped after everything went out: not mid-stream"
    assert figures.lost == 0, f"{figures.as_dict()}\n{logs}"
    assert figures.duplicates == 0, figures.as_dict()
    assert figures.extra["unexpected_recipients"] == 0
    unsettled = {"reserved", "sending", "ambiguous", "deferred", "failed"} & set(figures.extra["ledger_states"])
    assert not unsettled, figures.as_dict()
