"""Bring care's tables to the latest Alembic revision (versioned in `care_alembic_version`); the service does it
before it starts (`bootstrap.migrate_database`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import migrations

__all__ = ["MIGRATIONS", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


async def upgrade(engine: AsyncEngine) -> None:
    """Run `alembic upgrade head` on the engine's database (safe to call at every start)."""
    await migrations.upgrade(engine, MIGRATIONS)

