"""A provider storm: the fake Twilio answers 429 bursts, then 5xx and timeouts after accepting, while incidents stream.

The notifier runs as its own process with the official twilio SDK pointed at a fake Twilio whose
weather follows the sends it has seen, not the clock (on a loaded machine a clock-driven phase could
come after the last send and mean nothing). With N incidents: the first 0.6 N send requests are the
429 phase, answered in bursts (6 requests with 429 and Retry-After: 1, then 6 taken, in turn; a phone
turned away 3 times is let through, since the notifier rightly gives up after `max_attempts`, 6), so
at most 0.4 N messages get through in it; the next 0.8 N requests are the 5xx phase, where of every 12
requests 3 are answered 500 and 2 time out, in both cases after the message was taken (the ambiguous
case: the SMS goes out, the notifier cannot know); then the sky clears. At least 0.6 N customers are
still owed their message when the 5xx phase begins, so it always meets fresh sends, on any machine.
Every customer must get exactly one SMS: 429s retried no sooner than asked, every ambiguous send
looked up at the provider before anything is sent again, and every ledger row settled. The incidents
stream over 0.8 of `storm_s`. Short: 120 incidents over 8 s; long (`make chaos`): 1,500 over 48 s.

Can it fail? A notifier that resends after a 5xx without the lookup sends twice (`duplicates`); one
that gives up on 429s or ambiguous sends loses (`lost`); one that retries a 429 early breaks the
Retry-After assertion; one that never looks an ambiguous send up leaves `ambiguous_reconciled` at 0
and rows `ambiguous`. Checked with this weather on copies of the services broken on purpose, run under
this suite (`FOREWARN_CHAOS_SERVICES_ROOT=<copy>`, short scale): with `Dispatcher.send_due` no longer
reconciling ambiguous rows, it failed on `ambiguous_reconciled > 0` (0 reconciled, 35 rows left
`ambiguous`, 0 lost, 0 duplicates); with `Dispatcher._lookup` never finding the message, on
`duplicates == 0` (40 duplicates); the unbroken services passed (35 reconciled, 120 `sent`).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

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
    sqlite_url,
    wait_delivered,
)
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import incident_event

pytestmark = pytest.mark.timeout(1800)

WAVES = 20
RETRY_AFTER_S = 1


class StormyProviders(FakeProviders):
    """The fake providers, with Twilio's answers chosen by `weather(to)` when nothing is scripted, and each
    Twilio send's answer remembered as (to, at, answer)."""

    def __init__(self) -> None:
        super().__init__(timeout_delay=2.0)
        self.weather: Any = None
        self.answered: list[tuple[str, float, Any]] = []

    def _next_answer(self, service: str) -> Any:
        answer = super()._next_answer(service)
        if service != "twilio":
            return answer
        with self._lock:
            to = self.requests[-1].form.get("To", "")  # recorded just before, with no await in between: this request
            at = self.requests[-1].at
        if answer is None and self.weather is not None:
            answer = self.weather(to)
        with self._lock:
            self.answered.append((to, at, answer))
        return answer


