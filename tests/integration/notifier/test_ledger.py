"""The delivery ledger on real SQLite and real PostgreSQL: same tests, both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, event, text

from services.common.db import create_engine, session_factory
from services.notifier.delivery_states import TRANSITIONS
from services.notifier.ledger import DeliveryState, IllegalTransition, Ledger
from services.notifier.migrate import alembic_config, upgrade
from services.notifier.profiles import Contact, ProfileStore
from tests.support.notifier import incident_event
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    engine = create_engine(await fresh_database(request.param, tmp_path, postgres, "ledger"))
    await upgrade(engine)
    await upgrade(engine)  # idempotent at every start
    try:
        yield Ledger(session_factory(engine))
    finally:
        await engine.dispose()


async def _reserve(ledger: Ledger, nid: str = "n1", incident: str = "inc-1", **kw: object) -> object:
    return await ledger.reserve(notification_id=nid, incident_id=incident, customer_id="cus_1", channel="sms",
                                order_id="ord-1", now=NOW, **kw)  # type: ignore[arg-type]


async def test_reserve_is_unique_per_incident_customer_channel(ledger: Ledger) -> None:
    first = await _reserve(ledger)
    second = await _reserve(ledger, nid="n1-again")
    assert first.fresh is True  # type: ignore[attr-defined]
    assert second.fresh is False  # type: ignore[attr-defined]
    assert second.notification_id == "n1"  # type: ignore[attr-defined]
    other_channel = await ledger.reserve(notification_id="n2", incident_id="inc-1", customer_id="cus_1",
                                         channel="email", order_id="ord-1", now=NOW)
    assert other_channel.fresh is True


async def test_concurrent_reservations_have_one_winner(ledger: Ledger) -> None:
    results = await asyncio.gather(*(_reserve(ledger, nid=f"n{i}", incident="inc-race") for i in range(8)))
    assert sum(r.fresh for r in results) == 1  # type: ignore[attr-defined]


async def test_transitions_guard_expected_state(ledger: Ledger) -> None:
    await _reserve(ledger)
    assert await ledger.transition("n1", "sending", now=NOW, expect=("reserved",))
    assert not await ledger.transition("n1", "sending", now=NOW, expect=("reserved",))
    assert await ledger.transition("n1", "sent", now=NOW, provider="twilio", provider_message_id="SM1")
    row = await ledger.get("n1")
    assert row is not None and row.state == "sent" and row.provider_message_id == "SM1"


async def test_status_callbacks_never_regress(ledger: Ledger) -> None:
    await _reserve(ledger, state="sending")
    await ledger.transition("n1", "sent", now=NOW, provider_message_id="SM1")
    assert await ledger.record_status("SM1", "delivered", now=NOW) is not None
    assert await ledger.record_status("SM1", "sent", now=NOW) is None  # late, out of order
    row = await ledger.get("n1")
    assert row is not None and row.state == "delivered"
    assert await ledger.record_status("SM-unknown", "delivered", now=NOW) is None


async def test_every_move_the_state_machine_forbids_raises_and_leaves_the_row(ledger: Ledger) -> None:
    illegal = [(source, target) for source in DeliveryState for target in DeliveryState
               if target not in TRANSITIONS[source]]
    for n, (source, target) in enumerate(illegal):
        nid = f"n-{source}-{target}"
        await _reserve(ledger, nid=nid, incident=f"inc-{n}", state=source)
        with pytest.raises(IllegalTransition):
            await ledger.transition(nid, target, now=NOW)
        with pytest.raises(IllegalTransition):  # a forbidden `expect` is the caller's bug too, raced or not
            await ledger.transition(nid, target, now=NOW, expect=(source,))
        row = await ledger.get(nid)
        assert row is not None and row.state == source, (source, target)


async def test_an_allowed_move_from_an_unexpected_state_is_left_alone(ledger: Ledger) -> None:
    await _reserve(ledger, state="ambiguous")  # another process settled it meanwhile, say
    assert not await ledger.transition("n1", "sent", now=NOW, expect=("sending",))
    assert await ledger.transition("n1", "sent", now=NOW, expect=("sending", "ambiguous"))
    row = await ledger.get("n1")
    assert row is not None and row.state is DeliveryState.SENT


async def test_a_state_outside_the_machine_is_never_written(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="queued"):
        await _reserve(ledger, state="queued")
    assert await ledger.get("n1") is None


async def test_a_callback_that_cannot_apply_is_ignored(ledger: Ledger) -> None:
    await _reserve(ledger, state="sending")
    await ledger.transition("n1", "sent", now=NOW, provider_message_id="SM1")
    assert await ledger.record_status("SM1", "bounced", now=NOW) is not None
    assert await ledger.record_status("SM1", "undelivered", now=NOW) is None  # same rank: no move sideways
    assert await ledger.record_status("SM1", "delivered", now=NOW) is not None
    row = await ledger.get("n1")
    assert row is not None and row.state is DeliveryState.DELIVERED


async def test_bulk_sends_settle_only_rows_still_in_flight(ledger: Ledger) -> None:
    for n in (1, 2, 3):
        await _reserve(ledger, nid=f"n{n}", incident=f"inc-{n}", state="sending")
    await ledger.transition("n2", "ambiguous", now=NOW, expect=("sending",))  # a restart elsewhere marked it
    await ledger.transition("n3", "failed", now=NOW, expect=("sending",))  # settled elsewhere
    await ledger.settle_sent([{"nid": nid, "now": NOW, "provider": "twilio", "provider_message_id": f"SM-{nid}"}
                              for nid in ("n1", "n2", "n3")])
    n1, n2, n3 = await ledger.get("n1"), await ledger.get("n2"), await ledger.get("n3")
    assert n1 is not None and n1.state is DeliveryState.SENT and n1.provider_message_id == "SM-n1"
    assert n2 is not None and n2.state is DeliveryState.SENT and n2.provider_message_id == "SM-n2"
    assert n3 is not None and n3.state is DeliveryState.FAILED and n3.provider_message_id is None


async def test_deferred_rows_come_due(ledger: Ledger) -> None:
    await _reserve(ledger, state="deferred", due_at=NOW + timedelta(hours=9))
    assert await ledger.due(NOW) == []
    due = await ledger.due(NOW + timedelta(hours=9, seconds=1))
    assert [r.notification_id for r in due] == ["n1"]
    assert due[0].due_at is not None and due[0].due_at.astimezone(UTC) == NOW + timedelta(hours=9)


async def test_withdraw_only_unsent_rows(ledger: Ledger) -> None:
    await _reserve(ledger, state="deferred", due_at=NOW)
    await ledger.reserve(notification_id="n2", incident_id="inc-1", customer_id="cus_1", channel="email",
                         order_id="ord-1", now=NOW, state="sent")
    withdrawn = await ledger.withdraw("inc-1", now=NOW, reason="resolved_before_send:delivered")
    assert [r.notification_id for r in withdrawn] == ["n1"]
    row = await ledger.get("n2")
    assert row is not None and row.state == "sent"


async def test_sends_count_for_the_cap(ledger: Ledger) -> None:
    await _reserve(ledger, state="sending")
    await ledger.transition("n1", "sent", now=NOW)

    async def sent_since(since: datetime) -> list[datetime]:
        return (await ledger.batch_context([("other", "cus_1", None)], cap_since=since)).sent.get("cus_1", [])

    assert len(await sent_since(NOW - timedelta(hours=24))) == 1
    assert await sent_since(NOW + timedelta(seconds=1)) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_rows_from_before_the_event_time_column_get_their_incidents_time(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    postgres = request.getfixturevalue("postgres") if backend == "postgresql" else None
    engine = create_engine(await fresh_database(backend, tmp_path, postgres, "ledger_0004"))

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = alembic_config(engine.url.render_as_string(hide_password=False))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return run

    detected = NOW - timedelta(hours=2)
    incident = incident_event("inc-old", at=detected).to_bytes().decode()
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("0003_address"))
            for nid, held in (("n-old", incident), ("n-bare", None)):
                await connection.execute(text(
                    "insert into deliveries (notification_id, incident_id, customer_id, order_id, channel, state,"
                    " attempts, incident, created_at, updated_at) values (:nid, :nid, 'cus_1', 'ord-1', 'sms',"
                    " 'sent', 1, :incident, :now, :now)"), {"nid": nid, "incident": held, "now": NOW})
        await upgrade(engine)
        ledger = Ledger(session_factory(engine))
        old, bare = await ledger.get("n-old"), await ledger.get("n-bare")
        assert old is not None and old.incident_at == detected
        assert bare is not None and bare.incident_at == NOW  # nothing better is known of it
    finally:
        await engine.dispose()


async def test_a_batchs_reads_search_by_its_keys_however_long_the_history(tmp_path: Path) -> None:
    """The reads every incident batch makes (the ledger's context, the profiles and opt-outs) look rows up by the
    batch's own keys on SQLite: none walks a table, or an index as long as the history (the state index holds
    every message ever sent, so a cap read through it gets slower with every send)."""
    database = tmp_path / "plans.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await upgrade(engine)
    statements: list[tuple[str, object]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        ledger, profiles = Ledger(session_factory(engine)), ProfileStore(session_factory(engine))
        await ledger.batch_context([("inc-1", "cus_1", "ord-1"), ("inc-2", "cus_2", None)],
                                   cap_since=NOW - timedelta(hours=24))
        await profiles.profiles_for([Contact("cus_1", "store-1", "Ada", "ada@example.com", "+14155550100", "en", None)])
    finally:
        await engine.dispose()
    assert len(statements) == 6  # the ledger's four reads, the profiles and the opt-outs
    with sqlite3.connect(database) as connection:
        for statement, parameters in statements:
            plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]  # type: ignore[arg-type]
            steps = [step for step in plan if step.startswith(("SCAN", "SEARCH"))]
            assert steps and all(step.startswith("SEARCH") for step in steps), (statement, plan)
            assert not any("ix_deliveries_state" in step for step in steps), (statement, plan)
