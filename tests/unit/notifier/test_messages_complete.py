"""Every message is complete for any name in any script: no SMS is cut, every one keeps its facts.

Names and product names are drawn from many scripts (Latin with accents, Greek, Cyrillic, CJK,
Arabic, emoji) for every kind in every language. Each SMS must be whole (no "..." and no word cut
off), fit two segments, name the store's order number and carry the kind's facts: the new date
where one is known, the link the customer acts on, the reason or amount that is the news. Each
email must have its HTML and text parts, the one-click unsubscribe headers and a Reply-To.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifier.providers import compose_email
from services.notifier.rendering import IncidentFacts, MessageContext, render
from services.notifier.rendering.environment import environment
from services.notifier.rendering.examples import EXAMPLE_LOCALES, INCIDENT_KINDS, example_context
from services.notifier.rendering.locales import template_locale
from services.notifier.rendering.render import MAX_SMS_SEGMENTS
from services.notifier.rendering.segments import sms_lookalikes

pytestmark = pytest.mark.unit

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "accents": "áéíóúàèìòùâêîôûäëïöüÿñçãõåæøœßÁÉÍÓÚÄËÏÖÜÑÇŁłŠšŽžĆćČčĐđŐőŰűŞşĞğİı",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ",
    "cjk": "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢"
    "蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚あいうえおカキクケコ한국어",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "emoji": "😀🎉👟🧦🎁🌟❤️🔥👍🏽",
}


def _word(script: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=SCRIPTS[script], min_size=1, max_size=14)


words = st.sampled_from(list(SCRIPTS)).flatmap(_word)
names = st.lists(words, min_size=1, max_size=2).map(" ".join) | st.sampled_from(
    ["María", "Zoë", "Ærøskøbing", "Ελένη", "Светлана", "王小明", "محمد", "Ana 🎉", "Nguyễn Thị Minh Khai"]
)
products = st.lists(words, min_size=1, max_size=9).map(" ".join) | st.sampled_from(
    [
        "Trail Runner Pro",
        "Ultra-Lightweight Waterproof Breathable Trail Running Shoe for Men and Women, Size 44",
        "Zoë's “Classic” Wool Socks – 3 Pack",
        "Café Crème Espresso Cups (set of 6) 🎁",
        "超轻防水透气越野跑鞋男女款",
        "Кроссовки для бега по пересечённой местности",
    ]
)

# What happened, per kind and language: a message without these words does not say it.
WHAT = {
    "en": {
        "not_shipped": r"hasn't shipped|late to ship",
        "tracking_stalled": r"tracking",
        "delivery_exception": r"bad weather|weather",
        "eta_slipped": r"running late|won't arrive",
        "not_delivered": r"hasn't arrived|should have arrived",
        "stockout": r"out of stock",
        "backordered": r"backorder",
        "false_decline": r"payment",
        "refund_overdue": r"refund",
        "return_received": r"received",
        "refund_issued": r"refunded",
        "return_rejected": r"couldn't accept",
        "return_stalled": r"return",
        "return_window_exceeded": r"return period",
    },
    "de": {
        "not_shipped": r"Versand|versandt|verschickt",
        "tracking_stalled": r"Sendungs",
        "delivery_exception": r"Wetter",
        "eta_slipped": r"verspätet|später|kommt nicht",
        "not_delivered": r"nicht angekommen|noch nicht da",
        "stockout": r"nicht vorrätig|ausverkauft",
        "backordered": r"nachbestellt|Nachlieferung",
        "false_decline": r"Zahlung",
        "refund_overdue": r"Erstattung",
        "return_received": r"angekommen|erhalten",
        "refund_issued": r"erstattet",
        "return_rejected": r"nicht annehmen",
        "return_stalled": r"Rücksendung",
        "return_window_exceeded": r"Rückgabefrist",
    },
    "es": {
        "not_shipped": r"envi|envío",
        "tracking_stalled": r"seguimiento",
        "delivery_exception": r"mal tiempo|tiempo",
        "eta_slipped": r"retras|no llegará",
        "not_delivered": r"sin llegar|no ha llegado|debería haber llegado",
        "stockout": r"existencias|agotado",
        "backordered": r"retras|reponer|pendiente",
        "false_decline": r"pago",
        "refund_overdue": r"reembolso",
        "return_received": r"devuelto|devolución|devolucion|devolviste",
        "refund_issued": r"devuelto|reembolsado",
        "return_rejected": r"no hemos podido aceptar",
        "return_stalled": r"devoluci|devuelto",
        "return_window_exceeded": r"plazo",
    },
}
SHIPPING = {"tracking_stalled", "delivery_exception", "eta_slipped", "not_delivered"}
ORDER_NUMBER = "#1001"
EXAMPLES = int(os.environ.get("FOREWARN_RENDER_EXAMPLES", "150"))


def _with(kind: str, locale: str, first_name: str, product: str) -> MessageContext:
    ctx = example_context(kind, locale)  # type: ignore[arg-type]
    item = ctx.incidents[0]
    facts = IncidentFacts.model_validate({**item.facts.model_dump(), "product_name": product})
    item = item.model_copy(update={"facts": facts})
    return ctx.model_copy(update={"customer_first_name": first_name, "incidents": (item,)})


def _sms_date(value: datetime | date, ctx: MessageContext, fmt: str = "medium") -> str:
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(ctx.timezone)).date()
    return sms_lookalikes(format_date(value, fmt, locale=ctx.locale))


def _facts(kind: str, ctx: MessageContext) -> list[str]:
    """The facts of `kind` an SMS must carry, as they appear in it."""
    f = ctx.incidents[0].facts
    must = [ORDER_NUMBER]
    for when in (f.new_estimated_delivery, f.restock_eta):
        if when is not None and kind not in {"refund_overdue", "return_received", "refund_issued"}:
            must.append(_sms_date(when, ctx))
            break
    if kind in {"refund_overdue", "return_received"} and f.refund_expected_by is not None:
        must.append(_sms_date(f.refund_expected_by, ctx))
    if kind == "refund_issued" and f.refund_amount is not None:
        money = format_currency(f.refund_amount.amount, f.refund_amount.currency, locale=ctx.locale)
        must.append(sms_lookalikes(money))
    if kind in SHIPPING and f.tracking_url:
        must.append(f.tracking_url)
    for link in (f.retry_url, f.label_url):
        if link:
            must.append(link)
    if kind == "return_rejected" and f.reason_text:
        must.append(sms_lookalikes(f.reason_text))
    return must


def _no_cut_words(text: str, product: str) -> None:
    assert "..." not in text, text
    for match in re.finditer("…", text):
        head = text[: match.start()]
        shortened = [" ".join(product.split()[:n]) for n in range(1, len(product.split()))]
        assert any(sms_lookalikes(s) and head.endswith(sms_lookalikes(s)) for s in shortened), text


# Where a message stands in its conversation: a first message or a follow-up (with news or not),
# promising the next update or not.
PROMISED = datetime(2026, 3, 6, 10, 0, tzinfo=ZoneInfo("UTC"))
turns = st.tuples(st.integers(min_value=0, max_value=2), st.booleans(), st.booleans())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(INCIDENT_KINDS), locale=st.sampled_from(EXAMPLE_LOCALES), name=names, product=products,
       turn=turns)
def test_every_sms_is_complete_within_two_segments_and_keeps_its_facts(
    kind: str, locale: str, name: str, product: str, turn: tuple[int, bool, bool]
) -> None:
    follow_up, news, promise = turn
    ctx = _with(kind, locale, name, product)
    ctx = ctx.model_copy(update={"follow_up": follow_up, "news": news and follow_up > 0,
                                 "next_update_at": PROMISED if promise else None})
    sms = render(ctx, "sms")
    assert sms.segments is not None and 1 <= sms.segments.segments <= MAX_SMS_SEGMENTS, (sms.segments, sms.text)
    _no_cut_words(sms.text, product)
    for fact in _facts(kind, ctx):
        assert fact in sms.text, (fact, sms.text)
    assert re.search(WHAT[locale][kind], sms.text, re.I), sms.text
    assert "Acme" in sms.text
    # The numbered choices are the action: a reply "2" is understood only when the SMS as sent offered it.
    lead = ctx.incidents[0]
    if lead.offered_choices:
        offers = environment().get_template(f"{template_locale(locale)}/choices.j2").module
        wordings = {sms_lookalikes(str(offers.numbered(lead))), sms_lookalikes(str(offers.numbered_short(lead)))}  # type: ignore[attr-defined]
        assert any(wording in sms.text for wording in wordings), (wordings, sms.text)


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(INCIDENT_KINDS), locale=st.sampled_from(EXAMPLE_LOCALES), name=names, product=products)
def test_every_email_is_whole_with_unsubscribe_headers_and_reply_to(
    kind: str, locale: str, name: str, product: str
) -> None:
    ctx = _with(kind, locale, name, product)
    rendered = render(ctx, "email")
    mail = compose_email(
        "n-1", "ana@example.com", rendered, unsubscribe_url="https://acme.example/u/abc123",
        reply_to="help@acme.example",
    )
    assert mail.text.strip() and mail.html and mail.html.startswith("<!DOCTYPE html>")
    assert mail.headers["List-Unsubscribe"].endswith("<https://acme.example/u/abc123>")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.reply_to == "help@acme.example"
    assert ORDER_NUMBER in mail.text and ORDER_NUMBER in mail.subject + mail.text
    assert product in mail.text  # emails are never shortened
    assert "..." not in mail.text
    assert re.search(WHAT[locale][kind], mail.text, re.I), mail.text


def _examples() -> list[tuple[str, str, dict[str, Any]]]:
    return [(k, loc, {}) for loc in EXAMPLE_LOCALES for k in INCIDENT_KINDS]


@pytest.mark.parametrize(("kind", "locale", "_extra"), _examples())
def test_the_example_sms_keeps_every_fact_and_names_the_product(kind: str, locale: str, _extra: dict[str, Any]) -> None:
    ctx = example_context(kind, locale)  # type: ignore[arg-type]
    sms = render(ctx, "sms")
    for fact in _facts(kind, ctx):
        assert fact in sms.text, (fact, sms.text)
    assert sms.segments is not None and sms.segments.encoding == "GSM-7"
