"""A duration knob (`services.common.settings.Duration`) is seconds or ISO 8601, under its name or the same name
with `_S`, in both detection services; a negative or unreadable value stops the service at start."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.order_watcher.rules import WatchSettings
from services.order_watcher.settings import OrderWatcherSettings
from services.returns.rules import ReturnSettings
from services.returns.settings import ReturnsSettings

pytestmark = pytest.mark.unit

SERVICES = [
    pytest.param(OrderWatcherSettings, WatchSettings, "FOREWARN_WATCH_", "ship_grace", id="order_watcher"),
    pytest.param(ReturnsSettings, ReturnSettings, "FOREWARN_RETURNS_", "refund_sla", id="returns"),
]
Knobs = type[OrderWatcherSettings] | type[ReturnsSettings]
Rules = type[WatchSettings] | type[ReturnSettings]
NAMES = [pytest.param("", id="name"), pytest.param("_S", id="name_S")]


def _durations(settings: Knobs, rules: Rules) -> list[str]:
    """The knobs whose rule field is a duration."""
    fields = rules.model_fields
    return [name for name in settings.model_fields if name in fields and fields[name].annotation is timedelta]


@pytest.mark.parametrize(("settings", "rules", "prefix", "knob"), SERVICES)
@pytest.mark.parametrize("suffix", NAMES)
@pytest.mark.parametrize(("text", "expected"), [
    ("5400", timedelta(minutes=90)),
    ("0.5", timedelta(milliseconds=500)),
    ("PT6H", timedelta(hours=6)),
    ("P2DT30M", timedelta(days=2, minutes=30)),
])
def test_seconds_or_iso_8601_under_either_name(
    monkeypatch: pytest.MonkeyPatch, settings: Knobs, rules: Rules, prefix: str, knob: str,
    suffix: str, text: str, expected: timedelta,
) -> None:
    assert getattr(rules(), knob) != expected
    monkeypatch.setenv(f"{prefix}{knob.upper()}{suffix}", text)
    assert getattr(settings().rules(), knob) == expected


@pytest.mark.parametrize(("settings", "rules", "prefix", "knob"), SERVICES)
def test_every_duration_knob_answers_to_both_names(
    monkeypatch: pytest.MonkeyPatch, settings: Knobs, rules: Rules, prefix: str, knob: str,
) -> None:
    durations = _durations(settings, rules)
    assert knob in durations
    for name in durations:
        monkeypatch.setenv(f"{prefix}{name.upper()}_S", "61")
    assert all(getattr(settings().rules(), n) == timedelta(seconds=61) for n in durations)
    for name in durations:
        monkeypatch.setenv(f"{prefix}{name.upper()}", "PT2M")
    assert all(getattr(settings().rules(), n) == timedelta(minutes=2) for n in durations)


@pytest.mark.parametrize(("settings", "rules", "prefix", "knob"), SERVICES)
@pytest.mark.parametrize("suffix", NAMES)
@pytest.mark.parametrize(("text", "error"), [
    ("-1", "greater_than_equal"),
    ("-PT1H", "greater_than_equal"),
    ("soon", "time_delta_parsing"),
    ("nan", "time_delta_parsing"),
])
def test_negative_or_unreadable_is_refused(
    monkeypatch: pytest.MonkeyPatch, settings: Knobs, rules: Rules, prefix: str, knob: str,
    suffix: str, text: str, error: str,
) -> None:
    monkeypatch.setenv(f"{prefix}{knob.upper()}{suffix}", text)
    with pytest.raises(ValidationError) as refused:
        settings()
    assert [e["type"] for e in refused.value.errors()] == [error]
    assert f"{prefix}{knob.upper()}" in str(refused.value)
