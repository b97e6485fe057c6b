"""WatchSettings: documented defaults, per-store overrides, a safe retry link template."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.order_watcher.rules import WatchSettings

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    settings = WatchSettings()
    assert settings.ship_grace == timedelta(hours=2)
    assert settings.tracking_stall_after == timedelta(hours=48)
    assert settings.decline_window == timedelta(minutes=15)
    assert settings.escalation_window == timedelta(days=90)
    assert settings.seen_ids_limit == 64
    assert settings.retry_url(store_id="acme", order_id="o-1", payment_id="p") == "https://acme.example/pay/o-1"


def test_for_store_merges_overrides_and_leaves_other_stores_alone() -> None:
    settings = WatchSettings(overrides={"acme": {"ship_grace": "PT6H", "decline_window": 600}})
    acme = settings.for_store("acme")
    assert acme.ship_grace == timedelta(hours=6)
    assert acme.decline_window == timedelta(minutes=10)
    assert acme.tracking_stall_after == settings.tracking_stall_after
    assert settings.for_store("other") is settings
    assert settings.for_store(None) is settings


@pytest.mark.parametrize(
    "overrides",
    [{"acme": {"ship_grace": "soon"}}, {"acme": {"no_such_knob": 1}}, {"acme": {"overrides": {}}}],
)
def test_bad_overrides_are_refused_at_start(overrides: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        WatchSettings(overrides=overrides)


@pytest.mark.parametrize("template", ["https://{shop}.example/{order_id}", "https://x/{order_id.__class__}", "{"])
def test_retry_url_template_only_takes_known_fields(template: str) -> None:
    with pytest.raises(ValidationError):
        WatchSettings(retry_url_template=template)


def test_settings_are_frozen() -> None:
    settings = WatchSettings()
    with pytest.raises(ValidationError):
        settings.ship_grace = timedelta(0)  # type: ignore[misc]
