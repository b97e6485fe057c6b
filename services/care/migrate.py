"""Bring care's tables to the latest Alembic revision (versioned in `care_alembic_version`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import migrations

__all__ = ["MIGRATIONS", "alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    return migrations.alembic_config(url, MIGRATIONS)


async def upgrade(engine: AsyncEngine) -> None:
    """Run `alembic upgrade head` on the engine's database (safe to call at every start)."""
    await migrations.upgrade(engine, MIGRATIONS)


if __name__ == "__main__":
    from services.care.settings import CareSettings
    from services.common.db import create_engine
    from services.common.settings import CommonSettings

    async def _main() -> None:
        engine = create_engine(CareSettings().database_url or CommonSettings().database_url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(_main())
