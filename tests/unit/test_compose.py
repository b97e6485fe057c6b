"""docker-compose.yml runs what exists: every command is a runnable module, every variable a real setting."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from services.care.settings import CareSettings
from services.common.settings import CommonSettings
from services.gateway.settings import GatewaySettings
from services.notifier.settings import NotifierSettings
from services.order_watcher.settings import OrderWatcherSettings
from services.returns.settings import ReturnsSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OURS = {name: spec for name, spec in COMPOSE["services"].items() if "build" in spec}
SETTINGS: dict[str, type[BaseSettings]] = {
    "FOREWARN_GATEWAY_": GatewaySettings, "FOREWARN_NOTIFIER_": NotifierSettings, "FOREWARN_CARE_": CareSettings,
    "FOREWARN_WATCH_": OrderWatcherSettings, "FOREWARN_RETURNS_": ReturnsSettings, "FOREWARN_": CommonSettings,
}


def _settings_for(variable: str) -> tuple[type[BaseSettings], str]:
    prefix = max((p for p in SETTINGS if variable.startswith(p)), key=len)
    return SETTINGS[prefix], variable.removeprefix(prefix).lower()


def _accepts(cls: type[BaseSettings], field: str, variable: str) -> bool:
    if field in cls.model_fields:
        return True
    names: set[str] = set()
    for info in cls.model_fields.values():
        alias = info.validation_alias
        names.update(str(a) for a in getattr(alias, "choices", [alias]) if a is not None)
    return variable in names


def test_every_forewarn_service_is_built_from_the_dockerfile_and_runs_a_module_that_exists() -> None:
    assert {"order-watcher", "returns", "notifier", "care", "gateway", "dashboard", "simulator"} <= set(OURS)
    for name, spec in OURS.items():
        assert (ROOT / spec["build"]["dockerfile"]).is_file(), name
        module = spec["command"][0]
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{name}: no module {module}"


@pytest.mark.parametrize("service", sorted(OURS))
def test_every_variable_is_a_setting(service: str) -> None:
    environment: dict[str, Any] = OURS[service]["environment"]
    unknown = []
    for variable in environment:
        if variable.startswith("FOREWARN_DASHBOARD_"):
            continue  # checked by the dashboard's own settings tests
        cls, field = _settings_for(variable)
        if not _accepts(cls, field, variable):
            unknown.append(variable)
    assert not unknown, f"{service}: variables no settings class reads: {unknown}"


def test_the_broker_image_is_the_kafka_version_the_local_broker_runs() -> None:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match is not None
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{match.group(1)}"


def test_the_dashboard_is_published_on_loopback_only_and_needs_a_token() -> None:
    dashboard = OURS["dashboard"]
    assert all(port.startswith("127.0.0.1:") for port in dashboard["ports"])
    assert "FOREWARN_DASHBOARD_TOKEN" in dashboard["environment"]


def test_an_empty_secret_in_the_environment_leaves_the_source_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose passes `${SECRET:-}` as an empty string when it is unset: that must not become an empty key."""
    monkeypatch.setenv("FOREWARN_GATEWAY_SHOPIFY_SECRET", "")
    monkeypatch.setenv("FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN", "")
    assert GatewaySettings().shopify_secret is None
    assert NotifierSettings().twilio_auth_token is None
