"""The notifier's delivery ledger, read-only, for one customer's story (SQLAlchemy Core).

Why read the notifier's ledger rather than keep a copy fed from topics: the messages as the customer saw
them (rendered text, subject, the address they went to) exist only there — `notifications` events carry
outcomes, never content, so that message text stays out of Kafka. Each row also holds the incident event
it is about, so the ledger alone gives every incident the notifier heard of and every message it sent,
deferred or withdrew. One read at the moment a ticket is opened or added to is the simplest honest source;
a second copy of that personal data in care's tables would only drift.

The columns are declared once, by the names of the notifier's migrations, in
`services.common.delivery_ledger`; care's integration tests read a ledger those migrations built. Nothing
here writes: SQLite connections are `query_only`, PostgreSQL transactions READ ONLY.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import normalise_url
from services.common.delivery_ledger import DELIVERIES, read_only, read_only_engine
from services.common.streams import TransientError

__all__ = ["DeliveryReader"]

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
                rows = [dict(row._mapping) for row in await (await read_only(conn)).execute(statement)]
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
            self._engine = read_only_engine(self.url)
        return self._engine
