"""Notifier throughput: sends per second of one process, ledger included, against local fake providers.

Run as `python -m bench notifier [--incidents N] [--batch B] [--database URL]`. The fake Twilio/SendGrid server
runs in its own process (so it does not share this one's CPU time slices with the notifier), the
ledger is a real SQLite file (or the given database), and each incident goes through the full
path: ledger dedupe and reservation, policy, rendering, the official twilio SDK, the ledger update
and the outcome event (collected in memory: no broker in this measurement).
Latency is from the moment an incident is handed to the dispatcher to the moment the fake
provider received its request (both on this machine's clock)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas import CloudEvent
from services.common.clock import SystemClock
from services.common.db import create_engine, session_factory
from services.notifier.bootstrap import build_providers
from services.notifier.dispatch import Dispatcher
from services.notifier.ledger import Ledger
from services.notifier.migrate import upgrade
from services.notifier.profiles import ProfileStore
from services.notifier.settings import NotifierSettings

__all__ = ["run"]

ROOT = Path(__file__).resolve().parents[1]


def _incident(i: int, now: datetime) -> CloudEvent:
    from tests.support.notifier import incident_event

    return incident_event(f"inc-bench-{i}", at=now, customer_id=f"cus-b{i}", phone=f"+1415{i:07d}",
                          order_id=f"ord-b{i}", timezone="UTC")


async def _measure(
    url: str, database_url: str, incidents: int, concurrency: int, batch_size: int
) -> dict[str, Any]:
    settings = NotifierSettings(
        twilio_account_sid="AC" + "0" * 32, twilio_auth_token="bench-token-123", twilio_from="+15005550006",
        twilio_base_url=url, sms_window_start="00:00", sms_window_end="00:00", cap_per_24h=1000,
        send_concurrency=concurrency,
    )
    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    emitted: list[CloudEvent] = []

    async def emit(event: CloudEvent) -> None:
        emitted.append(event)

    providers = build_providers(settings)
    dispatcher = Dispatcher(ledger=Ledger(sessions), profiles=ProfileStore(sessions), providers=providers,
                            settings=settings, clock=SystemClock(), emit=emit)
    now = datetime.now(UTC)
    events = [_incident(i, now) for i in range(incidents)]
    started_at: dict[str, float] = {}

    async def handle(batch: list[Any]) -> None:
        at = time.time()
        for event in batch:
            started_at[event.data.customer.phone] = at
        await dispatcher.on_incidents(batch)

    await handle(events[:1])  # warm up connections and caches outside the timed part
    t0 = time.perf_counter()
    for start in range(1, len(events), batch_size):  # one batch after another, as the agent takes them
        await handle(events[start:start + batch_size])
    elapsed = time.perf_counter() - t0
    await providers.close()
    await engine.dispose()
    sent = sum(1 for e in emitted if e.type == "notification.sent")
    return {"elapsed_s": elapsed, "sent": sent, "started_at": started_at, "timed": incidents - 1}


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench notifier")
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32, help="provider calls in flight at most")
    parser.add_argument("--batch", type=int, default=128, help="incidents per batch, as the agent takes them")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL; default a fresh SQLite file")
    args = parser.parse_args(argv)
    fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_providers"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            database = args.database or f"sqlite+aiosqlite:///{tmp}/bench-ledger.db"
            measured = asyncio.run(_measure(url, database, args.incidents, args.concurrency, args.batch))
        with urllib.request.urlopen(f"{url}/_recorded") as response:  # noqa: S310 - our own loopback server
            recorded = json.load(response)["sends"]
    finally:
        fake.terminate()
        fake.wait(10)
    latencies = sorted(
        (send["at"] - measured["started_at"][send["to"]]) * 1000
        for send in recorded if send["to"] in measured["started_at"])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    result = {
        "bench": "notifier",
        "sends_per_s": round(measured["timed"] / measured["elapsed_s"], 1),
        "incidents": args.incidents,
        "sent": measured["sent"],
        "provider_requests": len(recorded),
        "concurrency": args.concurrency,
        "batch": args.batch,
        "database": "sqlite file" if args.database is None else args.database.split("://", 1)[0],
        "latency_ms_p50": round(quantiles[49], 2),
        "latency_ms_p99": round(quantiles[98], 2),
        "target_sends_per_s": 1000,
        "method": ("in-process Dispatcher.on_incidents over N distinct customers in batches of `batch`, one "
                   "batch after another as the agent takes them, at most `concurrency` provider calls in "
                   "flight; official twilio SDK to a fake Twilio in a separate process; ledger on a real "
                   "database; outcome events collected in memory (no broker); latency = batch handed to "
                   "the dispatcher -> request received by the fake provider"),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
