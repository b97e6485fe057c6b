"""The gateway's settings and topics: defaults for `make run`, real secrets in production, its dead-letter topic."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.kafka import registry_topic_specs
from services.common.settings import CommonSettings
from services.gateway.intake import DEAD_LETTER_TOPIC, dead_letter_headers
from services.gateway.mapping import MappingError
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit


def test_defaults_fit_make_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOREWARN_ENV", "FOREWARN_GATEWAY_PORT", "FOREWARN_GATEWAY_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = GatewaySettings()
    assert (settings.host, settings.port, settings.max_body_bytes) == ("127.0.0.1", 8080, 1024 * 1024)
    assert settings.stripe_tolerance_s == settings.sendgrid_tolerance_s == 300
    assert settings.public_url("/webhooks/twilio/status") == "http://127.0.0.1:8080/webhooks/twilio/status"


def test_environment_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_GATEWAY_PUBLIC_BASE_URL", "https://hooks.acme.example/")
    monkeypatch.setenv("FOREWARN_GATEWAY_STRIPE_SECRET", "whsec_abc123def456")
    settings = GatewaySettings()
    assert settings.public_url("/unsubscribe/n1") == "https://hooks.acme.example/unsubscribe/n1"
    assert settings.stripe_secret is not None and "whsec" not in repr(settings)


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_ENV", "production")
    monkeypatch.setenv("FOREWARN_GATEWAY_SHOPIFY_SECRET", "changeme")
    with pytest.raises(ValidationError, match="FOREWARN_GATEWAY_SHOPIFY_SECRET"):
        GatewaySettings()


def test_the_dead_letter_topic_is_created_alone_with_everyone_s_partitions() -> None:
    settings = CommonSettings(topic_prefix="p-", partitions=3)
    specs = {spec.name: spec for spec in registry_topic_specs(settings, [DEAD_LETTER_TOPIC])}
    assert "p-gateway.dlq" in specs and "p-gateway.dlq.dlq" not in specs and "p-gateway" not in specs
    assert specs["p-gateway.dlq"].num_partitions == specs["p-orders"].num_partitions == 3
    assert len(specs) == len(registry_topic_specs(settings)) + 1


def test_dead_letter_headers_say_why_without_personal_data() -> None:
    headers = dict(dead_letter_headers(
        source="twilio", endpoint="/webhooks/twilio/inbound", error=MappingError("From is not an E.164 phone number"),
        received_at="2026-03-02T17:00:00+00:00", context={"from": "+14155550123", "empty": ""}))
    assert headers["forewarn.dlq.error-class"] == b"services.gateway.mapping.base.MappingError"
    assert headers["forewarn.dlq.error-message"] == b"From is not an E.164 phone number"
    assert headers["forewarn.dlq.source"] == b"twilio" and headers["forewarn.dlq.service"] == b"gateway"
    assert b"4155550123" not in headers["forewarn.dlq.from"] and "forewarn.dlq.empty" not in headers
