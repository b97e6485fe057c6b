"""Fixtures of the dashboard's integration tests: a ledger built by the notifier's migrations, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.dashboard import migrated_ledger_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    return await migrated_ledger_url(request.param, str(tmp_path), postgres)
