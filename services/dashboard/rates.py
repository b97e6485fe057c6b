"""Message rates from samples of end offsets taken over time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["OffsetSample", "RateTracker", "rates_between"]


@dataclass(frozen=True)
class OffsetSample:
    """The sum of end offsets per topic at a moment (`at`: monotonic seconds)."""

    at: float
    ends: Mapping[str, int]


def rates_between(older: OffsetSample, newer: OffsetSample) -> dict[str, float | None]:
    """Messages per second written to each topic of `newer` since `older`.

    None where it cannot be told: the topic is new since `older`, its end went backwards (it was
    deleted and created again), or no time passed."""
    span = newer.at - older.at
    rates: dict[str, float | None] = {}
    for topic, end in newer.ends.items():
        before = older.ends.get(topic)
        rates[topic] = None if span <= 0 or before is None or end < before else (end - before) / span
    return rates


class RateTracker:
    """Keeps the samples of the last `window_s` seconds; a rate is measured from the oldest of them.

    Averaging over the window smooths out a burst between two close samples; `min_span_s` keeps two
    samples taken a moment apart from giving a wild figure."""

    def __init__(self, window_s: float = 60.0, min_span_s: float = 1.0) -> None:
        if window_s < min_span_s:
            raise ValueError("the window must be at least as long as the minimum span")
        self.window_s = window_s
        self.min_span_s = min_span_s
        self._samples: list[OffsetSample] = []

    def add(self, sample: OffsetSample) -> None:
        self._samples.append(sample)
        self._samples.sort(key=lambda s: s.at)  # concurrent readers may finish out of order
        newest = self._samples[-1].at
        self._samples = [s for s in self._samples if newest - s.at <= self.window_s]

    def rates(self) -> dict[str, float | None]:
        """The rate of every topic of the newest sample; all None until two samples are far enough apart."""
        if not self._samples:
            return {}
        newest = self._samples[-1]
        oldest = self._samples[0]
        if newest.at - oldest.at < self.min_span_s:
            return dict.fromkeys(newest.ends)
        return rates_between(oldest, newest)

    def __len__(self) -> int:
        return len(self._samples)