def test_429_bursts_then_5xx_and_timeouts_lose_nothing_and_send_nothing_twice(
    kafka: str, topic_prefix: str, tmp_path: Path, chaos_results: ChaosResults
) -> None:
    size = scale()
    fake = StormyProviders().start()
    now = now_utc()
    events = [incident_event(f"inc-storm-{n:05d}", at=now, order_id=f"ord-storm-{n:05d}",
                             customer_id=f"cus-storm-{n}", phone=phone_of(n), email=None, timezone="UTC")
              for n in range(size.storm_incidents)]
    phones = {phone_of(n) for n in range(size.storm_incidents)}
    per_wave = -(-len(events) // WAVES)
    batches: list[tuple[str, list[tuple[bytes | None, bytes | None]]]] = [
        (f"{topic_prefix}incidents", [(e.subject.encode(), e.to_bytes()) for e in events[i:i + per_wave]])
        for i in range(0, len(events), per_wave)]
    answers: Counter[str] = Counter()
    storm: list[float] = []  # when the first send met the storm
    phases = _Phases(size.storm_incidents)

    def weather(to: str) -> Any:
        if not storm:
            storm.append(time.monotonic())
        answer = phases.next(to)
        answers[str(answer[0] if isinstance(answer, tuple) else answer)] += 1
        return answer

    env = service_env(kafka, topic_prefix, tmp_path, fake.url, FOREWARN_NOTIFIER_PROVIDER_TIMEOUT_S="1")
    notifier = service("notifier", env, tmp_path)
    try:
        notifier.start()
        fake.weather = weather
        stream = threading.Thread(target=lambda: asyncio.run(
            produce_fast(kafka, batches, pause_s=0.8 * size.storm_s / WAVES)))
        stream.start()
        stream.join()
        all_told = wait_delivered(fake, phones, timeout=size.storm_s + 180)
        figures = measure(fake, phones, database_url=sqlite_url(tmp_path), storm_s=size.storm_s,
                          incidents=size.storm_incidents, answers=dict(answers), all_told=all_told,
                          requests_by_phase=dict(phases.seen),
                          drained_s=round(time.monotonic() - storm[0], 1) if storm else None)
    finally:
        notifier.stop()
        fake.stop()
    early = _retried_early(fake.answered)
    figures.extra["retried_before_retry_after"] = len(early)
    chaos_results.record("provider_storm", figures)

    assert answers["429"] > 0 and answers["500"] > 0 and answers["timeout"] > 0, answers  # the storm happened
    assert figures.lost == 0, f"{figures.as_dict()}\n{notifier.log()[-3000:]}"
    assert figures.duplicates == 0, figures.as_dict()
    assert figures.ambiguous_reconciled > 0, figures.as_dict()  # ambiguous sends were looked up, not resent
    assert early == [], f"429 retried before Retry-After: {early[:5]}"
    assert figures.extra["unexpected_recipients"] == 0
    unsettled = {"reserved", "sending", "ambiguous", "deferred", "failed"} & set(figures.extra["ledger_states"])
    assert not unsettled, figures.as_dict()


class _Phases:
    """The storm's weather by the count of send requests seen: the first 0.6 N in the 429 phase (bursts of 6
    answered 429, then 6 taken; a phone already turned away `MOST_429` times is taken), the next 0.8 N in the 5xx
    phase (of every 12: 3 answered 500 and 2 timing out, both after taking the message), then clear (None: the
    fake's usual answer)."""

    BURST = 6
    MOST_429 = 3

    def __init__(self, incidents: int) -> None:
        self.limit_429 = int(0.6 * incidents)
        self.limit_5xx = self.limit_429 + int(0.8 * incidents)
        self.count = 0
        self.seen: Counter[str] = Counter()
        self.turned_away: Counter[str] = Counter()

    def next(self, to: str) -> Any:
        n, self.count = self.count, self.count + 1
        if n < self.limit_429:
            self.seen["429_phase"] += 1
            if (n // self.BURST) % 2 or self.turned_away[to] >= self.MOST_429:
                return None
            self.turned_away[to] += 1
            return (429, RETRY_AFTER_S)
        if n < self.limit_5xx:
            self.seen["5xx_phase"] += 1
            step = (n - self.limit_429) % 12
            return 500 if step in (0, 5, 9) else "timeout" if step in (2, 7) else None
        self.seen["clear"] += 1
        return None


def _retried_early(answered: list[tuple[str, float, Any]]) -> list[tuple[str, float]]:
    """Phones whose next request followed a 429 sooner than its Retry-After (a little clock slack allowed)."""
    by_phone: dict[str, list[tuple[float, Any]]] = defaultdict(list)
    for to, at, answer in answered:
        by_phone[to].append((at, answer))
    early = []
    for to, requests in by_phone.items():
        requests.sort(key=lambda item: item[0])
        for (at, answer), (next_at, _) in itertools.pairwise(requests):
            if isinstance(answer, tuple) and answer[0] == 429 and next_at - at < answer[1] - 0.1:
                early.append((to, round(next_at - at, 2)))
    return early
