"""The feedback question after a resolved incident and its answer, through the real dispatcher, inbound handler,
ledger (SQLite and PostgreSQL) and Twilio SDK (fake API)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from schemas import CloudEvent, IncidentResolved, make_event
from services.common.ids import stable_id
from services.common.links import LinkSigner
from services.common.settings import DEV_LINK_SECRET
from services.notifier.questions import question_id
from tests.integration.notifier.test_case_notices import case_opened
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import NotifierRig, incident_event, rig_on

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
PHONE = "+14155550123"


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NOON_NY, feedback_delay_s=0) as built:
        yield built


def resolved(incident_id: str, *, reason: str = "delivered", at: datetime = NOON_NY,
             order_id: str = "ord-1") -> IncidentResolved:
    event = make_event("incident.resolved", {
        "incident_id": incident_id, "kind": "not_shipped", "order_id": order_id, "customer_id": "cus_1",
        "reason": reason, "resolved_at": at}, source="forewarn/order-watcher", subject="cus_1", time=at,
        id=f"res-{incident_id}")
    assert isinstance(event, IncidentResolved)
    return event


def inbound(body: str, sid: str) -> CloudEvent:
    return make_event("provider.sms_inbound", {"message_sid": sid, "from": PHONE, "to": "+15005550006", "body": body,
                                               "received_at": NOON_NY + timedelta(minutes=5)},
                      source="twilio", subject=sid, time=NOON_NY)


def texts(fake: FakeProviders) -> list[str]:
    return [r.form["Body"] for r in fake.sends("twilio") if r.form.get("To") == PHONE]


async def told_then_resolved(rig: NotifierRig, incident_id: str, order_id: str = "ord-1",
                             at: datetime = NOON_NY) -> None:
    rig.clock.set(at)
    await rig.dispatcher.on_incident(incident_event(incident_id, at=at, order_id=order_id, email=None,
                                                    order_number="#1001"))
    await rig.dispatcher.on_incident_batch([resolved(incident_id, at=at + timedelta(hours=1), order_id=order_id)])


async def test_one_question_after_a_delivery_and_a_low_score_with_words(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await told_then_resolved(rig, "inc-late")
    sent = texts(fake_providers)
    assert len(sent) == 2 and "How did we handle it? Reply 1 (poor) to 5 (great)" in sent[1], sent
    assert "#1001" in sent[1]

    await rig.inbound.on_provider_event(inbound("2 the driver was rude", "SMfb1"))  # type: ignore[arg-type]

    [given] = rig.outcomes("feedback.given")
    data = given.data
    assert (data.score, data.text, data.incident_id, data.order_id) == (  # type: ignore[attr-defined]
        2, "the driver was rude", "inc-late", "ord-1")
    assert data.notification_id == question_id("inc-late", "cus_1")  # type: ignore[attr-defined]
    assert given.subject == "ord-1"
    assert rig.outcomes("customer.replied") == []
    assert "sorry it wasn't better" in texts(fake_providers)[-1]

    # Redelivered: the same event id; the question is not asked again.
    await rig.dispatcher.on_incident_batch([resolved("inc-late", at=NOON_NY + timedelta(hours=1))])
    await rig.inbound.on_provider_event(inbound("2 the driver was rude", "SMfb1"))  # type: ignore[arg-type]
    assert len({e.id for e in rig.outcomes("feedback.given")}) == 1
    assert sum("How did we handle it?" in t for t in texts(fake_providers)) == 1


async def test_at_most_one_question_in_30_days(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await told_then_resolved(rig, "inc-a", order_id="ord-1")
    await told_then_resolved(rig, "inc-b", order_id="ord-2", at=NOON_NY + timedelta(days=20))
    assert sum("How did we handle it?" in t for t in texts(fake_providers)) == 1
    await told_then_resolved(rig, "inc-c", order_id="ord-3", at=NOON_NY + timedelta(days=31))
    assert sum("How did we handle it?" in t for t in texts(fake_providers)) == 2


async def test_no_question_while_another_incident_is_open_or_when_never_told(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-open", at=NOON_NY, order_id="ord-9", email=None))
    await told_then_resolved(rig, "inc-closed", order_id="ord-1")
    await rig.dispatcher.on_incident_batch([resolved("inc-never-told", order_id="ord-5")])
    assert not any("How did we handle it?" in t for t in texts(fake_providers))


async def test_a_resolution_that_is_no_ending_asks_nothing(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-ship", at=NOON_NY, email=None))
    await rig.dispatcher.on_incident_batch([resolved("inc-ship", reason="shipped")])
    assert not any("How did we handle it?" in t for t in texts(fake_providers))


async def test_a_reply_without_a_score_goes_to_a_person(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await told_then_resolved(rig, "inc-late")
    await rig.inbound.on_provider_event(inbound("who are you?", "SMfb2"))  # type: ignore[arg-type]
    assert rig.outcomes("feedback.given") == []
    assert len(rig.outcomes("customer.replied")) == 1


NIGHT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # midnight in New York


@pytest.fixture(params=["sqlite", "postgresql"])
async def evening_rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NIGHT - timedelta(hours=12), feedback_delay_s=0) as built:
        yield built


async def test_quiet_hours_defer_the_question(evening_rig: NotifierRig, fake_providers: FakeProviders) -> None:
    rig, night = evening_rig, NIGHT
    await rig.dispatcher.on_incident(incident_event("inc-n", at=night - timedelta(hours=12), email=None))
    rig.clock.set(night)
    await rig.dispatcher.on_incident_batch([resolved("inc-n", at=night)])
    assert not any("How did we handle it?" in t for t in texts(fake_providers))
    row = await rig.ledger.get(question_id("inc-n", "cus_1"))
    assert row is not None and row.state == "deferred" and row.reason == "quiet_hours"
    assert row.due_at is not None
    rig.clock.set(row.due_at)
    await rig.dispatcher.send_due()
    assert sum("How did we handle it?" in t for t in texts(fake_providers)) == 1



async def test_a_replayed_old_resolution_asks_nothing(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-old", at=NOON_NY, email=None))
    rig.clock.set(NOON_NY + timedelta(days=5))  # offsets reset: the resolution is read days after it happened
    await rig.dispatcher.on_incident_batch([resolved("inc-old", at=NOON_NY + timedelta(hours=1))])
    assert not any("How did we handle it?" in t for t in texts(fake_providers))
    assert await rig.ledger.get(question_id("inc-old", "cus_1")) is None


async def test_a_low_score_hears_of_a_person_once(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    """The thanks for a low score promises nothing; care's case then says who gets in touch and by when."""
    await told_then_resolved(rig, "inc-low")
    await rig.inbound.on_provider_event(inbound("1 never again", "SMlow"))  # type: ignore[arg-type]
    await rig.dispatcher.notices.on_case_opened(case_opened("case-low", at=NOON_NY + timedelta(minutes=2)))
    thanks, notice = texts(fake_providers)[-2:]
    assert "thank you" in thanks and "sorry" in thanks and "person" not in thanks, thanks
    assert "a person on our team, who will get in touch by" in notice, notice


