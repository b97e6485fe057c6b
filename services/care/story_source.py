"""The notifier's delivery ledger, read-only, for one customer's story (SQLAlchemy Core).

Why read the notifier's ledger rather than keep a copy fed from topics: the messages as the customer saw
them (rendered text, subject, the address they went to) exist only there — `notifications` events carry
outcomes, never content, so that message text stays out of Kafka. Each row also holds the incident event
it is about, so the ledger alone gives every incident the notifier heard of and every message it sent,
deferred or withdrew. One read at the moment a ticket is opened or added to is the simplest honest source;
a second copy of that personal data in care's tables would only drift.

The columns are declared here by the names of the notifier's migrations (services do not import each
other); the integration tests read a ledger those migrations built. Nothing here writes: SQLite
connections are `query_only`, PostgreSQL transactions READ ONLY.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import UtcDateTime, create_engine, normalise_url
from services.common.streams import TransientError

__all__ = ["DELIVERIES", "DeliveryReader"]

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
    Column("due_at", UtcDateTime()),
    Column("body", Text),
    Column("subject", String(255)),
    Column("incident", Text),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
)


class DeliveryReader:
    """A customer's delivery rows, oldest first; the engine is made on first use."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = normalise_url(url)
        self.timeout_s = timeout_s
        self._engine: AsyncEngine | None = None

    async def for_customer(self, customer_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """Every delivery row of the customer (newest `limit`), oldest first. No ledger yet: none.
        A ledger that cannot be read now is a transient failure (the event is tried again)."""
        statement = (select(DELIVERIES).where(DELIVERIES.c.customer_id == customer_id)
                     .order_by(DELIVERIES.c.id.desc()).limit(limit))
        engine = self._engine_for_read()
        try:
            async with asyncio.timeout(self.timeout_s), engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn = await conn.execution_options(postgresql_readonly=True)
                rows = [dict(row._mapping) for row in await conn.execute(statement)]
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            text = str(getattr(exc, "orig", None) or exc)
            if "deliveries" in text and ("no such table" in text or "does not exist" in text):
                return []  # the notifier has not created its ledger yet: nothing was sent
            raise TransientError(f"the notifier's ledger cannot be read: {exc.__class__.__name__}") from exc
        rows.reverse()
        return rows

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def _engine_for_read(self) -> AsyncEngine:
        if self._engine is None:
            engine = create_engine(self.url)
            if engine.dialect.name == "sqlite":
                event.listen(engine.sync_engine, "connect", _sqlite_query_only)
            self._engine = engine
        return self._engine


def _sqlite_query_only(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()
