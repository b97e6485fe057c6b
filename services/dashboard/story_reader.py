"""A customer's story, read from the two ledgers that hold it, read-only (SQLAlchemy Core).

Why the ledgers and not the topics: the messages as the customer saw them (rendered text, subject, the
address they went to) exist only in the notifier's ledger, since `notifications` events carry outcomes and
never content; each ledger row also keeps the incident event it is about, with the store's order number and
the customer's contacts, so one indexed read by customer gives every incident the notifier heard of, every
message and what became of it, and `resolved_incidents` says when each cleared. Replies, choices and tickets
are in care's ledger, fed from `customers` and `customer-actions`; a ticket exists nowhere else. Reading the
topics instead would mean scanning whole partitions per search (they are keyed by order or customer, and
hold no message text); a copy kept by the dashboard would only drift.

Store events (order placed, carrier scans, payments, returns) are kept by no database, only on the store's
topics, keyed by order id. They are read where available: the last `store_events_per_partition` records
of every partition of those topics, kept when their key is one of the customer's orders. Every partition,
not the one a partitioner would pick, since a store may produce with another partitioner. Older events
have scrolled out of that window; the incidents still carry the facts they were detected on.

Tables are declared here by the names of the notifier's and care's migrations (services never import each
other; the deliveries table is shared in `services.common.delivery_ledger`); the tests read ledgers those
migrations built. Feedback is read from `feedback.given` on `customer-actions`, the one place every score
is kept (why, in `services.dashboard.feedback`): the last `feedback_per_partition` records of every partition.

Searching: by customer id (indexed), by order id (indexed) or the store's order number (kept inside each
row's incident event: a LIKE on the quoted number, confirmed by parsing the event; the ledger has no column
for it, so this one scans the table, bounded by the read timeout), and by phone or email,
whole or masked: candidates share the clear part of the mask (the last digits; the first letter and the
domain) and are then decided by `ContactQuery.matches`, never by comparing the typed text."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Column, Integer, MetaData, Select, String, Table, Text, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import CUSTOMER_ACTIONS
from services.common.db import UtcDateTime, normalise_url
from services.common.delivery_ledger import DELIVERIES, read_only, read_only_engine
from services.dashboard.feedback import Answer, answer_of, latest_answers
from services.dashboard.kafka_reader import KafkaReader
from services.dashboard.ledger_reader import LedgerReader, LedgerUnavailable
from services.dashboard.story import (
    OPEN_CASE_STATES,
    STORE_TOPICS,
    CustomerHit,
    StoryQuery,
    incident_data,
    store_event,
)

__all__ = ["CARE_CASES", "CustomerStory", "StoryReader"]

logger = logging.getLogger(__name__)

_METADATA = MetaData()
RESOLVED_INCIDENTS = Table(
    "resolved_incidents", _METADATA,
    Column("incident_id", String(128), primary_key=True), Column("reason", String(64)),
    Column("resolved_at", UtcDateTime()),
)
CUSTOMER_PROFILES = Table(
    "customer_profiles", _METADATA,
    Column("customer_id", String(128), primary_key=True), Column("store_id", String(128)),
    Column("first_name", String(255)), Column("email", String(320)), Column("phone", String(32)),
    Column("locale", String(35)),
)
CARE_CASES = Table(
    "care_cases", _METADATA,
    Column("id", Integer, primary_key=True), Column("store_id", String(128)), Column("customer_id", String(128)),
    Column("number", Integer), Column("desk", String(32)), Column("state", String(16)),
    Column("ticket_id", String(64)), Column("skill", String(16)), Column("language", String(16)),
    Column("priority", String(16)), Column("queue", String(64)), Column("ticket", Text), Column("error", String(255)),
    Column("closed", Boolean), Column("created_at", UtcDateTime()), Column("updated_at", UtcDateTime()),
)
CARE_ENTRIES = Table(
    "care_entries", _METADATA,
    Column("id", Integer, primary_key=True), Column("case_id", Integer), Column("state", String(16)),
    Column("body", Text), Column("created_at", UtcDateTime()),
)
CARE_REPLIES = Table(
    "care_replies", _METADATA,
    Column("id", Integer, primary_key=True), Column("event_id", String(255)), Column("customer_id", String(128)),
    Column("channel", String(16)), Column("body", Text), Column("in_reply_to", String(64)),
    Column("received_at", UtcDateTime()),
)
CARE_CHOICES = Table(
    "care_choices", _METADATA,
    Column("id", Integer, primary_key=True), Column("event_id", String(255)), Column("customer_id", String(128)),
    Column("incident_id", String(128)), Column("order_label", String(128)), Column("choice", String(32)),
    Column("channel", String(16)), Column("made_at", UtcDateTime()),
)
CASE_LIMIT = 5000
ROW_LIMIT = 1000
CANDIDATE_LIMIT = 2000
HITS_SHOWN = 50


@dataclass(frozen=True)
class CustomerStory:
    """Every row of one customer's story, as read (the pure `build_timeline` lays them out)."""

    deliveries: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    profile: dict[str, Any] | None
    replies: list[dict[str, Any]] = field(default_factory=list)
    choices: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    care_missing: str | None = None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _missing_table(exc: BaseException, *names: str) -> bool:
    text = str(getattr(exc, "orig", None) or exc)
    return ("no such table" in text or "does not exist" in text) and any(name in text for name in names)


