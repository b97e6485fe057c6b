"""Settings: sane defaults, env overrides, secrets refused where they must be real."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.settings import CommonSettings
from services.notifier.settings import NotifierSettings

pytestmark = pytest.mark.unit


def test_defaults_fit_make_run(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "FOREWARN_DATABASE_URL")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    settings = CommonSettings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.store == "memory://"
    assert settings.topic("orders") == "orders"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.5:9092")
    monkeypatch.setenv("FOREWARN_TOPIC_PREFIX", "staging-")
    monkeypatch.setenv("FOREWARN_PARTITIONS", "12")
    settings = CommonSettings()
    assert settings.kafka_bootstrap_servers == "10.0.0.5:9092"
    assert settings.topic("orders") == "staging-orders"
    assert settings.partitions == 12


def test_settings_are_frozen() -> None:
    settings = CommonSettings()
    with pytest.raises(ValidationError):
        settings.partitions = 3  # type: ignore[misc]


def test_production_refuses_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_ENV", "production")
    monkeypatch.setenv("FOREWARN_LINK_SECRET", "a-long-random-production-secret")
    with pytest.raises(ValidationError, match="rocksdb"):
        CommonSettings()
    monkeypatch.setenv("FOREWARN_STORE", "rocksdb://")
    assert CommonSettings().store == "rocksdb://"


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_ENV", "production")
    monkeypatch.setenv("FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN", "changeme")
    with pytest.raises(ValidationError, match="TWILIO_AUTH_TOKEN"):
        NotifierSettings()
    monkeypatch.setenv("FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN", "a-real-looking-token-123")
    assert NotifierSettings().twilio_auth_token is not None


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_NOTIFIER_SENDGRID_API_KEY", "SG.very-secret")
    settings = NotifierSettings()
    assert "SG.very-secret" not in repr(settings)
    assert settings.sendgrid_enabled
    assert not settings.twilio_enabled
