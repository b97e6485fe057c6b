"""The dedupe store: one row per provider delivery, claimed by an atomic insert, done only once Kafka acked.

A delivery goes `claimed` -> `done` (published and acked) or back to nothing (publishing
failed: the provider's retry must be able to claim it again). The unique key insert decides
which of several concurrent deliveries publishes; the others wait for it to finish. A claim
whose holder died is taken over once its lease has run out, so a crash between claim and
publish cannot block a delivery for good.

Beside the deliveries, the store remembers the newest provider time accepted per resource
(`gateway_versions`): `advance` moves it forward only, in one conditional upsert, so concurrent
deliveries of different versions leave the newest behind whatever their order.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import String, Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.clock import Clock
from services.common.db import UtcDateTime
from services.common.ids import stable_id

__all__ = ["Claim", "DedupeStore", "ResourceVersion", "WebhookDelivery"]

logger = logging.getLogger(__name__)

MAX_ID_CHARS = 200


class Base(DeclarativeBase):
    pass


class WebhookDelivery(Base):
    __tablename__ = "gateway_deliveries"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS + 32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # claimed | done
    token: Mapped[str] = mapped_column(String(32))  # who holds the claim
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    event_id: Mapped[str | None] = mapped_column(String(256))


class ResourceVersion(Base):
    """The newest provider time accepted for one resource (a Shopify order and topic, a payment, a tracking)."""

    __tablename__ = "gateway_versions"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource: Mapped[str] = mapped_column(String(MAX_ID_CHARS + 32), primary_key=True)
    newest_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]  # Core access for the upsert
VERSIONS: Table = ResourceVersion.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Claim:
    """`claimed`: publish it, then `done` or `release`. `done`: already published. `busy`: someone is on it."""

    status: Literal["claimed", "done", "busy"]
    source: str
    delivery_id: str
    token: str = ""


def _key(delivery_id: str) -> str:
    """Provider ids fit; anything longer is stored as a digest so the key stays bounded."""
    return delivery_id if len(delivery_id) <= MAX_ID_CHARS else stable_id("long", delivery_id, length=48)


class DedupeStore:
    def __init__(self, engine: AsyncEngine, clock: Clock, *, lease: timedelta = timedelta(seconds=30)) -> None:
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
        self.clock = clock
        self.lease = lease

    async def create(self) -> None:
        """Create the table if it is missing (safe at every start, and when two gateways start at once)."""
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                return
            except DBAPIError:  # another process created it between our check and our CREATE
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)

    def _insert(self, session: AsyncSession) -> Any:
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        return postgresql_insert if dialect == "postgresql" else sqlite_insert

    async def claim(self, source: str, delivery_id: str) -> Claim:
        """Insert the row if absent: whoever inserts it publishes. A stale claim is taken over."""
        key = _key(delivery_id)
        now = self.clock.now()
        token = uuid.uuid4().hex
        table = DELIVERIES
        async with self.sessions() as session:
            statement = self._insert(session)(table).values(
                source=source, delivery_id=key, state="claimed", token=token, claimed_at=now,
            ).on_conflict_do_nothing()
            inserted = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
            await session.commit()
            if inserted:
                return Claim("claimed", source, delivery_id, token)
            row = await session.get(WebhookDelivery, (source, key), populate_existing=True)
            if row is None:  # released between our insert and our read: the caller tries again
                return Claim("busy", source, delivery_id)
            if row.state == "done":
                return Claim("done", source, delivery_id)
            if row.claimed_at > now - self.lease:
                return Claim("busy", source, delivery_id)
            taken = (await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.source == source, WebhookDelivery.delivery_id == key,
                       WebhookDelivery.state == "claimed", WebhookDelivery.token == row.token)
                .values(token=token, claimed_at=now))).rowcount  # type: ignore[attr-defined]
            await session.commit()
            if taken:
                logger.warning("took over a stale claim on %s delivery %s", source, delivery_id)
                return Claim("claimed", source, delivery_id, token)
            return Claim("busy", source, delivery_id)

    async def done(self, claim: Claim, event_id: str | None = None) -> None:
        """Mark a claimed delivery published (call only after the broker acked it)."""
        async with self.sessions() as session:
            moved = (await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.source == claim.source, WebhookDelivery.delivery_id == _key(claim.delivery_id),
                       WebhookDelivery.token == claim.token)
                .values(state="done", done_at=self.clock.now(), event_id=event_id))).rowcount  # type: ignore[attr-defined]
            await session.commit()
        if not moved:  # our lease ran out and someone took over: they publish the same event id again
            logger.warning("%s delivery %s was taken over before it was marked done", claim.source, claim.delivery_id)

    async def release(self, claim: Claim) -> None:
        """Give a claim back after a failed publish, so the provider's retry is not deduped away."""
        async with self.sessions() as session:
            await session.execute(
                delete(WebhookDelivery)
                .where(WebhookDelivery.source == claim.source, WebhookDelivery.delivery_id == _key(claim.delivery_id),
                       WebhookDelivery.token == claim.token, WebhookDelivery.state == "claimed"))
            await session.commit()

    async def state(self, source: str, delivery_id: str) -> str | None:
        """`claimed`, `done`, or None when there is no row."""
        async with self.sessions() as session:
            result = await session.execute(select(WebhookDelivery.state).where(
                WebhookDelivery.source == source, WebhookDelivery.delivery_id == _key(delivery_id)))
            return result.scalar_one_or_none()

    async def newest(self, source: str, resource: str) -> datetime | None:
        """The newest provider time accepted for `resource`, None if none was (or it was forgotten)."""
        async with self.sessions() as session:
            result = await session.execute(select(ResourceVersion.newest_at).where(
                ResourceVersion.source == source, ResourceVersion.resource == _key(resource)))
            return result.scalar_one_or_none()

    async def advance(self, source: str, resource: str, at: datetime) -> bool:
        """Record `at` as the newest for `resource` unless a newer one is there; True if it moved."""
        async with self.sessions() as session:
            insert_ = self._insert(session)(VERSIONS).values(
                source=source, resource=_key(resource), newest_at=at, seen_at=self.clock.now())
            statement = insert_.on_conflict_do_update(
                index_elements=[VERSIONS.c.source, VERSIONS.c.resource],
                set_={"newest_at": insert_.excluded.newest_at, "seen_at": insert_.excluded.seen_at},
                where=VERSIONS.c.newest_at < insert_.excluded.newest_at)
            moved = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
            await session.commit()
            return bool(moved)

    async def purge(self, before: datetime) -> int:
        """Forget deliveries finished, and versions last moved, before `before`; how many rows went.

        Safe as long as every replay window is shorter than the retention: a body older than a
        forgotten version is older than its window too.
        """
        async with self.sessions() as session:
            deliveries = await session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.state == "done", WebhookDelivery.done_at < before))
            versions = await session.execute(delete(ResourceVersion).where(ResourceVersion.seen_at < before))
            await session.commit()
            return int(deliveries.rowcount) + int(versions.rowcount)  # type: ignore[attr-defined]