class StoryReader:
    """Finds customers and reads their story. The notifier's ledger goes through `ledger` (its engine, its
    errors); care's tables through an engine of their own when care keeps them elsewhere."""

    def __init__(self, ledger: LedgerReader, *, care_url: str | None = None, key: bytes,
                 kafka: KafkaReader | None = None, prefix: str = "", store_events_per_partition: int = 500,
                 feedback_per_partition: int = 5000) -> None:
        self.ledger = ledger
        self.feedback_per_partition = feedback_per_partition
        self.kafka = kafka
        self.prefix = prefix
        self.store_events_per_partition = store_events_per_partition
        self.care_url = normalise_url(care_url) if care_url else None
        self.key = key
        self._care_engine: AsyncEngine | None = None

    # -- reading ----------------------------------------------------------------------------------
    async def _ledger_rows(self, statement: Select[Any]) -> list[dict[str, Any]]:
        return await self.ledger.rows(statement)

    async def _optional_ledger_rows(self, statement: Select[Any], table: str) -> list[dict[str, Any]]:
        """Rows of a notifier table an older ledger may lack (none then)."""
        try:
            return await self._ledger_rows(statement)
        except LedgerUnavailable as exc:
            if _missing_table(exc.__cause__ or exc, table):
                return []
            raise

    async def _care_rows(self, statement: Select[Any]) -> list[dict[str, Any]]:
        """Rows of care's tables; LedgerUnavailable saying so when care has not created them yet."""
        if self.care_url is None or self.care_url == self.ledger.url:
            try:
                return await self._ledger_rows(statement)
            except LedgerUnavailable as exc:
                if _missing_table(exc.__cause__ or exc, "care_"):
                    raise LedgerUnavailable("care's tables are not there yet (the care service creates them)") from exc
                raise
        if self._care_engine is None:
            self._care_engine = read_only_engine(self.care_url)
        try:
            async with asyncio.timeout(self.ledger.timeout_s), self._care_engine.connect() as conn:
                return [dict(row._mapping) for row in await (await read_only(conn)).execute(statement)]
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            if _missing_table(exc, "care_"):
                raise LedgerUnavailable("care's tables are not there yet (the care service creates them)") from exc
            raise LedgerUnavailable(f"care's ledger cannot be read: {exc.__class__.__name__}") from exc

    async def close(self) -> None:
        if self._care_engine is not None:
            await self._care_engine.dispose()
            self._care_engine = None

    # -- searching --------------------------------------------------------------------------------
    async def find(self, query: StoryQuery) -> list[CustomerHit]:
        """The customers the query finds (at most HITS_SHOWN), each with how it matched."""
        found: dict[str, tuple[list[str], list[str]]] = {}

        def hit(customer_id: str, how: str, order: str | None = None) -> None:
            ways, orders = found.setdefault(customer_id, ([], []))
            if how not in ways:
                ways.append(how)
            if order and order not in orders:
                orders.append(order)

        if query.order_numbers:
            await self._by_order_number(query, hit)
        if query.ids:
            await self._by_id(query.ids, hit)
        if query.contact is not None:
            await self._by_contact(query, hit)
        hits = [CustomerHit(customer_id, tuple(ways), tuple(orders))
                for customer_id, (ways, orders) in found.items()]
        return sorted(hits, key=lambda h: h.customer_id)[:HITS_SHOWN]

    async def _by_order_number(self, query: StoryQuery, hit: Any) -> None:
        numbers = set(query.order_numbers)
        quoted = [_like_escape(json.dumps(number, ensure_ascii=False)) for number in numbers]  # as events write it
        patterns = [DELIVERIES.c.incident.like(f"%{text}%", escape="\\") for text in quoted]
        rows = await self._ledger_rows(
            select(DELIVERIES.c.customer_id, DELIVERIES.c.incident).where(or_(*patterns)).limit(CANDIDATE_LIMIT))
        for row in rows:
            number = incident_data(row).get("order_number")
            if number in numbers:
                hit(row["customer_id"], f"order {number}", number)
        try:
            choices = await self._care_rows(select(CARE_CHOICES.c.customer_id, CARE_CHOICES.c.order_label)
                                            .where(CARE_CHOICES.c.order_label.in_(numbers)).limit(CANDIDATE_LIMIT))
        except LedgerUnavailable:
            choices = []
        for row in choices:
            hit(row["customer_id"], f"order {row['order_label']}", row["order_label"])

    async def _by_id(self, ids: Sequence[str], hit: Any) -> None:
        rows = await self._ledger_rows(
            select(DELIVERIES.c.customer_id, DELIVERIES.c.order_id, DELIVERIES.c.incident)
            .where(or_(DELIVERIES.c.customer_id.in_(ids), DELIVERIES.c.order_id.in_(ids))).limit(CANDIDATE_LIMIT))
        for row in rows:
            if row["customer_id"] in ids:
                hit(row["customer_id"], "customer id")
            if row["order_id"] in ids:
                data = incident_data(row)
                hit(row["customer_id"], "order id", data.get("order_number") or row["order_id"])
        profiles = await self._optional_ledger_rows(
            select(CUSTOMER_PROFILES.c.customer_id).where(CUSTOMER_PROFILES.c.customer_id.in_(ids)),
            "customer_profiles")
        for row in profiles:
            hit(row["customer_id"], "customer id")
        try:
            cases = await self._care_rows(select(CARE_CASES.c.customer_id)
                                          .where(CARE_CASES.c.customer_id.in_(ids)).limit(CANDIDATE_LIMIT))
        except LedgerUnavailable:
            cases = []
        for row in cases:
            hit(row["customer_id"], "customer id")

    async def _by_contact(self, query: StoryQuery, hit: Any) -> None:
        contact = query.contact
        assert contact is not None  # noqa: S101
        if contact.channel == "sms":
            if not contact.tail:
                return
            pattern = f"%{_like_escape(contact.tail)}"
            how = "phone"
        else:
            if not contact.tail:
                return
            pattern = f"{_like_escape(contact.head)}%@{_like_escape(contact.tail)}"
            how = "email"
        address = func.lower(DELIVERIES.c.address)
        rows = await self._ledger_rows(
            select(DELIVERIES.c.customer_id, DELIVERIES.c.address).distinct()
            .where(DELIVERIES.c.channel == contact.channel, address.like(pattern, escape="\\"))
            .limit(CANDIDATE_LIMIT))
        column = CUSTOMER_PROFILES.c.phone if contact.channel == "sms" else CUSTOMER_PROFILES.c.email
        profiles = await self._optional_ledger_rows(
            select(CUSTOMER_PROFILES.c.customer_id, column.label("address"))
            .where(func.lower(column).like(pattern, escape="\\")).limit(CANDIDATE_LIMIT), "customer_profiles")
        for row in [*rows, *profiles]:
            if contact.matches(self.key, row["address"]):
                hit(row["customer_id"], how)

    # -- one story --------------------------------------------------------------------------------
    async def story(self, customer_id: str) -> CustomerStory:
        """Every row of the customer's story (the newest ROW_LIMIT of each kind), oldest first."""
        deliveries = await self._ledger_rows(
            select(DELIVERIES).where(DELIVERIES.c.customer_id == customer_id)
            .order_by(DELIVERIES.c.id.desc()).limit(ROW_LIMIT))
        deliveries.reverse()
        incident_ids = sorted({str(row["incident_id"]) for row in deliveries})
        resolved = await self._optional_ledger_rows(
            select(RESOLVED_INCIDENTS).where(RESOLVED_INCIDENTS.c.incident_id.in_(incident_ids)),
            "resolved_incidents") if incident_ids else []
        profiles = await self._optional_ledger_rows(
            select(CUSTOMER_PROFILES).where(CUSTOMER_PROFILES.c.customer_id == customer_id), "customer_profiles")
        story = CustomerStory(deliveries=deliveries, resolved=resolved, profile=profiles[0] if profiles else None)
        try:
            replies = await self._care_rows(_newest(CARE_REPLIES, CARE_REPLIES.c.customer_id == customer_id))
            choices = await self._care_rows(_newest(CARE_CHOICES, CARE_CHOICES.c.customer_id == customer_id))
            cases = await self._care_rows(_newest(CARE_CASES, CARE_CASES.c.customer_id == customer_id))
            entries = await self._care_rows(
                _newest(CARE_ENTRIES, CARE_ENTRIES.c.case_id.in_([c["id"] for c in cases]))) if cases else []
        except LedgerUnavailable as exc:
            return CustomerStory(deliveries=deliveries, resolved=resolved, profile=story.profile,
                                 care_missing=str(exc))
        return CustomerStory(deliveries=deliveries, resolved=resolved, profile=story.profile,
                             replies=_oldest_first(replies), choices=_oldest_first(choices),
                             cases=_oldest_first(cases), entries=_oldest_first(entries))

    async def store_events(self, orders: dict[str, str | None]) -> list[dict[str, Any]]:
        """The store's events about `orders` (order id -> its number) still in the window read; KafkaUnavailable
        when the broker does not answer."""
        if self.kafka is None or not orders:
            return []
        names = {self.prefix + topic: topic for topic in STORE_TOPICS}
        offsets = await self.kafka.offsets(names)
        span = self.store_events_per_partition
        records = await self.kafka.tail({key: (max(log.begin, log.end - span), log.end)
                                         for key, log in offsets.items()})
        keys = {order_id.encode() for order_id in orders}
        events = [store_event(record.value, names[record.topic], orders) for record in records if record.key in keys]
        return [event for event in events if event is not None]

    async def feedback(self) -> list[Answer]:
        """The `feedback.given` answers in the last `feedback_per_partition` records of every partition of
        `customer-actions`, one per question (the latest); KafkaUnavailable when the broker does not answer."""
        if self.kafka is None:
            return []
        offsets = await self.kafka.offsets([self.prefix + CUSTOMER_ACTIONS])
        span = self.feedback_per_partition
        records = await self.kafka.tail({key: (max(log.begin, log.end - span), log.end)
                                         for key, log in offsets.items()})
        return latest_answers(answer for answer in map(answer_of, (r.value for r in records)) if answer is not None)

    async def open_cases(self) -> list[dict[str, Any]]:
        """Care's cases that are still open (the newest CASE_LIMIT), for the tickets-by-skill table."""
        return await self._care_rows(
            select(CARE_CASES.c.skill, CARE_CASES.c.priority, CARE_CASES.c.state, CARE_CASES.c.closed,
                   CARE_CASES.c.created_at)
            .where(CARE_CASES.c.state.in_(OPEN_CASE_STATES), CARE_CASES.c.closed.is_(False))
            .order_by(CARE_CASES.c.id.desc()).limit(CASE_LIMIT))


def _newest(table: Table, condition: Any) -> Select[Any]:
    return select(table).where(condition).order_by(table.c.id.desc()).limit(ROW_LIMIT)


def _oldest_first(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["id"])
