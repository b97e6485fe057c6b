"""The care ledger: one row per case (one help-desk ticket), one per addition to it, reserved before any desk call.

A case is reserved with the whole ticket it will open (subject, story, routing), so a retry after a crash
opens the same ticket; its `external_id` is what the desk is asked for when an earlier attempt may have
reached it. States of a case and of an entry alike:

    reserved -> sending -> done                (the desk answered: the ticket id is kept)
                sending -> ambiguous -> done   (looked up at the desk by external_id / marker: it was there)
                                     -> reserved (it was not: sent again)
             -> failed                         (the desk refused it for good: kept, with why)

A case is open until the desk reports its ticket solved or closed (`closed`); then the customer's next
escalation opens a new case. Claims are conditional updates on `attempts`, so two workers (or the agent
and the retry timer) never send the same row at once; a claim older than `lease` is taken back (the
worker that held it died mid-call).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime
from services.common.ids import stable_id

__all__ = [
    "PENDING", "Base", "CareLedger", "Case", "CaseCustomer", "Choice", "Entry", "NewCase", "Reply", "note_marker",
]

logger = logging.getLogger(__name__)

PENDING = ("reserved", "sending", "ambiguous")
OPEN_CASE = ("reserved", "sending", "ambiguous", "done")


class Base(DeclarativeBase):
    pass


class Case(Base):
    """One case of one customer: one ticket at the desk."""

    __tablename__ = "care_cases"
    __table_args__ = (UniqueConstraint("store_id", "customer_id", "number", name="uq_care_case_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    store_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    number: Mapped[int] = mapped_column(Integer)
    opened_by: Mapped[str] = mapped_column(String(255), index=True)  # the event id that opened it
    desk: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    skill: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str] = mapped_column(Text)  # the ticket as reserved (JSON), sent as is on every attempt
    story_items: Mapped[str] = mapped_column(Text)  # JSON list: the story's items already on the ticket
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(255))
    closed: Mapped[bool] = mapped_column(default=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def items(self) -> list[str]:
        return list(json.loads(self.story_items))

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.ticket))


class Entry(Base):
    """One addition to an open case's ticket (a comment), named by the event that caused it."""

    __tablename__ = "care_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("care_cases.id"), index=True)
    marker: Mapped[str] = mapped_column(String(64), unique=True)  # written into the comment: found again by it
    state: Mapped[str] = mapped_column(String(16), index=True)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Reply(Base):
    """A reply the customer wrote (`customer.replied`), for the story."""

    __tablename__ = "care_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Choice(Base):
    """A choice the customer made about an incident (`choice.made`), for the story."""

    __tablename__ = "care_choices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    incident_id: Mapped[str] = mapped_column(String(128))
    order_label: Mapped[str | None] = mapped_column(String(128))  # the order number, else the order id
    choice: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    made_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaseCustomer(Base):
    """What care keeps of a customer profile (`customer.updated`): the language and the name a desk greets."""

    __tablename__ = "care_customers"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(128))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(35))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class NewCase:
    """What a reservation writes: the routing and the ticket, decided before the desk is called."""

    store_id: str
    customer_id: str
    opened_by: str
    desk: str
    skill: str
    language: str
    priority: str
    queue: str
    ticket: dict[str, Any]
    story_items: Sequence[str]


def note_marker(event_id: str) -> str:
    """The marker a comment carries in its text, derived from the event that caused it."""
    return stable_id("forewarn-note", event_id, length=20)


