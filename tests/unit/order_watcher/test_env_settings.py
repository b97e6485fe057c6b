"""Every detection threshold can be set from the environment (FOREWARN_WATCH_*), defaults unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.order_watcher.rules import WatchSettings
from services.order_watcher.settings import DURATIONS, OrderWatcherSettings

pytestmark = pytest.mark.unit


def test_defaults_are_the_rules_defaults() -> None:
    assert OrderWatcherSettings().rules() == WatchSettings()


def test_every_rules_field_has_a_variable() -> None:
    names = {f"{n}_s" if n in DURATIONS else n for n in WatchSettings.model_fields}
    assert names | {"batch_size", "batch_wait_s"} == set(OrderWatcherSettings.model_fields)


def test_batching_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_WATCH_BATCH_SIZE", "7")
    monkeypatch.setenv("FOREWARN_WATCH_BATCH_WAIT_S", "0.2")
    settings = OrderWatcherSettings()
    assert (settings.batch_size, settings.batch_wait_s) == (7, 0.2)


def test_thresholds_and_store_overrides_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_WATCH_SHIP_GRACE_S", "0")
    monkeypatch.setenv("FOREWARN_WATCH_DECLINE_WINDOW_S", "4.5")
    monkeypatch.setenv("FOREWARN_WATCH_SEEN_IDS_LIMIT", "8")
    monkeypatch.setenv("FOREWARN_WATCH_OVERRIDES", '{"acme": {"ship_grace": "PT6H"}}')
    rules = OrderWatcherSettings().rules()
    assert rules.ship_grace == timedelta(0)
    assert rules.decline_window == timedelta(seconds=4.5)
    assert rules.seen_ids_limit == 8
    assert rules.for_store("acme").ship_grace == timedelta(hours=6)
    assert rules.for_store("other").ship_grace == timedelta(0)


@pytest.mark.parametrize(("name", "value"), [("SHIP_GRACE_S", "-1"), ("SEEN_IDS_LIMIT", "0"),
                                             ("RETRY_URL_TEMPLATE", "https://x/{secret}")])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"FOREWARN_WATCH_{name}", value)
    with pytest.raises(ValueError):
        OrderWatcherSettings().rules()
