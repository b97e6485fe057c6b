"""Shared pytest setup for the notifier's unit tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: pure tests, no broker, no database, no network")
