"""The notifier's delivery ledger as other services read it: its columns, and a read-only engine.

The columns are declared by the names of the notifier's Alembic migrations: services do not import each
other, and reflecting would cost a round trip and hand back naive datetimes on SQLite. The tests that read
it (the dashboard's, care's) read a ledger those migrations built, so a renamed column fails there. An
engine from `read_only_engine` cannot write: SQLite connections are `query_only`, and `read_only` makes a
PostgreSQL connection's transactions READ ONLY."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.db import UtcDateTime, create_engine

__all__ = ["DELIVERIES", "read_only", "read_only_engine"]

_METADATA = MetaData()

DELIVERIES = Table(
    "deliveries", _METADATA,
    Column("id", Integer, primary_key=True),
    Column("notification_id", String(64)),
    Column("incident_id", String(128)),
    Column("customer_id", String(128)),
    Column("order_id", String(128)),
    Column("channel", String(16)),
    Column("address", String(320)),
    Column("severity", String(16)),
    Column("state", String(16)),
    Column("reason", String(255)),
    Column("provider", String(32)),
    Column("provider_message_id", String(128)),
    Column("attempts", Integer),
    Column("due_at", UtcDateTime()),
    Column("body", Text),
    Column("subject", String(255)),
    Column("incident", Text),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
)


def read_only_engine(url: str) -> AsyncEngine:
    """An engine whose SQLite connections refuse writes (pair with `read_only` for PostgreSQL)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_query_only)
    return engine


async def read_only(conn: AsyncConnection) -> AsyncConnection:
    """The connection, its transactions READ ONLY on PostgreSQL (SQLite's are, by `read_only_engine`)."""
    if conn.dialect.name == "postgresql":
        return await conn.execution_options(postgresql_readonly=True)
    return conn


def _sqlite_query_only(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()
