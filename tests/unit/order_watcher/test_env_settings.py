"""Every detection threshold can be set from the environment (FOREWARN_WATCH_*), defaults unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.order_watcher.rules import WatchSettings
from services.order_watcher.settings import OrderWatcherSettings

pytestmark = pytest.mark.unit


def test_defaults_are_the_rules_defaults() -> None:
    assert OrderWatcherSettings().rules() == WatchSettings()


def test_every_rules_field_has_a_variable_of_its_name() -> None:
    assert set(WatchSettings.model_fields) | {"batch_size", "batch_wait_s"} == set(OrderWatcherSettings.model_fields)


def test_unset_knobs_leave_the_rules_defaults() -> None:
    settings = OrderWatcherSettings()
    assert (settings.ship_grace, settings.seen_ids_limit, settings.overrides) == (None, None, None)


def test_batching_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_WATCH_BATCH_SIZE", "7")
    monkeypatch.setenv("FOREWARN_WATCH_BATCH_WAIT_S", "0.2")
    settings = OrderWatcherSettings()
    assert (settings.batch_size, settings.batch_wait_s) == (7, 0.2)


def test_thresholds_and_store_overrides_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_WATCH_SHIP_GRACE_S", "0")
    monkeypatch.setenv("FOREWARN_WATCH_DECLINE_WINDOW", "4.5")
    monkeypatch.setenv("FOREWARN_WATCH_ESCALATION_WINDOW", "P30D")
    monkeypatch.setenv("FOREWARN_WATCH_SEEN_IDS_LIMIT", "8")
    monkeypatch.setenv("FOREWARN_WATCH_OVERRIDES", '{"acme": {"ship_grace": "PT6H"}}')
    rules = OrderWatcherSettings().rules()
    assert rules.ship_grace == timedelta(0)
    assert rules.decline_window == timedelta(seconds=4.5)
    assert rules.escalation_window == timedelta(days=30)
    assert rules.seen_ids_limit == 8
    assert rules.for_store("acme").ship_grace == timedelta(hours=6)
    assert rules.for_store("other").ship_grace == timedelta(0)


@pytest.mark.parametrize(("name", "value"), [("SHIP_GRACE_S", "-1"), ("SHIP_GRACE", "-PT1H"), ("SEEN_IDS_LIMIT", "0"),
                                             ("RETRY_URL_TEMPLATE", "https://x/{secret}")])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"FOREWARN_WATCH_{name}", value)
    with pytest.raises(ValueError):
        OrderWatcherSettings().rules()
