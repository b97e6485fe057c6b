"""Two-way SMS and email choices through the real dispatcher, inbound handler, ledger and Twilio SDK (fake API)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import update

from schemas import CloudEvent, IncidentDetected, make_event
from schemas.choices import choices_for
from services.common.links import LinkSigner
from services.common.settings import DEV_LINK_SECRET
from services.notifier.inbound import Inbound
from services.notifier.ledger import Delivery, DeliveryState, Ledger
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import NotifierRig, incident_event, rig_on

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
PHONE = "+14155550123"
STOCKOUT = choices_for("stockout")


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NOON_NY) as built:
        yield built


def stockout(incident_id: str, *, locale: str = "en", order_id: str = "ord-1", email: str | None = None,
             phone: str | None = PHONE) -> IncidentDetected:
    event = incident_event(incident_id, at=NOON_NY, kind="stockout", locale=locale, order_id=order_id, email=email,
                           phone=phone)
    facts = event.data.facts.model_copy(update={"choices": list(STOCKOUT)})
    return event.model_copy(update={"data": event.data.model_copy(update={"facts": facts})})


def inbound(body: str, sid: str, phone: str = PHONE) -> CloudEvent:
    return make_event("provider.sms_inbound", {"message_sid": sid, "from": phone, "to": "+15005550006", "body": body,
                                               "received_at": NOON_NY + timedelta(minutes=5)},
                      source="twilio", subject=sid, time=NOON_NY)


def texts(fake: FakeProviders) -> list[str]:
    return [r.form["Body"] for r in fake.sends("twilio") if r.form.get("To") == PHONE]


@pytest.mark.parametrize(("locale", "body", "confirmation"), [
    ("en", str(STOCKOUT.index("refund") + 1), "refund"),
    ("de-DE", "Erstattung bitte", "Erstattung"),
    ("es", "reembolso", "reembolso"),
])
async def test_a_reply_makes_one_choice_and_is_confirmed_in_the_customers_language(
    rig: NotifierRig, fake_providers: FakeProviders, locale: str, body: str, confirmation: str,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-choice", locale=locale))
    [sent] = rig.outcomes("notification.sent")
    assert len(texts(fake_providers)) == 1

    await rig.inbound.on_provider_event(inbound(body, "SMreply1"))  # type: ignore[arg-type]

    [made] = rig.outcomes("choice.made")
    assert made.subject == "ord-1"
    assert made.data.choice == "refund" and made.data.channel == "sms"  # type: ignore[attr-defined]
    assert made.data.incident_id == "inc-choice" and made.data.customer_id == "cus_1"  # type: ignore[attr-defined]
    assert made.data.order_id == "ord-1" and made.data.store_id == "acme"  # type: ignore[attr-defined]
    assert made.data.notification_id == sent.data.notification_id  # type: ignore[attr-defined]
    assert rig.outcomes("customer.replied") == []
    answers = texts(fake_providers)[1:]
    assert len(answers) == 1 and confirmation in answers[0], answers


async def test_cancel_still_opts_out_and_makes_no_choice(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(stockout("inc-cancel"))
    await rig.inbound.on_provider_event(inbound(" CANCEL ", "SMcancel"))  # type: ignore[arg-type]
    assert rig.outcomes("choice.made") == []
    assert [e.type for e in rig.emitted if e.type.startswith("customer.")] == ["customer.opted_out"]
    assert len(texts(fake_providers)) == 1  # no confirmation, no answer


async def test_a_reply_not_understood_goes_to_a_person_with_an_honest_answer(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-question", locale="de-DE"))
    [sent] = rig.outcomes("notification.sent")
    await rig.inbound.on_provider_event(inbound("Kommt es noch vor Weihnachten?", "SMq"))  # type: ignore[arg-type]
    assert rig.outcomes("choice.made") == []
    [replied] = rig.outcomes("customer.replied")
    assert replied.data.customer_id == "cus_1"  # type: ignore[attr-defined]
    assert replied.data.in_reply_to == sent.data.notification_id  # type: ignore[attr-defined]
    [answer] = texts(fake_providers)[1:]
    assert "Team" in answer and "melde" in answer  # "... meldet sich bald jemand aus unserem Team ..."


async def test_a_number_beyond_the_offer_or_for_a_resolved_incident_is_not_a_choice(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-range"))
    await rig.inbound.on_provider_event(inbound(str(len(STOCKOUT) + 1), "SMrange"))  # type: ignore[arg-type]
    await rig.dispatcher.on_resolved("inc-range", "restocked")
    await rig.inbound.on_provider_event(inbound("1", "SMlate"))  # type: ignore[arg-type]
    assert rig.outcomes("choice.made") == []
    assert len(rig.outcomes("customer.replied")) == 2


async def test_the_reply_answers_the_latest_open_incident(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(stockout("inc-old", order_id="ord-old"))
    rig.clock.advance(timedelta(hours=1))
    await rig.dispatcher.on_incident(stockout("inc-new", order_id="ord-new"))
    rig.clock.advance(timedelta(hours=1))
    await rig.dispatcher.on_resolved("inc-new", "restocked")
    await rig.inbound.on_provider_event(inbound("1", "SMlatest"))  # type: ignore[arg-type]
    [made] = rig.outcomes("choice.made")
    assert made.data.incident_id == "inc-old" and made.data.choice == "wait"  # type: ignore[attr-defined]


async def test_an_email_link_choice_becomes_one_choice_made(rig: NotifierRig) -> None:
    await rig.dispatcher.on_incident(stockout("inc-mail", phone=None, email="grace@example.com"))
    [sent] = rig.outcomes("notification.sent")
    nid = sent.data.notification_id  # type: ignore[attr-defined]

    def chose(choice: str) -> CloudEvent:
        return make_event("customer.chose", {"notification_id": nid, "choice": choice, "at": NOON_NY},
                          source="forewarn/gateway", subject=nid, time=NOON_NY)

    await rig.inbound.on_customer_event(chose("substitute"))  # type: ignore[arg-type]
    await rig.inbound.on_customer_event(chose("retry_payment"))  # type: ignore[arg-type]  # not offered
    [made] = rig.outcomes("choice.made")
    assert made.data.choice == "substitute" and made.data.channel == "email"  # type: ignore[attr-defined]
    assert made.data.notification_id == nid  # type: ignore[attr-defined]


async def test_an_email_offers_each_choice_as_a_signed_link_and_signs_its_unsubscribe_link(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-links", phone=None, email="grace@example.com", locale="de-DE"))
    [sent] = rig.outcomes("notification.sent")
    nid = sent.data.notification_id  # type: ignore[attr-defined]
    [mail] = fake_providers.sends("sendgrid")
    payload = mail.json
    html = next(c["value"] for c in payload["content"] if c["type"] == "text/html")
    text = next(c["value"] for c in payload["content"] if c["type"] == "text/plain")
    signer = LinkSigner(DEV_LINK_SECRET)
    links = re.findall(r"/choices/([^\"?\s]+)\?lang=de", html)
    assert len(links) == len(STOCKOUT)
    chosen = [signer.verify_choice(unquote(token), now=NOON_NY) for token in links]
    assert [link.choice for link in chosen if link is not None] == list(STOCKOUT)
    assert all(link is not None and link.notification_id == nid for link in chosen)
    assert all(f"/choices/{token}" in text for token in links)
    [unsubscribe] = re.findall(r"/unsubscribe/([^>\s]+)>", payload["headers"]["List-Unsubscribe"])
    assert signer.verify_unsubscribe(unquote(unsubscribe)) == nid


async def test_an_auto_responder_gets_one_honest_answer_not_a_loop(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-auto"))
    for n in range(3):
        await rig.inbound.on_provider_event(inbound("I'm driving, I'll get back to you", f"SMauto{n}"))  # type: ignore[arg-type]
    assert len(rig.outcomes("customer.replied")) == 3  # a person sees every one
    assert len(texts(fake_providers)) == 2  # the offer and one answer


async def test_a_number_counts_only_when_the_sms_as_sent_offered_those_numbers(rig: NotifierRig) -> None:
    await rig.dispatcher.on_incident(stockout("inc-shown"))
    [sent] = rig.outcomes("notification.sent")
    nid = sent.data.notification_id  # type: ignore[attr-defined]
    row = await rig.ledger.get(nid)
    assert row is not None and row.body is not None and "2" in row.body
    await _rewrite(rig.ledger, nid, body="Acme: sorry, it is out of stock.")  # as if the SMS had said only this
    await rig.inbound.on_provider_event(inbound("2", "SMnotshown"))  # type: ignore[arg-type]
    assert rig.outcomes("choice.made") == []
    assert len(rig.outcomes("customer.replied")) == 1


# An answer to a reply is a ledger row reserved before the provider call, under an id derived from the reply: the
# same reply read again (a crash before the offset commit) sends nothing; the honest-answer limit is read from the
# ledger, so a restart does not reset it.
@pytest.mark.parametrize("body", [str(STOCKOUT.index("refund") + 1), "HELP", "Will it come before Christmas?"])
async def test_the_same_reply_read_twice_is_answered_once(
    rig: NotifierRig, fake_providers: FakeProviders, body: str,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-twice"))
    reply = inbound(body, "SMtwice")
    await rig.inbound.on_provider_event(reply)  # type: ignore[arg-type]
    await rig.inbound.on_provider_event(reply)  # type: ignore[arg-type]  # re-read: the offset was never committed
    answers = texts(fake_providers)[1:]
    assert len(answers) == 1, answers
    [row] = [r for r in await rig.ledger.by_state("sent") if r.purpose == "answer"]
    assert row.address == PHONE and row.body == answers[0]


async def test_an_answer_cut_off_after_the_provider_call_is_found_there_not_sent_again(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(stockout("inc-cut"))
    reply = inbound("HELP", "SMcut")
    await rig.inbound.on_provider_event(reply)  # type: ignore[arg-type]
    [row] = [r for r in await rig.ledger.by_state("sent") if r.purpose == "answer"]
    # As if the process died after Twilio took the message, before the ledger heard of it.
    await _rewrite(rig.ledger, row.notification_id, state=DeliveryState.SENDING, provider_message_id=None)
    await rig.inbound.on_provider_event(reply)  # type: ignore[arg-type]  # the reply is read again
    await rig.dispatcher.recover()  # sending -> ambiguous
    await rig.dispatcher.send_due()  # looked up at the provider: found, settled, not resent
    assert len(texts(fake_providers)) == 2
    settled = await rig.ledger.get(row.notification_id)
    assert settled is not None and settled.state == "sent" and settled.provider_message_id is not None


async def test_the_honest_answer_limit_survives_a_restart(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(stockout("inc-restart"))
    await rig.inbound.on_provider_event(inbound("I'm driving, I'll get back to you", "SMauto0"))  # type: ignore[arg-type]
    assert len(texts(fake_providers)) == 2

    dispatcher = await rig.restarted(rig.dispatcher.settings)
    restarted = Inbound(ledger=rig.ledger, profiles=rig.profiles,
                        answers=dispatcher.answers, settings=dispatcher.settings, clock=rig.clock,
                        emit_customer=rig._emit, emit_notification=rig._emit, emit_action=rig._emit)
    later = inbound("I'm driving, I'll get back to you", "SMauto1")
    later = later.model_copy(update={"data": later.data.model_copy(update={  # type: ignore[attr-defined]
        "received_at": NOON_NY + timedelta(hours=1)})})
    try:
        await restarted.on_provider_event(later)  # type: ignore[arg-type]
    finally:
        await dispatcher.providers.close()
    assert len(rig.outcomes("customer.replied")) == 2  # a person sees every one
    assert len(texts(fake_providers)) == 2  # the offer and one answer


async def _rewrite(ledger: Ledger, nid: str, **fields: object) -> None:
    """Set a row's columns as a past the test stages would have left them (no move of the state machine)."""
    async with ledger.sessions() as session:
        await session.execute(update(Delivery).where(Delivery.notification_id == nid).values(**fields))
        await session.commit()
