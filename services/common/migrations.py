"""Alembic for a service's own tables: one history per service, each with its own version table, so several
services can keep their tables in one database (SQLite or PostgreSQL, async engine)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import create_engine, normalise_url

__all__ = ["alembic_config", "run_environment", "upgrade"]


def alembic_config(url: str, migrations: Path) -> Config:
    """An Alembic configuration for the history in `migrations` on the database at `url`."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, migrations: Path) -> None:
    """Run `alembic upgrade head` for the history in `migrations` on the engine's database (safe at every start)."""

    def _upgrade(connection: object) -> None:
        config = alembic_config(engine.url.render_as_string(hide_password=False), migrations)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def run_environment(context: Any, metadata: MetaData, *, version_table: str = "alembic_version") -> None:
    """The body of a history's `env.py`: offline (SQL out), on the connection `upgrade` hands over, or on an
    engine of its own (the `alembic` command line)."""
    options: dict[str, Any] = {"target_metadata": metadata, "version_table": version_table}

    def _run(connection: Connection) -> None:
        context.configure(connection=connection, render_as_batch=True, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def _online() -> None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        async with engine.connect() as connection:
            await connection.run_sync(_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=context.config.get_main_option("sqlalchemy.url"), **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_online())
