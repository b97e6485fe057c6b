"""A follow-up reads as one: it keeps the promise, says what changed or that nothing has yet, and promises again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifier.policy import PROMISE_SPANS
from services.notifier.rendering import IncidentItem, MessageContext, StoreInfo, render

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
NEXT = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday
STORE = StoreInfo(name="Acme Outfitters", support_phone="+1 415 555 0100", support_email="help@acme.example")
# What each language's opening says: (sms without news, sms with news, email without news, email with news).
OPENINGS = {
    "en": ("nothing has changed yet", "update on what changed", "Nothing has changed since our last message",
           "there's news about your order"),
    "de": ("Es gibt noch nichts Neues", "mit Neuigkeiten", "noch nichts geändert", "es gibt Neuigkeiten"),
    "es": ("por ahora no hay novedades", "te contamos las novedades", "todavía no ha cambiado nada",
           "hay novedades sobre tu pedido"),
}
# The promise as each language words it, Thursday in the customer's zone.
THURSDAY = {"en": "Thu", "de": "Do", "es": "jue"}


def context(kind: str, locale: str, *, follow_up: int, news: bool, next_update_at: datetime | None,
            name: str = "María") -> MessageContext:
    item = IncidentItem(kind=kind, incident_id=f"inc-{kind}", detected_at=AT,  # type: ignore[arg-type]
                        facts={"product_name": "Trail Runner Pro", "promised_ship_by": AT})  # type: ignore[arg-type]
    return MessageContext(customer_first_name=name, locale=locale, timezone="America/New_York",
                          store_name=STORE.name, support_phone=STORE.support_phone,
                          support_email=STORE.support_email, order_id="ord-1", order_number="#1001",
                          incidents=(item,), follow_up=follow_up, news=news, next_update_at=next_update_at)


@pytest.mark.parametrize("locale", sorted(OPENINGS))
@pytest.mark.parametrize("kind", sorted(PROMISE_SPANS))
@pytest.mark.parametrize("news", [False, True])
def test_a_follow_up_says_what_changed_or_that_nothing_has_and_promises_again(
    kind: str, locale: str, news: bool,
) -> None:
    sms_news, sms_none, mail_news, mail_none = (OPENINGS[locale][1], OPENINGS[locale][0], OPENINGS[locale][3],
                                                OPENINGS[locale][2])
    ctx = context(kind, locale, follow_up=1, news=news, next_update_at=NEXT, name="Ana")
    sms = render(ctx, "sms")
    assert (sms_news if news else sms_none) in sms.text, sms.text
    assert sms.segments is not None and sms.segments.segments <= 2, sms.text
    assert THURSDAY[locale] in sms.text, sms.text
    email = render(ctx, "email")
    assert (mail_news if news else mail_none) in email.text
    assert email.html is not None and (mail_news if news else mail_none) in email.html.replace("&#39;", "'")
    assert THURSDAY[locale] in email.text
    assert email.subject is not None and email.subject != render(ctx.model_copy(update={"follow_up": 0}),
                                                                 "email").subject


@pytest.mark.parametrize("locale", sorted(OPENINGS))
def test_the_last_follow_up_promises_nothing_and_a_first_message_opens_no_follow_up(locale: str) -> None:
    last = render(context("not_shipped", locale, follow_up=2, news=False, next_update_at=None), "sms")
    assert OPENINGS[locale][0] in last.text and THURSDAY[locale] not in last.text
    first = render(context("not_shipped", locale, follow_up=0, news=False, next_update_at=NEXT), "sms")
    assert not any(opening in first.text for opening in OPENINGS[locale])
