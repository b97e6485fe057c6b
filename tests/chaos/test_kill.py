"""kill -9 of every Faust service (order_watcher, the notifier, returns, care), several times each at random
moments while their inputs stream in.

Three kinds of input stream together, each with an outcome known in advance:

* an order, then a carrier exception on it (order_watcher): one incident burst, one SMS to its customer;
* an order, then a return of it received (returns, whose incident order_watcher publishes): one SMS;
* an escalation of a customer we never messaged (care): one case, one ticket at the fake Zendesk (through
  zenpy), and no SMS.

Each service is SIGKILLed `kills_per_service` times at random moments inside the stream window, and once
more all four at the same moment, and restarted at once. Nothing may be lost (a service re-handles what it
had not committed; the notifier's ledger row and care's case are reserved before the provider or desk call,
and an interrupted call is looked up before anything is sent again) and nothing sent twice: one SMS per
phone, one provider call per ledger row, one ticket per case and one case per escalated customer.
Short (part of `make test`): 60 bursts, 20 returns, 20 escalations streamed over 12 s, 2 kills each (once
alone, once with the others); long (`make chaos`): 7,000, 1,500, 1,500 over 120 s, 5 kills each. Every
service is killed at least once before the last expected message or ticket is out (asserted).

Can it fail? Removing the ledger reservation or committing offsets before effects makes `lost` or
`duplicates` non-zero here; so does care opening a ticket again without asking the desk for its external id
after a kill mid-call, and a service that does not come back after a kill (it is not restarted beyond the
scheduled kills, and the deadline to deliver is bounded).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import text

from services.common.db import create_engine
from tests.chaos.conftest import ChaosResults
from tests.chaos.harness import (
    Batches,
    Stream,
    burst,
    care_env,
    escalation,
    kill_on_schedule,
    kill_schedule,
    measure,
    measure_tickets,
    now_utc,
    return_received,
    scale,
    seed,
    service,
    service_env,
    sqlite_url,
    trace,
    wait_delivered,
)
from tests.support.fake_providers import FakeProviders
from tests.support.fake_zendesk import FakeZendesk

pytestmark = pytest.mark.timeout(3600)

WAVES = 20
RETURNS_BASE = 20_000  # their phones apart from the bursts'
T = TypeVar("T")


def test_kill_9_each_faust_service_at_random_moments(
    kafka: str, topic_prefix: str, tmp_path: Path, fake_providers: FakeProviders, zendesk: FakeZendesk,
    chaos_results: ChaosResults,
) -> None:
    size, run_seed = scale(), seed()
    rng = random.Random(run_seed)
    now = now_utc()
    bursts = [burst(n, now, "kill") for n in range(size.kill_incidents)]
    returns = [return_received(RETURNS_BASE + n, now, "kill") for n in range(size.kill_returns)]
    cases = [escalation(n, now, "kill") for n in range(size.kill_cases)]
    phones = {phone for _, _, phone in bursts + returns}
    customers = {customer for _, customer in cases}
    batches: Batches = []
    for wave in range(WAVES):
        some_bursts, some_returns = _share(bursts, wave), _share(returns, wave)
        batches.append((f"{topic_prefix}orders", _records(o for o, _, _ in some_bursts + some_returns)))
        batches.append((f"{topic_prefix}shipments", _records(exception for _, exception, _ in some_bursts)))
        batches.append((f"{topic_prefix}returns", _records(receipt for _, receipt, _ in some_returns)))
        batches.append((f"{topic_prefix}escalations", _records(record for record, _ in _share(cases, wave))))
    pause = size.kill_stream_s / (4 * WAVES)

    zendesk.reset()
    database_url = sqlite_url(tmp_path)
    env = {**service_env(kafka, topic_prefix, tmp_path, fake_providers.url), **care_env(zendesk)}
    services = [service(module, env, tmp_path) for module in ("order_watcher", "returns", "notifier", "care")]
    schedule = kill_schedule(rng, services, size.kills_per_service, size.kill_stream_s)
    try:
        for each in services:
            each.start()
        t0 = time.monotonic()
        stream = Stream(kafka, batches, pause_s=pause).start()
        kills = kill_on_schedule(schedule, t0, lambda: len(fake_providers.messages) + len(zendesk.tickets))
        stream.join()
        all_told = wait_delivered(fake_providers, phones, timeout=120 + len(phones) / 10)
        all_handed = zendesk.wait_for(lambda: len(zendesk.tickets) >= len(customers), timeout=60)
        figures = measure(fake_providers, phones, database_url=database_url, seed=run_seed, kills=kills,
                          stream_s=size.kill_stream_s, bursts=size.kill_incidents, returns=size.kill_returns,
                          drained_s=round(time.monotonic() - t0, 1), all_told=all_told,
                          kills_mid_stream=sum(1 for kill in kills
                                               if kill["accepted_before"] < len(phones) + len(customers)))
        tickets = measure_tickets(zendesk, customers, database_url=database_url)
        sent_rows = asyncio.run(_sent_rows(database_url))
        sends = fake_providers.sends("twilio")
    finally:
        for each in services:
            each.stop()
    sms = figures.as_dict()
    figures.extra = {**figures.extra, "by_output": {"sms": {k: sms[k] for k in ("expected", "delivered", "lost",
                                                                                "duplicates")},
                                                    "tickets": tickets.as_dict()}, "all_handed": bool(all_handed)}
    figures.expected += tickets.expected
    figures.delivered += tickets.delivered
    figures.lost += tickets.lost
    figures.duplicates += tickets.duplicates
    chaos_results.record("kill_9", figures)
    logs = "\n".join(each.log()[-2500:] for each in services)

    assert sorted(kill["service"] for kill in kills) == sorted(
        each.name for each in services for _ in range(size.kills_per_service + 1))
    assert len({kill["service"] for kill in kills
                if kill["accepted_before"] < len(phones) + len(customers)}) == len(services), kills  # mid-stream
    assert sms["lost"] == 0, f"{figures.as_dict()}\n" + trace(
        kafka, topic_prefix, [_order_of(phone) for phone in figures.extra["lost_sample"]],
        ["orders", "shipments", "returns", "incident-candidates", "incidents", "notifications"],
        [("order-watcher", ["orders", "shipments", "incident-candidates"]), ("returns", ["orders", "returns"]),
         ("notifier", ["incidents"])]) + f"\n{logs}"
    assert sms["duplicates"] == 0, figures.as_dict()
    assert tickets.lost == 0, f"{tickets.as_dict()}\n{services[3].log()[-3000:]}"
    assert tickets.duplicates == 0, tickets.as_dict()
    assert tickets.extra["tickets_without_a_case"] == 0, tickets.as_dict()
    assert tickets.extra["case_states"] == {"done": len(customers)}, tickets.as_dict()
    assert figures.extra["unexpected_recipients"] == 0, figures.as_dict()
    unsettled = {"reserved", "sending", "ambiguous", "deferred", "failed"} & set(figures.extra["ledger_states"])
    assert not unsettled, figures.as_dict()
    # One ledger row per provider call, each sent once; and the same words never twice to one phone.
    assert len(sent_rows) == len(sends) and len(set(sent_rows)) == len(sent_rows), (len(sent_rows), len(sends))
    assert not [key for key, n in Counter((s.form["To"], s.form["Body"]) for s in sends).items() if n > 1]


def _share(items: list[T], wave: int) -> list[T]:
    """The wave's share of `items`, spread evenly over WAVES."""
    return items[wave * len(items) // WAVES:(wave + 1) * len(items) // WAVES]


def _order_of(phone: str) -> str:
    """The order of a phone's input: a burst's, or a return's (phones from RETURNS_BASE on)."""
    n = int(phone[-7:])
    return f"ord-kill-ret-{n:05d}" if n >= RETURNS_BASE else f"ord-kill-{n:05d}"


def _records(records: Iterable[tuple[bytes | None, bytes | None]]) -> list[tuple[bytes | None, bytes | None]]:
    return list(records)


async def _sent_rows(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select provider_message_id from deliveries where state = 'sent'"))).all()
    finally:
        await engine.dispose()
    return [str(row[0]) for row in rows]
