"""The hand-off on real SQLite and PostgreSQL, the notifier's real ledger beside it, real zenpy against a fake Zendesk.

The notifier's dispatcher (real Twilio SDK, fake provider server) writes the customer's messages into its
ledger; care reads them from the same database, reserves its case, and opens the ticket through zenpy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from schemas import CaseOpened, CloudEvent, FeedbackGiven, make_event
from services.care.handoff import HandOff
from services.care.ledger import Case
from services.notifier.ledger import Delivery
from tests.support.care import (
    care_handoff,
    choice_event,
    escalation_event,
    profile_event,
    reply_event,
    zendesk_settings,
)
from tests.support.fake_providers import FakeProviders
from tests.support.fake_zendesk import FakeZendesk
from tests.support.notifier import NotifierRig, incident_event, notifier_rig

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
PHONE = "+34600111222"


@pytest.fixture(scope="module")
def zendesk() -> Iterator[FakeZendesk]:
    server = FakeZendesk(timeout_delay=1.5).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Rig:
    notifier: NotifierRig
    care: HandOff
    zendesk: FakeZendesk

    async def two_incidents(self, customer_id: str = "cus_lucia") -> tuple[str, str]:
        """A late order, then a stockout on another order an hour later: two SMS, as the notifier sends them."""
        late = incident_event(f"inc-late-{customer_id}", at=NOW - timedelta(hours=1), customer_id=customer_id,
                              order_id="ord-1001", kind="not_shipped", first_name="Lucía", phone=PHONE,
                              email="lucia@example.es", timezone="UTC", locale="es-ES")
        stock = incident_event(f"inc-stock-{customer_id}", at=NOW, customer_id=customer_id, order_id="ord-1002",
                               kind="stockout", first_name="Lucía", phone=PHONE, email="lucia@example.es",
                               timezone="UTC", locale="es-ES", product="Trail Runner 2")
        self.notifier.clock.set(NOW - timedelta(hours=1))
        await self.notifier.dispatcher.on_incident(late)
        self.notifier.clock.set(NOW)
        await self.notifier.dispatcher.on_incident(stock)
        return late.data.incident_id, stock.data.incident_id

    async def cases(self) -> list[Case]:
        async with self.care.ledger.sessions() as session:
            return list(await session.scalars(select(Case).order_by(Case.id)))


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path, fake_providers: FakeProviders,
              zendesk: FakeZendesk) -> AsyncIterator[Rig]:
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    zendesk.reset()
    async with notifier_rig(fake_providers, NOW, backend=request.param, tmp_dir=str(tmp_path),
                            postgres_url=postgres, sms_window_start="00:00", sms_window_end="23:59:59") as notifier:
        url = notifier.ledger.sessions.kw["bind"].url.render_as_string(hide_password=False)
        async with care_handoff(url, zendesk_settings(zendesk.url), NOW) as care:
            yield Rig(notifier, care, zendesk)


async def test_an_escalation_opens_one_ticket_with_routing_and_the_whole_story(rig: Rig) -> None:
    late, stock = await rig.two_incidents()
    await rig.care.on_escalation(escalation_event("esc-1", at=NOW, customer_id="cus_lucia", incident_id=stock,
                                                  kind="stockout", related=[late], tier=2, order_id="ord-1002"))
    created = rig.zendesk.created()
    assert len(created) == 1
    ticket = created[0].json["ticket"]
    assert ticket["priority"] == "high"
    assert ticket["group_id"] == 360001  # the Spanish-speaking group: the customer's locale is es-ES
    assert {"forewarn", "skill_stock", "lang_es", "queue_es", "also_delivery"} <= set(ticket["tags"])
    assert ticket["requester"] == {"name": "Lucía", "email": "lucia@example.es"}
    assert ticket["external_id"].startswith("forewarn-care-")
    body = ticket["comment"]["body"]
    assert ticket["comment"]["public"] is False
    assert "INCIDENT not_shipped on order ord-1001" in body and "INCIDENT stockout on order ord-1002" in body
    assert body.count("SMS to +*******1222") == 2 and PHONE not in body
    assert len(rig.notifier.outcomes("notification.sent")) == 2
    async with rig.notifier.ledger.sessions() as session:  # both messages, word for word, as sent
        bodies = [d.body for d in await session.scalars(select(Delivery).where(Delivery.state == "sent"))]
    assert len(bodies) == 2 and all(text and text in body for text in bodies)
    assert "skill: stock — stock (stockout) ranks first" in body
    assert "language: es — the customer's locale is es-ES" in body
    case = (await rig.cases())[0]
    assert (case.state, case.ticket_id, case.skill, case.language, case.priority) == (
        "done", str(rig.zendesk.tickets_for("forewarn")[0]["id"]), "stock", "es", "high")


async def test_a_second_escalation_adds_to_the_open_ticket_and_a_redelivery_changes_nothing(rig: Rig) -> None:
    late, stock = await rig.two_incidents()
    first = escalation_event("esc-1", at=NOW, customer_id="cus_lucia", incident_id=stock, kind="stockout",
                             related=[late], order_id="ord-1002")
    await rig.care.on_escalation(first)
    third = incident_event("inc-third", at=NOW + timedelta(hours=2), customer_id="cus_lucia", order_id="ord-1003",
                           kind="delivery_exception", first_name="Lucía", phone=PHONE, timezone="UTC",
                           locale="es-ES")
    rig.notifier.clock.set(NOW + timedelta(hours=2))
    await rig.notifier.dispatcher.on_incident(third)
    second = escalation_event("esc-2", at=NOW + timedelta(hours=2), customer_id="cus_lucia",
                              incident_id="inc-third", kind="delivery_exception", related=[late, stock], tier=3)
    await rig.care.on_escalation(second)
    await rig.care.on_escalation(second)
    await rig.care.on_escalation(first)
    assert len(rig.zendesk.created()) == 1
    ticket_id = rig.zendesk.tickets_for("forewarn")[0]["id"]
    notes = rig.zendesk.comments[ticket_id]
    assert len(notes) == 2  # the story, then one note for the second escalation
    note = notes[1]["body"]
    assert "INCIDENT delivery_exception on order ord-1003" in note
    assert "INCIDENT stockout" not in note  # already on the ticket
    assert "[forewarn-note-" in note


async def test_a_choice_joins_the_story_and_is_noted_on_an_open_case_only(rig: Rig) -> None:
    late, stock = await rig.two_incidents()
    await rig.care.on_choice(choice_event("cho-early", at=NOW, customer_id="cus_lucia", incident_id=late,
                                          choice="wait", kind="not_shipped", order_id="ord-1001",
                                          order_number="#1001"))
    assert rig.zendesk.created() == []  # a choice understood needs no person
    await rig.care.on_escalation(escalation_event("esc-1", at=NOW, customer_id="cus_lucia", incident_id=stock,
                                                  kind="stockout", related=[late]))
    [created] = rig.zendesk.created()
    assert "CHOICE wait on order #1001 by SMS" in created.json["ticket"]["comment"]["body"]
    await rig.care.on_choice(choice_event("cho-1", at=NOW + timedelta(minutes=5), customer_id="cus_lucia",
                                          incident_id=stock, choice="refund"))
    await rig.care.on_choice(choice_event("cho-1", at=NOW + timedelta(minutes=5), customer_id="cus_lucia",
                                          incident_id=stock, choice="refund"))
    [ticket_id] = rig.zendesk.tickets
    notes = rig.zendesk.comments[ticket_id]
    assert len(notes) == 2 and "CHOICE refund on order #1002 by SMS" in notes[1]["body"]
    assert "the customer chose refund" in notes[1]["body"]


async def test_an_ambiguous_creation_is_looked_up_not_opened_twice(rig: Rig) -> None:
    late, stock = await rig.two_incidents()
    rig.zendesk.script([500])  # the ticket is made, the answer is an error
    await rig.care.on_escalation(escalation_event("esc-1", at=NOW, customer_id="cus_lucia", incident_id=stock,
                                                  kind="stockout", related=[late]))
    assert [c.state for c in await rig.cases()] == ["ambiguous"]
    await rig.care.resume_pending()
    assert len(rig.zendesk.created()) == 1
    lookups = [r for r in rig.zendesk.requests if r.method == "GET" and "external_id" in r.query]
    assert len(lookups) == 1
    [case] = await rig.cases()
    assert case.state == "done" and case.ticket_id == str(rig.zendesk.tickets_for("forewarn")[0]["id"])


async def test_a_desk_away_while_looking_up_keeps_the_case_ambiguous(rig: Rig) -> None:
    rig.zendesk.script([500])
    await rig.care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_z", body="hello?"))
    async with care_handoff(rig.care.deliveries.url, zendesk_settings("http://127.0.0.1:9"), NOW) as away:
        await away.resume_pending()  # the lookup is refused: whether the ticket exists is still not known
    assert [c.state for c in await rig.cases()] == ["ambiguous"]
    await rig.care.resume_pending()
    assert [c.state for c in await rig.cases()] == ["done"] and len(rig.zendesk.created()) == 1


async def test_an_ambiguous_note_is_found_by_its_marker_not_added_twice(rig: Rig) -> None:
    await rig.care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_n", body="hello?"))
    rig.zendesk.script([502], route="update")
    await rig.care.on_reply(reply_event("rep-2", at=NOW + timedelta(minutes=1), customer_id="cus_n", body="anyone?"))
    [entry] = await rig.care.ledger.entries((await rig.cases())[0])
    assert entry.state == "ambiguous"
    await rig.care.resume_pending()
    [ticket_id] = rig.zendesk.tickets
    assert [c["body"].count("anyone?") for c in rig.zendesk.comments[ticket_id]] == [0, 1]
    [entry] = await rig.care.ledger.entries((await rig.cases())[0])
    assert entry.state == "done"


async def test_a_timeout_is_reconciled_and_a_429_or_an_unknown_ticket_is_sent_again(rig: Rig) -> None:
    late, stock = await rig.two_incidents()
    rig.zendesk.script(["timeout"])
    await rig.care.on_escalation(escalation_event("esc-1", at=NOW, customer_id="cus_lucia", incident_id=stock,
                                                  kind="stockout", related=[late]))
    await rig.care.resume_pending()
    assert len(rig.zendesk.created()) == 1 and len(rig.zendesk.tickets) == 1
    rig.zendesk.script([429])  # nothing made: zenpy waits what Retry-After asks and sends again, no lookup
    await rig.care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_other", body="Where is my parcel?"))
    assert [c.state for c in await rig.cases()] == ["done", "done"]
    assert len(rig.zendesk.created()) == 3 and len(rig.zendesk.tickets) == 2
    assert len([r for r in rig.zendesk.requests if "external_id" in r.query]) == 1


async def test_a_desk_that_cannot_be_reached_keeps_the_case_for_later(rig: Rig) -> None:
    settings = zendesk_settings("http://127.0.0.1:9")  # nothing listens: refused, never sent
    url = rig.care.deliveries.url
    async with care_handoff(url, settings, NOW) as away:
        await away.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_z", body="hello?"))
    [case] = await rig.cases()
    assert case.state == "reserved" and "refused" in (case.error or "")
    await rig.care.resume_pending()  # the desk is back
    [case] = await rig.cases()
    assert case.state == "done" and len(rig.zendesk.created()) == 1
    assert not [r for r in rig.zendesk.requests if "external_id" in r.query]  # never sent: no lookup needed


async def test_a_refused_ticket_is_kept_as_failed_and_not_retried(rig: Rig) -> None:
    rig.zendesk.script([422])
    await rig.care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_x", body="hello?"))
    [case] = await rig.cases()
    assert case.state == "failed" and "422" in (case.error or "")
    await rig.care.resume_pending()
    assert len(rig.zendesk.created()) == 1 and rig.zendesk.tickets == {}


async def test_two_workers_on_one_case_make_one_desk_call(rig: Rig) -> None:
    rig.zendesk.hold()
    task = asyncio.create_task(rig.care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_y", body="hi")))
    for _ in range(100):
        if rig.zendesk.created():
            break
        await asyncio.sleep(0.05)
    await rig.care.resume_pending()  # the claim is fresh: the timer leaves it alone
    rig.zendesk.release()
    await task
    assert len(rig.zendesk.created()) == 1


async def test_a_reply_in_spanish_reaches_spanish_speaking_staff(rig: Rig) -> None:
    await rig.care.on_reply(reply_event("rep-es", at=NOW, customer_id="cus_nuevo",
                                        body="Hola, ¿dónde está mi pedido? Todavía no tengo nada"))
    [created] = rig.zendesk.created()
    ticket = created.json["ticket"]
    assert ticket["group_id"] == 360001 and "lang_es" in ticket["tags"] and ticket["priority"] == "normal"
    assert "reply reads as es" in ticket["comment"]["body"]
    assert "¿dónde está mi pedido?" in ticket["comment"]["body"]
    # A profile's locale comes before the words of a reply; a reply on an open case is a note on it.
    await rig.care.on_profile(profile_event(at=NOW, customer_id="cus_de", locale="de-AT"))
    await rig.care.on_reply(reply_event("rep-de", at=NOW, customer_id="cus_de", body="ok"))
    await rig.care.on_reply(reply_event("rep-de-2", at=NOW + timedelta(minutes=5), customer_id="cus_de",
                                        body="Hallo??"))
    created = rig.zendesk.created()
    assert len(created) == 2 and "lang_de" in created[1].json["ticket"]["tags"]
    ticket_id = max(rig.zendesk.tickets)
    assert "Hallo??" in rig.zendesk.comments[ticket_id][-1]["body"]


def feedback_event(event_id: str, *, score: int, text: str | None, customer_id: str = "cus_lucia",
                   incident_id: str = "inc-late-cus_lucia") -> FeedbackGiven:
    data = {"feedback_id": "ntf-q1", "incident_id": incident_id, "kind": "not_shipped", "order_id": "ord-1001",
            "order_number": "#1001", "customer_id": customer_id, "store_id": "acme", "score": score, "text": text,
            "channel": "sms", "notification_id": "ntf-q1", "locale": "es-ES", "given_at": NOW}
    event = make_event("feedback.given", {k: v for k, v in data.items() if v is not None},
                       source="forewarn/notifier", subject="ord-1001", time=NOW, id=event_id)
    assert isinstance(event, FeedbackGiven)
    return event


async def test_a_low_score_opens_a_ticket_with_its_words_and_a_good_one_does_not(rig: Rig) -> None:
    await rig.two_incidents()
    await rig.care.on_feedback(feedback_event("fb-good", score=4, text="fine"))
    assert rig.zendesk.created() == []
    low = feedback_event("fb-low", score=2, text="el repartidor fue grosero")
    await rig.care.on_feedback(low)
    await rig.care.on_feedback(low)  # redelivered
    [created] = rig.zendesk.created()
    ticket = created.json["ticket"]
    assert 'low feedback 2/5 on order #1001: "el repartidor fue grosero"' in ticket["comment"]["body"]
    assert "skill_delivery" in ticket["tags"] and "lang_es" in ticket["tags"]
    await rig.care.on_feedback(feedback_event("fb-low-2", score=1, text=None))
    [ticket_id] = rig.zendesk.tickets
    notes = rig.zendesk.comments[ticket_id]
    assert len(notes) == 2 and "low feedback 1/5 on order #1001 (no words)" in notes[1]["body"]


async def test_a_new_case_is_announced_once_with_when_a_person_gets_in_touch(rig: Rig) -> None:
    announced: list[CloudEvent] = []

    async def collect(event: CloudEvent) -> None:
        announced.append(event)

    rig.care.announce = collect
    late, stock = await rig.two_incidents()
    escalation = escalation_event("esc-1", at=NOW, customer_id="cus_lucia", incident_id=stock, kind="stockout",
                                  related=[late], tier=2, order_id="ord-1002")
    await rig.care.on_escalation(escalation)
    await rig.care.on_escalation(escalation)  # redelivered
    await rig.care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_lucia", body="¿hola?"))  # a note
    [opened] = announced
    assert isinstance(opened, CaseOpened) and opened.subject == "cus_lucia"
    case = (await rig.cases())[0]
    assert (opened.data.case_id, opened.data.reason, opened.data.skill) == (case.external_id, "repeated_trouble",
                                                                            "stock")
    # NOW is Sunday 15:00 UTC: with the default support hours (Mon-Fri 09-17, 8 hours), Monday 17:00.
    assert opened.data.contact_by == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
