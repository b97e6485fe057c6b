"""A provider storm: the fake Twilio answers 429 bursts, then 5xx and timeouts after accepting, while incidents stream.

The notifier runs as its own process with the official twilio SDK pointed at a fake Twilio whose
weather changes with the clock: for the first 40 % of the storm it answers 429 (Retry-After: 1) in
bursts, half of every 1.5 s; for the rest it answers a random quarter of the sends with a 500 and
a random sixth with a timeout, in both cases after taking the message (the ambiguous case: the SMS
goes out, the notifier cannot know). Then the sky clears. Every customer must get exactly one SMS:
429s retried no sooner than asked, every ambiguous send looked up at the provider before anything is
sent again. Short: 10 s, 120 incidents; long (`make chaos`): 60 s, 1,500 incidents.

Can it fail? A notifier that resends after a 5xx without the lookup sends twice (`duplicates`); one
that gives up on 429s or ambiguous sends loses (`lost`); one that retries a 429 early breaks the
Retry-After assertion.
"""

from __future__ import annotations

import asyncio
import itertools
import random
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
    seed,
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
    """The fake providers, with Twilio's answers chosen by `weather()` when nothing is scripted, and each
    Twilio send's answer remembered as (to, at, answer)."""

    def __init__(self) -> None:
        super().__init__(timeout_delay=2.0)
        self.weather: Any = None
        self.answered: list[tuple[str, float, Any]] = []

    def _next_answer(self, service: str) -> Any:
        answer = super()._next_answer(service)
        if answer is None and service == "twilio" and self.weather is not None:
            answer = self.weather()
        if service == "twilio":
            with self._lock:
                last = self.requests[-1]  # recorded just before, with no await in between: this request
                self.answered.append((last.form.get("To", ""), last.at, answer))
        return answer


def test_429_bursts_then_5xx_and_timeouts_lose_nothing_and_send_nothing_twice(
    kafka: str, topic_prefix: str, tmp_path: Path, chaos_results: ChaosResults
) -> None:
    size, run_seed = scale(), seed()
    rng = random.Random(run_seed)
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
    storm: list[float] = []  # when the first send met the storm: its phases run from there

    def weather() -> Any:
        if not storm:
            storm.append(time.monotonic())
        elapsed = time.monotonic() - storm[0]
        if elapsed >= size.storm_s:
            return None
        if elapsed < 0.4 * size.storm_s:
            answer: Any = (429, RETRY_AFTER_S) if elapsed % 1.5 < 0.75 else None
        else:
            roll = rng.random()
            answer = 500 if roll < 0.25 else "timeout" if roll < 0.25 + 1 / 6 else None
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
        figures = measure(fake, phones, database_url=sqlite_url(tmp_path), seed=run_seed, storm_s=size.storm_s,
                          incidents=size.storm_incidents, answers=dict(answers), all_told=all_told,
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
