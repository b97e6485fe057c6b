"""Frequency cap: rolling window, exempt severities, retry time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.policy import PolicySettings, Reason, frequency_cap

pytestmark = pytest.mark.unit

SETTINGS = PolicySettings()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_under_the_cap_passes() -> None:
    decision = frequency_cap([NOW - 2 * H, NOW - H], "normal", NOW, SETTINGS)
    assert decision.allowed and decision.reason is None


def test_three_in_24_hours_caps_the_fourth_until_the_oldest_leaves() -> None:
    sent = [NOW - 20 * H, NOW - 5 * H, NOW - H]
    decision = frequency_cap(sent, "high", NOW, SETTINGS)
    assert not decision.allowed
    assert decision.reason == Reason.FREQUENCY_CAP
    assert decision.retry_at == NOW + 4 * H


def test_the_window_is_rolling() -> None:
    sent = [NOW - 24 * H, NOW - 5 * H, NOW - H]  # the first is exactly 24 h old: out
    assert frequency_cap(sent, "normal", NOW, SETTINGS).allowed
    sent = [NOW - 24 * H + timedelta(seconds=1), NOW - 5 * H, NOW - H]
    assert not frequency_cap(sent, "normal", NOW, SETTINGS).allowed


def test_over_the_cap_waits_for_enough_to_leave() -> None:
    sent = [NOW - 23 * H, NOW - 22 * H, NOW - 2 * H, NOW - H]
    assert frequency_cap(sent, "normal", NOW, SETTINGS).retry_at == NOW + 2 * H


def test_critical_is_exempt() -> None:
    sent = [NOW - 3 * H, NOW - 2 * H, NOW - H, NOW - H / 2]
    assert frequency_cap(sent, "critical", NOW, SETTINGS).allowed
    assert not frequency_cap(sent, "low", NOW, SETTINGS).allowed
    assert frequency_cap(sent, "low", NOW, replace(SETTINGS, cap_exempt_severities=("low",))).allowed


def test_a_zero_cap_never_lets_anything_through() -> None:
    decision = frequency_cap([], "normal", NOW, replace(SETTINGS, cap_per_24h=0))
    assert not decision.allowed and decision.retry_at is None


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        PolicySettings(cap_per_24h=-1)
    with pytest.raises(ValueError):
        PolicySettings(cap_window=timedelta(0))
