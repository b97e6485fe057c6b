"""Message rates from two samples of end offsets."""

from __future__ import annotations

import pytest

from services.dashboard.rates import OffsetSample, RateTracker, rates_between

pytestmark = pytest.mark.unit


def test_rate_between_two_samples() -> None:
    older = OffsetSample(100.0, {"orders": 10, "incidents": 4, "gone": 50})
    newer = OffsetSample(104.0, {"orders": 30, "incidents": 4, "gone": 2, "fresh": 9})
    rates = rates_between(older, newer)
    assert rates["orders"] == pytest.approx(5.0)
    assert rates["incidents"] == 0.0
    assert rates["gone"] is None  # the end went backwards: deleted and created again
    assert rates["fresh"] is None  # not there before: no rate yet


def test_no_time_no_rate() -> None:
    sample = OffsetSample(5.0, {"orders": 10})
    assert rates_between(sample, OffsetSample(5.0, {"orders": 20})) == {"orders": None}


def test_tracker_needs_two_samples_far_enough_apart() -> None:
    tracker = RateTracker(window_s=60, min_span_s=1.0)
    assert tracker.rates() == {}
    tracker.add(OffsetSample(0.0, {"orders": 0}))
    assert tracker.rates() == {"orders": None}
    tracker.add(OffsetSample(0.5, {"orders": 50}))
    assert tracker.rates() == {"orders": None}  # half a second is too short to tell
    tracker.add(OffsetSample(2.0, {"orders": 100}))
    assert tracker.rates()["orders"] == pytest.approx(50.0)


def test_tracker_measures_from_the_oldest_sample_in_its_window() -> None:
    tracker = RateTracker(window_s=60, min_span_s=1.0)
    tracker.add(OffsetSample(0.0, {"orders": 0}))
    tracker.add(OffsetSample(30.0, {"orders": 300}))
    tracker.add(OffsetSample(70.0, {"orders": 1000}))  # the sample at 0 falls out of the window
    assert len(tracker) == 2
    assert tracker.rates()["orders"] == pytest.approx(700 / 40)


def test_tracker_orders_samples_that_arrive_late() -> None:
    tracker = RateTracker(window_s=60, min_span_s=1.0)
    tracker.add(OffsetSample(10.0, {"orders": 100}))
    tracker.add(OffsetSample(0.0, {"orders": 0}))  # a slower concurrent read finished last
    assert tracker.rates()["orders"] == pytest.approx(10.0)


def test_window_shorter_than_span_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        RateTracker(window_s=0.5, min_span_s=1.0)