class CareLedger:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, lease: timedelta) -> None:
        self.sessions = sessions
        self.lease = lease

    # -- the story's own sources ----------------------------------------------------------------
    async def add_reply(self, *, event_id: str, customer_id: str, channel: str, body: str | None,
                        in_reply_to: str | None, received_at: datetime) -> None:
        await self._add_once(Reply(event_id=event_id, customer_id=customer_id, channel=channel, body=body,
                                   in_reply_to=in_reply_to, received_at=received_at))

    async def replies(self, customer_id: str) -> list[Reply]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Reply).where(Reply.customer_id == customer_id)
                                         .order_by(Reply.received_at, Reply.id))
            return list(rows)

    async def add_choice(self, *, event_id: str, customer_id: str, incident_id: str, order_label: str | None,
                         choice: str, channel: str, made_at: datetime) -> None:
        await self._add_once(Choice(event_id=event_id, customer_id=customer_id, incident_id=incident_id,
                                    order_label=order_label, choice=choice, channel=channel, made_at=made_at))

    async def _add_once(self, row: Base) -> None:
        """Insert a row named by its event id; one heard before (at-least-once) is left as it is."""
        async with self.sessions() as session:
            try:
                session.add(row)
                await session.commit()
            except IntegrityError:
                await session.rollback()

    async def choices(self, customer_id: str) -> list[Choice]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Choice).where(Choice.customer_id == customer_id)
                                         .order_by(Choice.made_at, Choice.id))
            return list(rows)

    async def keep_customer(self, *, customer_id: str, store_id: str, first_name: str | None,
                            last_name: str | None, locale: str | None, updated_at: datetime) -> None:
        async with self.sessions() as session:
            row = await session.get(CaseCustomer, customer_id)
            if row is None:
                session.add(CaseCustomer(customer_id=customer_id, store_id=store_id, first_name=first_name,
                                         last_name=last_name, locale=locale, updated_at=updated_at))
            elif row.updated_at <= updated_at:  # an older profile never overwrites a newer one
                row.store_id, row.first_name, row.last_name, row.locale, row.updated_at = (
                    store_id, first_name, last_name, locale, updated_at)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()

    async def customer(self, customer_id: str) -> CaseCustomer | None:
        async with self.sessions() as session:
            return await session.get(CaseCustomer, customer_id)

    # -- cases and entries ----------------------------------------------------------------------
    async def handled(self, event_id: str) -> bool:
        """Whether an event already opened a case or added to one (a redelivery changes nothing)."""
        async with self.sessions() as session:
            opened = await session.scalar(select(Case.id).where(Case.opened_by == event_id))
            added = await session.scalar(select(Entry.id).where(Entry.event_id == event_id))
            return opened is not None or added is not None

    async def open_case(self, store_id: str, customer_id: str) -> Case | None:
        """The customer's case that is still open, if any."""
        async with self.sessions() as session:
            return await session.scalar(
                select(Case).where(Case.store_id == store_id, Case.customer_id == customer_id,
                                   Case.state.in_(OPEN_CASE), Case.closed.is_(False))
                .order_by(Case.number.desc()).limit(1))

    async def reserve_case(self, new: NewCase, *, now: datetime) -> Case | None:
        """Reserve a new case; None if another event opened one for the customer meanwhile (then add to it)."""
        async with self.sessions() as session:
            number = (await session.scalar(
                select(func.max(Case.number)).where(Case.store_id == new.store_id,
                                                    Case.customer_id == new.customer_id))) or 0
            external_id = stable_id("forewarn-care", new.store_id, new.customer_id, str(number + 1), length=32)
            case = Case(
                external_id=external_id,
                store_id=new.store_id, customer_id=new.customer_id, number=number + 1, opened_by=new.opened_by,
                desk=new.desk, state="reserved", skill=new.skill, language=new.language, priority=new.priority,
                queue=new.queue, ticket=json.dumps({**new.ticket, "external_id": external_id}, sort_keys=True),
                attempts=0,
                story_items=json.dumps(list(new.story_items)), created_at=now, updated_at=now)
            session.add(case)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return None
            return case

    async def reserve_entry(self, case: Case, *, event_id: str, body: str, story_items: Sequence[str],
                            now: datetime) -> Entry | None:
        """Reserve a comment on `case` and mark its story items as on the ticket, in one transaction."""
        marker = note_marker(event_id)
        async with self.sessions() as session:
            entry = Entry(event_id=event_id, case_id=case.id, marker=marker, state="reserved", body=body,
                          attempts=0, created_at=now, updated_at=now)
            session.add(entry)
            items = case.items + [item for item in story_items if item not in case.items]
            await session.execute(update(Case).where(Case.id == case.id)
                                  .values(story_items=json.dumps(items), updated_at=now))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return None
            return entry

    async def claim_case(self, case_id: int, *, now: datetime) -> tuple[Case, bool] | None:
        """Take a case for one desk call: None if it is done, failed, or another worker holds a fresh claim;
        else the row and whether an earlier attempt may have reached the desk (look it up before sending)."""
        claimed: tuple[Case, bool] | None = await self._claim(Case, case_id, now)
        return claimed

    async def claim_entry(self, entry_id: int, *, now: datetime) -> tuple[Entry, bool] | None:
        claimed: tuple[Entry, bool] | None = await self._claim(Entry, entry_id, now)
        return claimed

    async def _claim(self, model: Any, row_id: int, now: datetime) -> Any:
        async with self.sessions() as session:
            row = await session.get(model, row_id)
            if row is None or row.state not in PENDING:
                return None
            if row.state == "sending" and row.claimed_at is not None and row.claimed_at > now - self.lease:
                return None  # someone is on it
            previous = row.state
            result = await session.execute(
                update(model).where(model.id == row_id, model.attempts == row.attempts)
                .values(state="sending", attempts=row.attempts + 1, claimed_at=now, updated_at=now))
            await session.commit()
            if getattr(result, "rowcount", 0) != 1:
                return None
            await session.refresh(row)
            return row, previous != "reserved"  # "reserved": never sent; anything else may have reached it

    async def settle_case(self, case: Case, state: str, *, now: datetime, ticket_id: str | None = None,
                          error: str | None = None) -> None:
        await self._settle(Case, case.id, state, now=now, error=error,
                           **({"ticket_id": ticket_id} if ticket_id is not None else {}))

    async def settle_entry(self, entry: Entry, state: str, *, now: datetime, error: str | None = None) -> None:
        await self._settle(Entry, entry.id, state, now=now, error=error)

    async def _settle(self, model: Any, row_id: int, state: str, *, now: datetime, error: str | None,
                      **values: Any) -> None:
        async with self.sessions() as session:
            await session.execute(update(model).where(model.id == row_id).values(
                state=state, updated_at=now, claimed_at=None, error=error[:255] if error else None, **values))
            await session.commit()

    async def close_case(self, case: Case, *, now: datetime) -> None:
        """The desk solved or closed the ticket: the customer's next case opens a new one."""
        async with self.sessions() as session:
            await session.execute(update(Case).where(Case.id == case.id).values(closed=True, updated_at=now))
            await session.commit()

    async def get_case(self, case_id: int) -> Case | None:
        async with self.sessions() as session:
            return await session.get(Case, case_id)

    async def pending(self, *, now: datetime, older_than: timedelta, limit: int = 100
                      ) -> tuple[list[Case], list[Entry]]:
        """Cases and entries not yet at the desk whose last try is older than `older_than` (oldest first)."""
        cutoff = now - older_than
        async with self.sessions() as session:
            cases = await session.scalars(
                select(Case).where(Case.state.in_(PENDING), or_(Case.updated_at <= cutoff, Case.attempts == 0))
                .order_by(Case.id).limit(limit))
            entries = await session.scalars(  # a note waits for its ticket: only those on tickets at the desk
                select(Entry).join(Case, Case.id == Entry.case_id)
                .where(Case.state == "done", Entry.state.in_(PENDING),
                       or_(Entry.updated_at <= cutoff, Entry.attempts == 0))
                .order_by(Entry.id).limit(limit))
            return list(cases), list(entries)

    async def entries(self, case: Case) -> list[Entry]:
        async with self.sessions() as session:
            return list(await session.scalars(select(Entry).where(Entry.case_id == case.id).order_by(Entry.id)))
