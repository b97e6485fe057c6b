"""Promises kept: follow-ups through the dispatcher on a real database, the real Twilio SDK and the fake provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import make_event
from services.notifier.rendering import MessageContext, render
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import NotifierRig, incident_event, notifier_rig, rig_on

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # Tuesday, 12:00 in New York
FIRST_PROMISE = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
SECOND_PROMISE = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday 10:00 in New York


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NOON_NY) as built:
        yield built


def bodies(fake: FakeProviders) -> list[str]:
    return [r.form["Body"] for r in fake.sends("twilio")]


async def promises(rig: NotifierRig, incident_id: str) -> list[tuple[int, datetime | None, str | None]]:
    """(follow-up number, promised update, promise state) of the incident's messages, in the order sent."""
    first = await rig.ledger.find_any(incident_id=incident_id, customer_id="cus_1")
    assert first is not None
    rows, _ = await rig.ledger.order_story(first)
    return [(r.follow_up, r.next_update_at, r.promise) for r in rows if r.incident_id == incident_id]


async def at(rig: NotifierRig, when: datetime) -> None:
    rig.clock.set(when)
    await rig.dispatcher.send_due()


async def test_a_late_order_still_open_gets_one_follow_up_per_promise_and_two_at_most(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-late", at=NOON_NY))
    first = await rig.ledger.find_any(incident_id="inc-late", customer_id="cus_1")
    assert first is not None and (first.next_update_at, first.promise) == (FIRST_PROMISE, "open")
    await at(rig, FIRST_PROMISE - timedelta(minutes=1))
    assert len(bodies(fake_providers)) == 1
    await at(rig, FIRST_PROMISE)
    await at(rig, FIRST_PROMISE + timedelta(minutes=1))  # the next pass finds the promise kept
    assert len(bodies(fake_providers)) == 2
    assert await promises(rig, "inc-late") == [(0, FIRST_PROMISE, "kept"), (1, SECOND_PROMISE, "open")]
    await at(rig, SECOND_PROMISE)
    assert len(bodies(fake_providers)) == 3
    assert (await promises(rig, "inc-late"))[2] == (2, None, None)  # the last follow-up promises nothing
    for days in (1, 2, 7):
        await at(rig, SECOND_PROMISE + timedelta(days=days))
    assert len(bodies(fake_providers)) == 3
    outcomes = rig.outcomes("notification.sent")
    assert len({e.data.notification_id for e in outcomes}) == 3
    assert all(e.data.incident_ids == ["inc-late"] for e in outcomes)


async def test_the_same_order_delivered_before_its_promise_gets_none(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-done", at=NOON_NY))
    rig.clock.set(NOON_NY + timedelta(hours=6))
    await rig.dispatcher.on_resolved("inc-done", "delivered")
    for when in (FIRST_PROMISE, SECOND_PROMISE, SECOND_PROMISE + timedelta(days=3)):
        await at(rig, when)
    assert len(bodies(fake_providers)) == 1
    row = await rig.ledger.find_any(incident_id="inc-done", customer_id="cus_1")
    assert row is not None and row.promise == "ended"


async def test_a_follow_up_is_sent_once_by_racing_workers_and_after_a_restart(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-race", at=NOON_NY))
    settings = rig.dispatcher.settings
    workers = [rig.dispatcher, await rig.restarted(settings), await rig.restarted(settings)]
    try:
        rig.clock.set(FIRST_PROMISE)
        await asyncio.gather(*(w.send_due() for w in workers))
        await workers[1].recover()  # a restart finds nothing left to resume
        await workers[2].send_due()
        assert len(bodies(fake_providers)) == 2
    finally:
        for worker in workers[1:]:
            await worker.providers.close()


async def test_an_ambiguous_follow_up_is_reconciled_not_sent_again(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-amb", at=NOON_NY))
    fake_providers.script("twilio", [500])  # the provider took the follow-up, then answered 500
    await at(rig, FIRST_PROMISE)
    await at(rig, FIRST_PROMISE + timedelta(minutes=1))  # looked up at the provider: it went
    assert len(bodies(fake_providers)) == 2
    assert len(rig.outcomes("notification.sent")) == 2


async def test_news_since_the_last_message_leads_the_follow_up(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-first", at=NOON_NY))
    rig.clock.set(NOON_NY + timedelta(minutes=5))
    news = incident_event("inc-slip", at=NOON_NY + timedelta(minutes=5), kind="tracking_stalled")
    await rig.dispatcher.on_incident(news)
    assert len(bodies(fake_providers)) == 1  # the same burst: covered by the first message
    await at(rig, FIRST_PROMISE)
    assert len(bodies(fake_providers)) == 2
    first = await rig.ledger.find_any(incident_id="inc-first", customer_id="cus_1")
    assert first is not None
    follow_up = (await rig.ledger.order_story(first))[0][-1]
    assert (follow_up.follow_up, follow_up.state, follow_up.incident_id) == (1, "sent", "inc-first")
    # It tells the news (the stalled tracking), as a follow-up with news, and makes the next promise.
    ctx = MessageContext.from_incidents(
        [news.data], store=rig.dispatcher.store, timezone_fallback="UTC",
        unsubscribe_url=f"{rig.dispatcher.settings.public_base_url}/unsubscribe/{follow_up.notification_id}",
    ).model_copy(update={"follow_up": 1, "news": True, "next_update_at": follow_up.next_update_at})
    assert follow_up.next_update_at == SECOND_PROMISE
    assert follow_up.body == render(ctx, "sms").text


async def test_a_newer_message_on_the_order_makes_the_newer_promise(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-old", at=NOON_NY))
    later = NOON_NY + timedelta(hours=3)
    rig.clock.set(later)
    await rig.dispatcher.on_incident(incident_event("inc-new", at=later, kind="delivery_exception",
                                                    severity="critical"))
    assert len(bodies(fake_providers)) == 2
    await at(rig, FIRST_PROMISE)  # both promised Wednesday morning: one follow-up, about the order
    assert len(bodies(fake_providers)) == 3
    old = await rig.ledger.find_any(incident_id="inc-old", customer_id="cus_1")
    assert old is not None and old.promise == "ended"


async def test_a_customer_who_opted_out_since_gets_no_follow_up(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-stop", at=NOON_NY, email=None))
    await rig.inbound.on_provider_event(make_event(
        "provider.sms_inbound", {"message_sid": "SMstop", "from": "+14155550123", "to": "+15005550006",
                                 "body": "STOP", "received_at": NOON_NY}, source="twilio", subject="SMstop",
        time=NOON_NY))
    for when in (FIRST_PROMISE, SECOND_PROMISE):
        await at(rig, when)
    assert len(bodies(fake_providers)) == 1
    assert [e.data.reason for e in rig.outcomes("notification.suppressed")] == ["opted_out"]


async def test_a_follow_up_due_at_night_waits_for_the_morning(
    fake_providers: FakeProviders, tmp_path: Path
) -> None:
    # No business mornings: the promise falls at 22:00 in New York, inside quiet hours.
    async with notifier_rig(fake_providers, NOON_NY, tmp_dir=str(tmp_path), promise_business_mornings=False,
                            promise_after_s=10 * 3600) as rig:
        await rig.dispatcher.on_incident(incident_event("inc-night", at=NOON_NY))
        await at(rig, NOON_NY + timedelta(hours=10))
        assert len(bodies(fake_providers)) == 1
        deferred = rig.outcomes("notification.deferred")
        eight_am = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
        assert [e.data.due_at for e in deferred] == [eight_am] and deferred[0].data.reason == "quiet_hours"
        await at(rig, eight_am)
        assert len(bodies(fake_providers)) == 2


async def test_a_promise_waits_until_the_incidents_are_read_past_it(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    """A delivery published before the promise fell due, not read yet (the notifier was down or behind): the
    promise waits for it, then ends."""
    await rig.dispatcher.on_incident(incident_event("inc-behind", at=NOON_NY))
    read: list[datetime | None] = [None]

    async def incidents_read() -> datetime | None:
        return read[0]

    rig.dispatcher.incidents_read = incidents_read
    await at(rig, FIRST_PROMISE + timedelta(hours=1))  # nothing known to be read
    read[0] = FIRST_PROMISE - timedelta(minutes=1)
    await at(rig, FIRST_PROMISE + timedelta(hours=1))  # read, but not as far as the promise
    assert len(bodies(fake_providers)) == 1
    await rig.dispatcher.on_resolved("inc-behind", "delivered")  # the resolution is read at last
    read[0] = FIRST_PROMISE + timedelta(hours=1)
    await at(rig, FIRST_PROMISE + timedelta(hours=1))
    assert len(bodies(fake_providers)) == 1
    row = await rig.ledger.find_any(incident_id="inc-behind", customer_id="cus_1")
    assert row is not None and row.promise == "ended"
