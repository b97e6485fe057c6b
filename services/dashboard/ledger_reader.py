"""The notifier's delivery ledger at the edge, read-only, with SQLAlchemy Core.

The columns are declared once, by the names of the notifier's Alembic migrations, in
`services.common.delivery_ledger`; the integration tests read a ledger built by those migrations, so a
renamed column fails there. Nothing here writes: SQLite connections are `query_only`, PostgreSQL
transactions READ ONLY, and a SQLite file that does not exist yet is reported, not created."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import normalise_url
from services.common.delivery_ledger import DELIVERIES, read_only, read_only_engine
from services.common.masking import mask_pii

__all__ = ["DELIVERIES", "LedgerReader", "LedgerUnavailable"]

logger = logging.getLogger(__name__)

class LedgerUnavailable(Exception):
    """The ledger cannot be read (no database yet, no table yet, or the server is away)."""


class LedgerReader:
    """Reads the latest deliveries and the count per state; the engine is made on first use."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = normalise_url(url)
        self.timeout_s = timeout_s
        self._engine: AsyncEngine | None = None

    async def latest(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` most recently created rows, newest first (by id: the table's own order, indexed)."""
        rows = await self._rows(select(DELIVERIES).order_by(DELIVERIES.c.id.desc()).limit(limit))
        return [dict(row._mapping) for row in rows]

    async def state_counts(self) -> dict[str, int]:
        rows = await self._rows(select(DELIVERIES.c.state, func.count().label("n")).group_by(DELIVERIES.c.state))
        return {str(row._mapping["state"]): int(row._mapping["n"]) for row in rows}

    async def rows(self, statement: Select[Any]) -> list[dict[str, Any]]:
        """Any read of the ledger, as mappings (LedgerUnavailable when it cannot be read)."""
        return [dict(row._mapping) for row in await self._rows(statement)]

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _rows(self, statement: Select[Any]) -> list[Row[Any]]:
        engine = self._engine_for_read()
        try:
            async with asyncio.timeout(self.timeout_s), engine.connect() as conn:
                return list(await (await read_only(conn)).execute(statement))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise LedgerUnavailable(_describe(exc)) from exc

    def _engine_for_read(self) -> AsyncEngine:
        parsed = make_url(self.url)
        database = parsed.database
        on_disk = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
        if on_disk and not Path(str(database)).exists():
            raise LedgerUnavailable(f"no ledger at {database} yet (the notifier creates it)")
        if self._engine is None:
            self._engine = read_only_engine(self.url)
        return self._engine


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the ledger database did not answer in time"
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if "deliveries" in text and ("no such table" in text or "does not exist" in text):
        return "the ledger has no deliveries table yet (the notifier's migrations create it)"
    return f"the ledger cannot be read: {mask_pii(text)}"


