"""The notifications panel reads the notifier's ledger (built by its migrations) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from services.common.db import create_engine, session_factory
from services.common.settings import CommonSettings
from services.dashboard.ledger_reader import DELIVERIES, LedgerReader, LedgerUnavailable
from services.notifier.ledger import Ledger
from tests.support.dashboard import EMAIL, PHONE, dashboard, incident_detected

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TIMEOUT = aiohttp.ClientTimeout(total=60)
BODY = (f"Hi Ada, your Alpine Down Jacket has not shipped yet. We now expect it on Nov 25. "
        f"Questions? Reply here or write to {EMAIL}. (Sent to {PHONE})")


async def _fill(url: str) -> None:
    """Rows as the notifier writes them: sent by SMS, deferred by email, suppressed."""
    engine = create_engine(url)
    ledger = Ledger(session_factory(engine))
    try:
        sms = incident_detected("inc-sms", at=NOW, kind="not_shipped")
        await ledger.reserve(notification_id="ntf-sms", incident_id="inc-sms", customer_id="cus_1", channel="sms",
                             order_id="ord-1", now=NOW, state="sending", incident=sms.to_bytes().decode(),
                             severity="normal", body=BODY, attempts=1, address=PHONE)
        await ledger.transition("ntf-sms", "sent", now=NOW + timedelta(seconds=2), provider="twilio",
                                provider_message_id="SM123")
        mail = incident_detected("inc-mail", at=NOW, kind="stockout", escalate=True, tier=2)
        await ledger.reserve(notification_id="ntf-mail", incident_id="inc-mail", customer_id="cus_1",
                             channel="email", order_id="ord-2", now=NOW + timedelta(minutes=1), state="deferred",
                             due_at=NOW + timedelta(hours=8), reason="quiet_hours",
                             incident=mail.to_bytes().decode(), body=BODY, subject=f"Your order, {EMAIL}",
                             address=EMAIL)
        await ledger.reserve(notification_id="ntf-none", incident_id="inc-none", customer_id="cus_2",
                             channel="none", order_id=None, now=NOW + timedelta(minutes=2), state="suppressed",
                             reason="no_consent")
    finally:
        await engine.dispose()


async def test_notifications_panel_shows_masked_messages(ledger_url: str, kafka: str, topic_prefix: str) -> None:
    await _fill(ledger_url)
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix, database_url=ledger_url)
    async with dashboard(common, notifications_shown=10) as url, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(f"{url}/api/notifications") as response:
            assert response.status == 200, await response.text()
            data = await response.json()
        page = await (await session.get(f"{url}/")).text()

    rows = {row["notification_id"]: row for row in data["notifications"]}
    assert [row["notification_id"] for row in data["notifications"]] == ["ntf-none", "ntf-mail", "ntf-sms"]
    sms, mail, none = rows["ntf-sms"], rows["ntf-mail"], rows["ntf-none"]
    assert (sms["state"], sms["channel"], sms["kind"], sms["provider"]) == ("sent", "sms", "not_shipped", "twilio")
    assert sms["address"] == "+*******0123"
    assert sms["body"].startswith("Hi Ada, your Alpine Down Jacket has not shipped yet.")
    assert "a***@example.com" in sms["body"]
    assert sms["created_at"] == "2026-11-22T12:00:00+00:00"
    assert sms["updated_at"] == "2026-11-22T12:00:02+00:00"
    assert (mail["state"], mail["kind"], mail["escalation_tier"], mail["reason"]) == (
        "deferred", "stockout", 2, "quiet_hours")
    assert mail["address"] == "a***@example.com"
    assert mail["due_at"] == "2026-11-22T20:00:00+00:00"
    assert mail["subject"] == "Your order, a***@example.com"
    assert (none["state"], none["address"], none["body"]) == ("suppressed", None, None)
    assert data["states"] == [{"state": "deferred", "count": 1}, {"state": "sent", "count": 1},
                              {"state": "suppressed", "count": 1}]

    everything = json.dumps(data) + page
    assert PHONE not in everything and EMAIL not in everything
    assert "Alpine Down Jacket has not shipped yet" in page


async def test_the_reader_writes_nothing(ledger_url: str) -> None:
    """The dashboard's connections cannot write, whatever a bug might try."""
    await _fill(ledger_url)
    reader = LedgerReader(ledger_url)
    try:
        assert len(await reader.latest(10)) == 3
        engine = reader._engine_for_read()
        async with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn = await conn.execution_options(postgresql_readonly=True)
            with pytest.raises(Exception, match=r"(?i)read.?only|readonly"):
                await conn.execute(DELIVERIES.delete())
        count = select(func.count()).select_from(DELIVERIES)
        async with create_engine(ledger_url).connect() as conn:
            assert (await conn.execute(count)).scalar_one() == 3
    finally:
        await reader.close()


async def test_a_missing_sqlite_ledger_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here" / "forewarn.db"
    reader = LedgerReader(f"sqlite+aiosqlite:///{path}")
    with pytest.raises(LedgerUnavailable, match="no ledger at"):
        await reader.latest(5)
    assert not path.exists() and not path.parent.exists()


async def test_a_ledger_without_its_table_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin():
        pass  # creates the file, no tables
    await engine.dispose()
    reader = LedgerReader(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(LedgerUnavailable, match="no deliveries table yet"):
            await reader.state_counts()
    finally:
        await reader.close()
