"""Shared fixtures: the real broker, real databases, the fake provider server, per-test topic names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_providers import FakeProviders
from tests.support.fake_zendesk import FakeZendesk
from tests.support.kafka_broker import kafka_bootstrap
from tests.support.postgres import postgres_url

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test carries its tier's marker, from the folder it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts and not item.get_closest_marker(tier):
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """A bootstrap address of a real Kafka broker (started for the session when needed)."""
    with kafka_bootstrap() as bootstrap:
        os.environ.setdefault("FOREWARN_TEST_BOOTSTRAP", bootstrap)
        yield bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A random prefix so each test has its own topics and consumer groups."""
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture(scope="session")
def fake_providers_server() -> Iterator[FakeProviders]:
    server = FakeProviders().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def zendesk() -> Iterator[FakeZendesk]:
    """A fake Zendesk recording what the real zenpy client sends (a module may define one with other options)."""
    server = FakeZendesk().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_providers(fake_providers_server: FakeProviders) -> FakeProviders:
    fake_providers_server.reset()
    return fake_providers_server
