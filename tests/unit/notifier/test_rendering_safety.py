"""Hostile customer data is data: literal in text, escaped in HTML, flattened in one-line fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError

from services.notifier.rendering import IncidentFacts, MessageContext, render
from services.notifier.rendering.environment import _BIDI, _BREAKS, environment, flatten
from services.notifier.rendering.examples import INCIDENT_KINDS, example_context
from services.notifier.rendering.render import MAX_SMS_SEGMENTS

pytestmark = pytest.mark.unit


def _with(kind: str, locale: str = "en", *, first_name: str | None = None, **facts: Any) -> MessageContext:
    ctx = example_context(kind, locale)  # type: ignore[arg-type]
    item = ctx.incidents[0]
    item = item.model_copy(update={"facts": IncidentFacts.model_validate({**item.facts.model_dump(), **facts})})
    update: dict[str, Any] = {"incidents": (item,)}
    if first_name is not None:
        update["customer_first_name"] = first_name
    return ctx.model_copy(update=update)


@pytest.mark.parametrize(
    "payload", ["{{7*7}}", "{% raw %}x{% endraw %}", "{{ self.__init__.__globals__ }}", "{%- if true %}"]
)
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_template_syntax_in_data_renders_literally(payload: str, channel: str) -> None:
    ctx = _with("return_rejected", first_name=payload, product_name=payload, reason_text=payload)
    message = render(ctx, channel)  # type: ignore[arg-type]
    assert payload in message.text
    if message.html is not None:
        assert payload.replace('"', "&#34;") in message.html
    assert "49" not in message.text


def test_script_is_escaped_in_html_and_literal_in_text() -> None:
    script = "<script>alert(1)</script>"
    ctx = _with("stockout", first_name=script, product_name=script)
    ctx = ctx.model_copy(update={"store_name": script})
    message = render(ctx, "email")
    assert message.html is not None
    assert "<script" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert script in message.text
    assert message.subject is not None and script in message.subject


@pytest.mark.parametrize("locale", ["en", "de", "es"])
@pytest.mark.parametrize("kind", INCIDENT_KINDS)
def test_script_in_every_field_is_escaped_in_every_html_template(kind: str, locale: str) -> None:
    script = "<b onmouseover=x>"
    ctx = _with(
        kind,
        locale,
        first_name=script,
        product_name=script,
        reason_text=script,
        carrier=script,
        refund_method=script,
        tracking_number=script,
    )
    html = render(ctx, "email").html
    assert html is not None
    assert "<b onmouseover" not in html
    assert "&lt;b onmouseover=x&gt;" in html


def test_quotes_in_a_link_are_refused_and_escaped_if_they_get_through() -> None:
    hostile = 'https://acme.example/pay?x="><script>'
    assert _with("false_decline", retry_url=hostile).incidents[0].facts.retry_url is None
    # Even past validation (model_copy does not validate), autoescape keeps the attribute closed.
    ctx = example_context("false_decline", "en")
    item = ctx.incidents[0]
    item = item.model_copy(update={"facts": item.facts.model_copy(update={"retry_url": hostile})})
    html = render(ctx.model_copy(update={"incidents": (item,)}), "email").html or ""
    assert "<script>" not in html
    assert 'href="https://acme.example/pay?x=&#34;&gt;&lt;script&gt;"' in html


def test_non_web_links_are_dropped() -> None:
    ctx = _with("false_decline", retry_url="javascript:alert(1)", tracking_url="data:text/html,x")
    assert ctx.incidents[0].facts.retry_url is None
    message = render(ctx, "email")
    assert "javascript:" not in (message.html or "") and "javascript:" not in message.text


CRLF = "ok\r\nBcc: x@example.com"


@pytest.mark.parametrize("kind", ["return_rejected", "stockout", "not_shipped"])
def test_crlf_is_flattened_in_sms_and_subject(kind: str) -> None:
    ctx = _with(kind, first_name=CRLF, product_name=CRLF, reason_text=CRLF)
    sms = render(ctx, "sms").text
    email = render(ctx, "email")
    assert "\r" not in sms and "\n" not in sms
    assert email.subject is not None
    assert "\r" not in email.subject and "\n" not in email.subject
    assert "ok Bcc: x@example.com" in sms
    for line in email.text.splitlines():
        assert not line.startswith("Bcc:")


def test_other_line_breaks_and_bidi_overrides_are_flattened() -> None:
    ctx = _with("stockout", first_name="Ana\u2028Bcc:\u0085x\x0bY\u202eevil")
    sms = render(ctx, "sms").text
    assert "\u2028" not in sms and "\u0085" not in sms and "\x0b" not in sms and "\u202e" not in sms


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    template = environment().from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        template.render()


def test_the_sandbox_is_immutable() -> None:
    template = environment().from_string("{% set xs = [1] %}{{ xs.append(2) }}")
    with pytest.raises(SecurityError):
        template.render()


def test_huge_values_are_left_out_whole_never_cut_and_the_facts_stay() -> None:
    ctx = _with("return_rejected", first_name="N" * 500, product_name="P " * 300, reason_text="R" * 900)
    ctx = ctx.model_copy(update={"store_name": "Super " * 80})
    message = render(ctx, "sms")
    assert message.segments is not None and message.segments.segments <= MAX_SMS_SEGMENTS
    assert "..." not in message.text
    assert "+1 415 555 0100" in message.text[-40:]
    assert "#1001" in message.text and "couldn't accept the return" in message.text
    assert "N" not in message.text.replace("Nov", "") and "R" * 2 not in message.text  # whole or not at all
    assert message.text.startswith("Super Super Super:")  # the store's name by whole words


def test_a_product_name_is_shortened_by_whole_words() -> None:
    long_name = "Ultra Lightweight Waterproof Breathable Trail Running Shoe for Men and Women Size 44 Extra Wide"
    ctx = _with("eta_slipped", "en", product_name=long_name)
    message = render(ctx, "sms")
    assert message.segments is not None and message.segments.segments <= MAX_SMS_SEGMENTS
    assert "..." not in message.text and "#1001" in message.text and "Nov 28, 2026" in message.text
    shown = [w for w in long_name.split() if f" {w} " in f" {message.text} "]
    assert shown and long_name.startswith(" ".join(shown[:3]))


def test_a_monstrous_support_contact_is_left_out_not_cut() -> None:
    ctx = example_context("stockout", "en").model_copy(update={"support_phone": "+1 " + "5" * 600})
    message = render(ctx, "sms")
    assert message.segments is not None and message.segments.segments <= MAX_SMS_SEGMENTS
    assert "555" not in message.text and "..." not in message.text
    assert "Dec 2, 2026" in message.text and "#1001" in message.text


def test_ucs2_data_fits_two_segments_by_leaving_names_out() -> None:
    ctx = _with("stockout", first_name="Ωμέγα", product_name="商品" * 80)
    ctx = ctx.model_copy(update={"store_name": "店舗"})
    message = render(ctx, "sms")
    assert message.segments is not None
    assert message.segments.encoding == "UCS-2"
    assert message.segments.segments <= MAX_SMS_SEGMENTS
    assert "商品" not in message.text and "Ωμέγα" not in message.text
    assert "Dec 2, 2026" in message.text and "#1001" in message.text


def test_look_alikes_keep_an_sms_in_gsm7_for_maria_and_zoe() -> None:
    for name in ("María", "Zoë"):
        message = render(_with("stockout", "es", first_name=name), "sms")
        assert message.segments is not None and message.segments.encoding == "GSM-7", message.text
        assert name.replace("í", "i").replace("ë", "e") in message.text
    email = render(_with("stockout", "es", first_name="María"), "email")
    assert "María" in email.text  # email keeps every character


hostile = st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["{{7*7}}", "<script>", CRLF, "€" * 200, "😀" * 100, "á" * 300]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(INCIDENT_KINDS),
    locale=st.sampled_from(["en", "de", "es"]),
    first_name=hostile,
    product=hostile,
    reason=hostile,
)
def test_any_data_renders_within_limits(kind: str, locale: str, first_name: str, product: str, reason: str) -> None:
    ctx = _with(kind, locale, first_name=first_name, product_name=product or None, reason_text=reason or None)
    sms = render(ctx, "sms")
    assert sms.segments is not None and 1 <= sms.segments.segments <= MAX_SMS_SEGMENTS
    assert "\n" not in sms.text and "\r" not in sms.text
    email = render(ctx, "email")
    assert email.subject is not None and "\n" not in email.subject and "\r" not in email.subject
    assert "<script>" not in (email.html or "")


def test_facts_model_ignores_unknown_keys_and_maps_unknown_exception_reasons() -> None:
    facts = IncidentFacts.model_validate({"exception_reason": "alien_abduction", "surprise": 1})
    assert facts.exception_reason == "other"


_EVERY_FLATTENED = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x200E, 0x200F,
                                            *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_EVERY_FLATTENED)), max_size=60))
def test_flatten_leaves_text_as_the_patterns_would(text: str) -> None:
    assert flatten(text) == _BIDI.sub("", _BREAKS.sub(" ", text))  # the shortcut for printable text changes nothing


@pytest.mark.parametrize("char", list(_EVERY_FLATTENED))
def test_flatten_takes_out_each_break_control_and_bidi_character(char: str) -> None:
    assert char not in flatten(f"a{char}b")
