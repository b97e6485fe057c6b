"""Bring care's tables to the latest Alembic revision (versioned in `care_alembic_version`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import normalise_url

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Run `alembic upgrade head` on the engine's database (safe to call at every start)."""

    def _upgrade(connection: object) -> None:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


if __name__ == "__main__":
    from services.care.settings import CareSettings
    from services.common.db import create_engine
    from services.common.settings import CommonSettings

    async def _main() -> None:
        engine = create_engine(CareSettings().database_url or CommonSettings().database_url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(_main())
