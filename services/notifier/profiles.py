"""Customer profiles, consent records and opt-outs, kept in the notifier's database."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import UtcDateTime
from services.notifier.ledger import Base
from services.notifier.policy import CHANNELS, Profile

__all__ = ["Contact", "ContactOptOut", "CustomerProfile", "ProfileStore"]

logger = logging.getLogger(__name__)


class CustomerProfile(Base):
    __tablename__ = "customer_profiles"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    store_id: Mapped[str | None] = mapped_column(String(128))
    first_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    channel_preferences: Mapped[str | None] = mapped_column(Text)  # JSON list
    consent: Mapped[str | None] = mapped_column(Text)  # JSON {channel: {granted, source, recorded_at}}
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ContactOptOut(Base):
    """An address that must not be used on a channel (STOP, unsubscribe, bounce, spam report, Twilio 21610)."""

    __tablename__ = "contact_optouts"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProfileStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def upsert(self, customer_id: str, *, now: datetime, **fields: object) -> None:
        """Store what a `customer.updated` said; fields left None keep their earlier value."""
        async with self.sessions() as session:
            row = await session.get(CustomerProfile, customer_id)
            if row is None:
                row = CustomerProfile(customer_id=customer_id, updated_at=now)
                session.add(row)
            elif row.updated_at > now:
                return  # an older update arriving late does not overwrite a newer one
            for name, value in fields.items():
                if value is None:
                    continue
                if name in ("channel_preferences", "consent"):
                    value = json.dumps(value, default=str)
                setattr(row, name, value)
            row.updated_at = now
            await session.commit()

    async def set_opt_out(self, channel: str, address: str, *, opted_out: bool, source: str, now: datetime) -> None:
        async with self.sessions() as session:
            row = await session.get(ContactOptOut, (channel, _normalise(channel, address)))
            if row is None:
                session.add(ContactOptOut(channel=channel, address=_normalise(channel, address), opted_out=opted_out,
                                          source=source, updated_at=now))
            else:
                row.opted_out, row.source, row.updated_at = opted_out, source, now
            await session.commit()

    async def get(self, customer_id: str) -> CustomerProfile | None:
        async with self.sessions() as session:
            return await session.get(CustomerProfile, customer_id)

    async def profile_for(
        self, *, customer_id: str, store_id: str, first_name: str, email: str | None, phone: str | None,
        locale: str, timezone: str | None,
    ) -> Profile:
        """The policy's view of a customer: the incident's contact, refined by what the customer told us."""
        base = Contact(customer_id, store_id, first_name, email, phone, locale, timezone)
        return (await self.profiles_for([base]))[customer_id]

    async def profiles_for(self, contacts: list[Contact]) -> dict[str, Profile]:
        """`profile_for` for many customers in one session (two queries)."""
        async with self.sessions() as session:
            ids = {c.customer_id for c in contacts}
            stored = {row.customer_id: row for row in (await session.execute(
                select(CustomerProfile).where(CustomerProfile.customer_id.in_(ids)))).scalars()}
            merged = [_merge(c, stored.get(c.customer_id)) for c in contacts]
            addresses = {_normalise("sms", c.phone) for c in merged if c.phone} | {
                _normalise("email", c.email) for c in merged if c.email}
            # The channel named too: the key is (channel, address), and without its first column a read walks
            # every opt-out there is.
            optouts = {(row.channel, row.address): row for row in (await session.execute(
                select(ContactOptOut).where(ContactOptOut.channel.in_(CHANNELS),
                                            ContactOptOut.address.in_(addresses)))).scalars()} if addresses else {}
        return {c.customer_id: _profile(c, stored.get(c.customer_id), optouts) for c in merged}


@dataclass(frozen=True)
class Contact:
    """How an incident names a customer; stored profile data refines it."""

    customer_id: str
    store_id: str
    first_name: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str | None


def _merge(contact: Contact, stored: CustomerProfile | None) -> Contact:
    if stored is None:
        return contact
    return Contact(
        contact.customer_id, contact.store_id, stored.first_name or contact.first_name,
        stored.email or contact.email, stored.phone or contact.phone, stored.locale or contact.locale,
        stored.timezone or contact.timezone,
    )


def _profile(
    contact: Contact, stored: CustomerProfile | None, optouts: dict[tuple[str, str], ContactOptOut]
) -> Profile:
    preferences: tuple[str, ...] = ("sms", "email")
    consent: dict[str, bool] = {}
    if stored is not None:
        if stored.channel_preferences:
            preferences = tuple(json.loads(stored.channel_preferences)) or preferences
        if stored.consent:
            consent = {ch: bool(rec.get("granted")) for ch, rec in json.loads(stored.consent).items()}
    sms_row = optouts.get(("sms", _normalise("sms", contact.phone))) if contact.phone else None
    email_row = optouts.get(("email", _normalise("email", contact.email))) if contact.email else None
    sms_out = sms_row is not None and bool(sms_row.opted_out)
    email_out = email_row is not None and bool(email_row.opted_out)
    email_suppressed = email_out and email_row is not None and email_row.source in ("bounce", "dropped", "spamreport")
    opted = {"sms"} if sms_out else set()
    if email_out and not email_suppressed:
        opted.add("email")
    return Profile(
        customer_id=contact.customer_id, store_id=contact.store_id, first_name=contact.first_name,
        email=contact.email, phone=contact.phone, locale=contact.locale, timezone=contact.timezone,
        channel_preferences=preferences, consent=consent, opted_out=frozenset(opted),
        email_suppressed=email_suppressed,
        sms_permanently_failed=sms_out and sms_row is not None and sms_row.source == "twilio_21610",
    )


def _normalise(channel: str, address: str) -> str:
    address = address.strip()
    if channel == "email":
        return address.lower()
    return "+" + "".join(c for c in address if c.isdigit()) if address.startswith("+") else address

