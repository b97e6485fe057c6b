"""The delivery ledger: one row per (incident, customer, channel, follow-up), reserved before any provider call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime
from services.notifier.delivery_states import (
    ASKED_STATES,
    CALLBACK_RANK,
    DeliveryState,
    IllegalTransition,
    allowed,
    check,
    sources_of,
)

__all__ = [
    "ASKED_STATES", "PROMISE_STATES", "PURPOSES", "STATES", "Base", "Delivery", "DeliveryState", "IllegalTransition",
    "Ledger", "Reservation",
]

logger = logging.getLogger(__name__)

S = DeliveryState
STATES = tuple(S)  # the moves between them: `delivery_states.TRANSITIONS`, enforced by `Ledger`
# A message's promise of the next update (`next_update_at`): open until a follow-up keeps it (kept, the follow-up
# row reserved in the same transaction) or it proves moot (ended: resolved, superseded by a newer message, limit).
PROMISE_STATES = ("open", "kept", "ended")
PURPOSES = ("incident", "feedback", "case", "answer")
# A message about an incident in one of these states reached the customer, or may have.
TOLD_STATES = (S.SENT, S.DELIVERED, S.AMBIGUOUS)
# States whose rows count as sends for the frequency cap.
CAPPED_STATES = (S.SENT, S.DELIVERED, S.SENDING)


class Base(DeclarativeBase):
    pass


class StateType(TypeDecorator[DeliveryState]):
    """`deliveries.state`: stored as its string, read back as a `DeliveryState`; an unknown state is never written."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else S(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> DeliveryState | None:
        return None if value is None else S(value)


class ResolvedIncident(Base):
    """An incident whose condition cleared: anything not yet sent about it is withdrawn."""

    __tablename__ = "resolved_incidents"

    incident_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("incident_id", "customer_id", "channel", "follow_up", name="uq_delivery_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    order_id: Mapped[str | None] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(320), index=True)  # the phone or email it goes to
    severity: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[DeliveryState] = mapped_column(StateType(), index=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    body: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(255))
    incident: Mapped[str | None] = mapped_column(Text)  # the incident event, to render a deferred message later
    # The incident's event time (its detected_at): the clock coalescing compares, never created_at.
    incident_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # 0: the first message about the incident; n: the nth follow-up keeping a promise about its order.
    follow_up: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_update_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # the promise this message made
    promise: Mapped[str | None] = mapped_column(String(16))  # PROMISE_STATES; None: no promise
    # PURPOSES: a message about an incident, the feedback question after one, "a person will get in touch" about
    # a case, or our answer to a customer's SMS reply (the last three under an incident id of their own, with no
    # order; an answer is never counted by the frequency cap, and holds its kind of answer in `subject`).
    purpose: Mapped[str] = mapped_column(String(16), default="incident", server_default=text("'incident'"))


DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]  # Core access for bulk statements
# Insert a row unless one exists for the same incident, customer and channel; the ids of the rows inserted.
_RESERVE_MANY = {
    postgres: insert_(DELIVERIES).on_conflict_do_nothing().returning(DELIVERIES.c.notification_id)
    for postgres, insert_ in ((False, sqlite_insert), (True, postgresql_insert))
}


@dataclass(frozen=True)
class BatchContext:
    """What the policy needs from the ledger for a batch of incidents (rows are read-only Core rows)."""

    existing: dict[tuple[str, str], Any]  # (incident id, customer id) -> its row
    resolved: set[str]
    by_order: dict[tuple[str, str], list[Any]]  # (customer id, order id) -> the order's rows
    sent: dict[str, list[datetime]]  # customer id -> send times within the cap window


@dataclass(frozen=True)
class Reservation:
    """The outcome of trying to reserve a delivery: `fresh` is False when another attempt owns it."""

    notification_id: str
    fresh: bool
    state: DeliveryState


