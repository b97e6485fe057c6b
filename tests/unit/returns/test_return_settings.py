"""ReturnSettings: documented defaults, per-store overrides, the window's bounds, and the environment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.returns.rules import MAX_RETURN_WINDOW, ReturnSettings
from services.returns.settings import ReturnsSettings

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    settings = ReturnSettings()
    assert settings.refund_sla == timedelta(hours=24)
    assert settings.refund_escalate_after == timedelta(hours=72)
    assert settings.return_window == timedelta(days=30)
    assert settings.label_scan_reminder_after == timedelta(days=14)
    assert settings.journey_return_received is True
    assert settings.journey_return_rejected is True
    assert settings.journey_refund_issued is False
    assert settings.journey_window_exceeded is False
    assert settings.retain_for > MAX_RETURN_WINDOW


def test_for_store_merges_overrides_and_leaves_other_stores_alone() -> None:
    settings = ReturnSettings(overrides={"acme": {"refund_sla": "PT12H", "return_window": "P365D",
                                                  "journey_refund_issued": True}})
    acme = settings.for_store("acme")
    assert acme.refund_sla == timedelta(hours=12)
    assert acme.return_window == timedelta(days=365)
    assert acme.journey_refund_issued is True
    assert acme.refund_escalate_after == settings.refund_escalate_after
    assert settings.for_store("other") is settings
    assert settings.for_store(None) is settings


@pytest.mark.parametrize(
    "fields",
    [
        {"return_window": "P366D"},
        {"return_window": 0},
        {"refund_sla": 0},
        {"refund_escalate_after": -1},
        {"label_scan_reminder_after": "soon"},
        {"no_such_knob": 1},
    ],
)
def test_bad_values_are_refused_at_start(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ReturnSettings.model_validate(fields)
    with pytest.raises(ValidationError):
        ReturnSettings(overrides={"acme": fields})


def test_overrides_cannot_nest() -> None:
    with pytest.raises(ValidationError):
        ReturnSettings(overrides={"acme": {"overrides": {}}})


def test_a_year_long_window_is_allowed() -> None:
    assert ReturnSettings(return_window=MAX_RETURN_WINDOW).return_window == timedelta(days=365)


def test_environment_sets_knobs_in_seconds_or_iso_and_per_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_RETURNS_REFUND_SLA_S", "30")
    monkeypatch.setenv("FOREWARN_RETURNS_REFUND_ESCALATE_AFTER", "PT2H")
    monkeypatch.setenv("FOREWARN_RETURNS_RETURN_WINDOW", "P90D")
    monkeypatch.setenv("FOREWARN_RETURNS_JOURNEY_REFUND_ISSUED", "true")
    monkeypatch.setenv("FOREWARN_RETURNS_OVERRIDES", '{"acme": {"journey_return_received": false}}')
    rules = ReturnsSettings().rules()
    assert rules.refund_sla == timedelta(seconds=30)
    assert rules.refund_escalate_after == timedelta(hours=2)
    assert rules.return_window == timedelta(days=90)
    assert rules.label_scan_reminder_after == timedelta(days=14)
    assert rules.journey_refund_issued is True
    assert rules.for_store("acme").journey_return_received is False
    assert rules.for_store("acme").refund_sla == timedelta(seconds=30)


def test_environment_unset_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REFUND_SLA", "REFUND_SLA_S", "RETURN_WINDOW", "OVERRIDES", "JOURNEY_REFUND_ISSUED"):
        monkeypatch.delenv(f"FOREWARN_RETURNS_{name}", raising=False)
    assert ReturnsSettings().refund_sla is None
    assert ReturnsSettings().rules() == ReturnSettings()


@pytest.mark.parametrize("name", ["REFUND_ESCALATE_AFTER", "REFUND_ESCALATE_AFTER_S"])
def test_environment_refuses_a_negative_duration(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(f"FOREWARN_RETURNS_{name}", "-60")
    with pytest.raises(ValidationError):
        ReturnsSettings()


def test_environment_refuses_a_window_over_a_year(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_RETURNS_RETURN_WINDOW", "P400D")
    with pytest.raises(ValidationError):
        ReturnsSettings().rules()


def test_batching_comes_from_the_environment_apart_from_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_RETURNS_BATCH_SIZE", "7")
    monkeypatch.setenv("FOREWARN_RETURNS_BATCH_WAIT_S", "0.2")
    settings = ReturnsSettings()
    assert (settings.batch_size, settings.batch_wait_s) == (7, 0.2)
    assert settings.rules() == ReturnSettings()