async def test_an_email_customer_gets_five_signed_scores_and_a_click_becomes_feedback_given(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    rig.clock.set(NOON_NY)
    await rig.dispatcher.on_incident(incident_event("inc-mail", at=NOON_NY, phone=None, email="grace@example.com",
                                                    locale="es-ES", order_number="#1001"))
    await rig.dispatcher.on_incident_batch([resolved("inc-mail", at=NOON_NY + timedelta(hours=1))])
    nid = question_id("inc-mail", "cus_1")
    assert texts(fake_providers) == []
    _, question = fake_providers.sends("sendgrid")
    payload = question.json
    html = next(c["value"] for c in payload["content"] if c["type"] == "text/html")
    text = next(c["value"] for c in payload["content"] if c["type"] == "text/plain")
    assert "¿Qué tal lo hicimos?" in html and "#1001" in payload["subject"]
    signer = LinkSigner(DEV_LINK_SECRET)
    tokens = re.findall(r"/feedback/([^\"?\s]+)\?lang=es", html)
    links = [signer.verify_feedback(unquote(token), now=NOON_NY) for token in tokens]
    assert [(link.notification_id, link.score) for link in links if link is not None] == [
        (nid, score) for score in range(1, 6)]
    assert all(f"/feedback/{token}" in text for token in tokens)
    [unsubscribe] = re.findall(r"/unsubscribe/([^>\s]+)>", payload["headers"]["List-Unsubscribe"])
    assert signer.verify_unsubscribe(unquote(unsubscribe)) == nid
    row = await rig.ledger.get(nid)
    assert row is not None and (row.channel, row.address, row.purpose) == ("email", "grace@example.com", "feedback")

    def rated(notification_id: str, score: int, words: str | None = None) -> CloudEvent:
        data = {"notification_id": notification_id, "score": score, "text": words, "at": NOON_NY + timedelta(hours=2)}
        return make_event("customer.rated", {k: v for k, v in data.items() if v is not None},
                          source="forewarn/gateway", subject=notification_id, time=NOON_NY,
                          id=stable_id("email-feedback", notification_id, str(score), words or ""))

    await rig.inbound.on_customer_event(rated(nid, 2, "el repartidor fue grosero"))  # type: ignore[arg-type]
    await rig.inbound.on_customer_event(rated(nid, 2, "el repartidor fue grosero"))  # type: ignore[arg-type]
    told_nid = rig.outcomes("notification.sent")[0].data.notification_id  # type: ignore[attr-defined]
    assert told_nid != nid
    for other in (told_nid, "ntf-unknown"):  # no feedback question: nothing
        await rig.inbound.on_customer_event(rated(other, 5))  # type: ignore[arg-type]
    given = rig.outcomes("feedback.given")
    assert len({e.id for e in given}) == 1
    data = given[0].data
    assert (data.score, data.text, data.channel, data.incident_id, data.notification_id) == (  # type: ignore[attr-defined]
        2, "el repartidor fue grosero", "email", "inc-mail", nid)
    assert given[0].subject == "ord-1"
    assert texts(fake_providers) == []  # the page thanked them; no SMS