class Ledger:
    """Ledger operations; each is one short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def reserve(
        self, *, notification_id: str, incident_id: str, customer_id: str, channel: str, order_id: str | None,
        now: datetime, state: DeliveryState | str = S.RESERVED, reason: str | None = None,
        due_at: datetime | None = None,
        incident: str | None = None, severity: str | None = None, body: str | None = None,
        subject: str | None = None, attempts: int = 0, address: str | None = None, incident_at: datetime | None = None,
        next_update_at: datetime | None = None, purpose: str = "incident",
    ) -> Reservation:
        """Insert the row unless it exists; the unique constraint is the dedupe. A decision made at once is
        written as its outcome (`state`)."""
        state = S(state)  # a state outside the machine is refused before anything is written
        async with self.sessions() as session:
            session.add(Delivery(
                notification_id=notification_id, incident_id=incident_id, customer_id=customer_id,
                order_id=order_id, channel=channel, address=address, state=state, reason=reason, due_at=due_at,
                incident=incident, severity=severity, body=body, subject=subject, attempts=attempts,
                incident_at=incident_at, created_at=now, updated_at=now, next_update_at=next_update_at,
                promise="open" if next_update_at is not None else None, purpose=purpose,
            ))
            try:
                await session.commit()
                return Reservation(notification_id, True, state)
            except IntegrityError:
                await session.rollback()
        existing = await self.find(incident_id=incident_id, customer_id=customer_id, channel=channel)
        if existing is None:  # the constraint said it exists: a concurrent delete is a bug elsewhere
            raise RuntimeError(f"delivery for {incident_id}/{channel} vanished after a unique violation")
        return Reservation(existing.notification_id, False, existing.state)

    async def batch_context(
        self, keys: list[tuple[str, str, str | None]], *, cap_since: datetime,
    ) -> BatchContext:
        """Everything the policy needs from the ledger about (incident id, customer id, order id)s, in one session.

        Each incident's first row for its customer if any, which incidents were resolved, all those customers'
        rows about those orders (whenever written: a burst is found by the incidents' event time, and an order
        has few rows), and their sends since `cap_since` (wall clock; our answers to replies are not counted)."""
        table = DELIVERIES
        incident_ids = {k[0] for k in keys}
        customer_ids = {k[1] for k in keys}
        orders = {(k[1], k[2]) for k in keys if k[2] is not None}
        async with self.sessions() as session:
            existing: dict[tuple[str, str], Any] = {}
            for row in (await session.execute(select(table).where(
                    table.c.incident_id.in_(incident_ids), table.c.follow_up == 0).order_by(table.c.id.desc()))):
                existing[(row.incident_id, row.customer_id)] = row
            resolved = set((await session.execute(select(ResolvedIncident.incident_id).where(
                ResolvedIncident.incident_id.in_(incident_ids)))).scalars())
            order_rows = list(await session.execute(select(table).where(
                table.c.order_id.in_({order for _, order in orders}),
                table.c.customer_id.in_(customer_ids)).order_by(table.c.id))) if orders else []
            # The state is checked here, not in SQL: given a state condition, SQLite searches the state index,
            # which holds every message ever sent, rather than the customers' (a few rows each).
            sends = [(row.customer_id, row.updated_at) for row in await session.execute(
                select(table.c.customer_id, table.c.updated_at, table.c.state).where(
                    table.c.customer_id.in_(customer_ids), table.c.purpose != "answer",
                    table.c.updated_at >= cap_since)) if row.state in CAPPED_STATES]
        by_order: dict[tuple[str, str], list[Any]] = {}
        for row in order_rows:
            if (row.customer_id, row.order_id) in orders:
                by_order.setdefault((row.customer_id, row.order_id), []).append(row)
        sent: dict[str, list[datetime]] = {}
        for customer_id, updated_at in sends:
            sent.setdefault(customer_id, []).append(updated_at)
        return BatchContext(existing, resolved, by_order, sent)

    async def reserve_many(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert many reservations in one statement; returns the notification ids this call inserted
        (a row that already exists for the same incident, customer and channel is left alone)."""
        if not rows:
            return set()
        async with self.sessions() as session:
            dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
            # One statement for every batch, its rows as parameters (SQLAlchemy's "insertmanyvalues"): compiled
            # once and cached, where rows written into the statement would be compiled anew for each batch.
            statement = _RESERVE_MANY[dialect == "postgresql"]
            inserted = set((await session.execute(statement, rows)).scalars())
            await session.commit()
            return inserted

    async def settle_sent(self, updates: list[dict[str, Any]]) -> None:
        """Record many sends in one transaction; each dict has `nid`, `now`, `provider` and `provider_message_id`.
        Only rows in `sending` or `ambiguous` (a restart elsewhere marked it so meanwhile) move: a row another
        process moved on is left alone, as `transition` with `expect` would."""
        if not updates:
            return
        table = DELIVERIES
        statement = update(table).where(
            table.c.notification_id == bindparam("nid"),
            or_(*(table.c.state == source for source in sources_of(S.SENT, among=(S.SENDING, S.AMBIGUOUS)))),
        ).values(state=S.SENT.value, updated_at=bindparam("now"), provider=bindparam("provider"),
                 provider_message_id=bindparam("provider_message_id"))
        async with self.sessions() as session:
            await session.execute(statement, updates)
            await session.commit()

    async def interrupt(self, *, untouched_since: datetime, now: datetime) -> int:
        """Rows left `sending` and untouched since `untouched_since` were cut off (their worker stopped mid-send,
        and the worker that took its partitions over finds their incidents handled): they become `ambiguous`, to
        be looked up at the provider, in one statement (a send touched meanwhile is left alone). How many moved."""
        check("interrupted", S.SENDING, S.AMBIGUOUS)
        table = DELIVERIES
        statement = update(table).where(table.c.state == S.SENDING, table.c.updated_at <= untouched_since).values(
            state=S.AMBIGUOUS.value, reason="interrupted", updated_at=now)
        async with self.sessions() as session:
            result = await session.execute(statement)
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    async def find_any(self, *, incident_id: str, customer_id: str) -> Delivery | None:
        """Any row of this incident for this customer, whatever the channel (a replay must not pick another)."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(
                Delivery.incident_id == incident_id, Delivery.customer_id == customer_id, Delivery.follow_up == 0,
            ).order_by(Delivery.id))
            return result.scalars().first()

    async def joined_to(self, notification_id: str) -> list[Delivery]:
        """Rows whose incident rides along in message `notification_id`."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(
                Delivery.state == S.JOINED, Delivery.reason == notification_id).order_by(Delivery.id))
            return list(result.scalars())

    async def customer_for_phone(self, phone: str) -> str | None:
        """The customer we last texted at this number (to route a free-text reply to the store)."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery.customer_id).where(
                Delivery.channel == "sms", Delivery.address == phone, Delivery.purpose != "answer",
            ).order_by(Delivery.id.desc()).limit(1))
            return result.scalar_one_or_none()

    async def last_answer(self, phone: str, answer: str, *, near: datetime, within: timedelta) -> datetime | None:
        """The receipt time of a reply from `phone` that got an answer of kind `answer` within `within` of `near`
        (either side: replies arrive out of order), else None."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery.incident_at).where(
                Delivery.purpose == "answer", Delivery.address == phone, Delivery.subject == answer,
                Delivery.incident_at > near - within, Delivery.incident_at < near + within,
            ).order_by(Delivery.id.desc()).limit(1))
            return result.scalar_one_or_none()

    async def told_of(self, incident_id: str, customer_id: str) -> Delivery | None:
        """The message that told the customer of an incident (it reached them, or may have), else None."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(
                Delivery.incident_id == incident_id, Delivery.customer_id == customer_id,
                Delivery.purpose == "incident",
                Delivery.state.in_(TOLD_STATES)).order_by(Delivery.id).limit(1))
            return result.scalars().first()

    async def latest_told(self, customer_id: str) -> Delivery | None:
        """The latest message about an incident that reached this customer (or may have), else None."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(
                Delivery.customer_id == customer_id, Delivery.purpose == "incident",
                Delivery.state.in_(TOLD_STATES)).order_by(Delivery.id.desc()).limit(1))
            return result.scalars().first()

    async def feedback_context(
        self, customer_id: str, *, since: datetime, leave_out: str,
    ) -> tuple[list[datetime], int]:
        """For the feedback rule: when the incidents this customer was asked about were resolved (every question
        asked or pending), and how many of their incidents detected since `since` (event time) are still open,
        `leave_out` aside."""
        async with self.sessions() as session:
            asked = list((await session.execute(select(Delivery.incident_at).where(
                Delivery.customer_id == customer_id, Delivery.purpose == "feedback",
                Delivery.state.in_(ASKED_STATES)))).scalars())
            open_ids = set((await session.execute(select(Delivery.incident_id).where(
                Delivery.customer_id == customer_id, Delivery.purpose == "incident", Delivery.follow_up == 0,
                Delivery.incident_id != leave_out, Delivery.incident_at >= since,
                ~Delivery.incident_id.in_(select(ResolvedIncident.incident_id))))).scalars())
            return [at for at in asked if at is not None], len(open_ids)

    async def mark_resolved(self, incident_id: str, reason: str, at: datetime) -> None:
        async with self.sessions() as session:
            if await session.get(ResolvedIncident, incident_id) is None:
                session.add(ResolvedIncident(incident_id=incident_id, reason=reason, resolved_at=at))
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()

    async def is_resolved(self, incident_id: str) -> bool:
        async with self.sessions() as session:
            return await session.get(ResolvedIncident, incident_id) is not None

    async def find(self, *, incident_id: str, customer_id: str, channel: str, follow_up: int = 0) -> Delivery | None:
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(
                Delivery.incident_id == incident_id, Delivery.customer_id == customer_id, Delivery.channel == channel,
                Delivery.follow_up == follow_up))
            return result.scalar_one_or_none()

    async def get(self, notification_id: str) -> Delivery | None:
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(Delivery.notification_id == notification_id))
            return result.scalar_one_or_none()

    async def transition(
        self, notification_id: str, state: DeliveryState | str, *, now: datetime,
        expect: tuple[DeliveryState | str, ...] | None = None, **fields: Any,
    ) -> bool:
        """Move a row to `state`; returns whether it moved (False: no such row, or not in one of `expect`).

        With `expect`, only from one of those states: another process may have moved the row, and then it is
        left alone; each of them must allow the move. Without it, from wherever the row is, which must allow
        the move. A move `delivery_states.TRANSITIONS` does not allow raises `IllegalTransition`."""
        target = S(state)
        if expect is not None:
            for source in expect:
                check(notification_id, source, target)
            sources = tuple(S(source) for source in expect)
        else:
            sources = sources_of(target)
        statement = update(Delivery).where(Delivery.notification_id == notification_id, Delivery.state.in_(sources))
        async with self.sessions() as session:
            result = await session.execute(statement.values(state=target, updated_at=now, **fields))
            await session.commit()
            if getattr(result, "rowcount", 0):
                return True
            if expect is None:
                current = (await session.execute(select(Delivery.state).where(
                    Delivery.notification_id == notification_id))).scalar_one_or_none()
                if current is not None:
                    raise IllegalTransition(notification_id, current, target)
            return False

    async def record_status(self, provider_message_id: str, status: str, *, now: datetime) -> Delivery | None:
        """Apply a provider status callback, only forward (`CALLBACK_RANK`) and along an allowed move; the row if
        it moved. A callback is the provider's word, not ours: one that cannot apply is ignored, never raised."""
        target = S(status)
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(Delivery.provider_message_id == provider_message_id))
            row = result.scalar_one_or_none()
            if row is None or CALLBACK_RANK.get(target, 0) <= CALLBACK_RANK.get(row.state, 0):
                return None
            if not allowed(row.state, target):
                logger.info("status %s for %s ignored: the row is %s", target, row.notification_id, row.state)
                return None
            row.state, row.updated_at = target, now
            await session.commit()
            return row

    async def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Deferred rows whose time has come."""
        async with self.sessions() as session:
            result = await session.execute(
                select(Delivery).where(Delivery.state == S.DEFERRED, Delivery.due_at <= now)
                .order_by(Delivery.due_at).limit(limit))
            return list(result.scalars())

    async def due_promises(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Messages that reached the customer and whose promise of the next update is due."""
        async with self.sessions() as session:
            result = await session.execute(
                select(Delivery).where(Delivery.promise == "open", Delivery.next_update_at <= now,
                                       Delivery.state.in_((S.SENT, S.DELIVERED)))
                .order_by(Delivery.next_update_at).limit(limit))
            return list(result.scalars())

    async def order_story(self, row: Delivery) -> tuple[list[Delivery], set[str]]:
        """Every row of this customer about `row`'s order (follow-ups included, in the order written), or about
        its incident when it has no order, and which of their incidents are resolved."""
        about = (Delivery.order_id == row.order_id) if row.order_id is not None else (
            Delivery.incident_id == row.incident_id)
        async with self.sessions() as session:
            rows = list((await session.execute(select(Delivery).where(
                Delivery.customer_id == row.customer_id, about).order_by(Delivery.id))).scalars())
            resolved = set((await session.execute(select(ResolvedIncident.incident_id).where(
                ResolvedIncident.incident_id.in_({r.incident_id for r in rows})))).scalars())
            return rows, resolved

    async def keep_promise(self, notification_id: str, follow_up: dict[str, Any]) -> bool:
        """Mark the promise of `notification_id` kept and reserve the follow-up row that keeps it, in one
        transaction: False when the promise was no longer open (another pass kept or ended it) or the
        follow-up row exists already."""
        async with self.sessions() as session:
            moved = await session.execute(update(Delivery).where(
                Delivery.notification_id == notification_id, Delivery.promise == "open").values(promise="kept"))
            if not getattr(moved, "rowcount", 0):
                await session.rollback()
                return False
            session.add(Delivery(**follow_up))
            try:
                await session.commit()
                return True
            except IntegrityError:
                await session.rollback()
                return False

    async def end_promise(self, notification_id: str) -> bool:
        """A promise that needs no follow-up (resolved, superseded, limit); the row's send time is left alone."""
        async with self.sessions() as session:
            result = await session.execute(update(Delivery).where(
                Delivery.notification_id == notification_id, Delivery.promise == "open").values(promise="ended"))
            await session.commit()
            return bool(getattr(result, "rowcount", 0))

    async def by_state(self, *states: DeliveryState | str) -> list[Delivery]:
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(Delivery.state.in_(states)).order_by(Delivery.id))
            return list(result.scalars())

    async def withdraw(self, incident_id: str, *, now: datetime, reason: str) -> list[Delivery]:
        """Withdraw every not-yet-sent row of an incident; returns the rows withdrawn.

        A pending follow-up is left alone: it is about the whole order, and is decided again
        against the order's open incidents when its time comes."""
        async with self.sessions() as session:
            result = await session.execute(select(Delivery).where(
                Delivery.incident_id == incident_id, Delivery.follow_up == 0,
                Delivery.state.in_(sources_of(S.WITHDRAWN))))
            rows = list(result.scalars())
            for row in rows:
                check(row.notification_id, row.state, S.WITHDRAWN)
                row.state, row.reason, row.updated_at = S.WITHDRAWN, reason, now
            await session.commit()
            return rows

