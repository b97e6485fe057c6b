"""Render one message (SMS or email) from a MessageContext; pure, no sending."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from jinja2 import Template

from .context import MessageContext
from .environment import environment, flatten, rendering
from .locales import format_locale, template_locale
from .segments import SegmentInfo, count_segments, gsm7_friendly, is_gsm7, sms_lookalikes

__all__ = [
    "MAX_SMS_SEGMENTS",
    "SMS_VARIANTS",
    "Channel",
    "Form",
    "RenderedMessage",
    "one_line",
    "render",
    "sms_variants",
]

logger = logging.getLogger(__name__)

Channel = Literal["sms", "email"]
Form = Literal["full", "short", "minimal"]
MAX_SMS_SEGMENTS = 2
# The complete SMS variants, most words first; each says everything the kind must say.
SMS_VARIANTS: tuple[tuple[Form, str], ...] = (
    ("full", "sms.j2"),
    ("short", "sms_short.j2"),
    ("minimal", "sms_minimal.j2"),
)

_SPACE_BEFORE_MARK = re.compile(r"[ \t]+([.,;:!?)])")
_SPACE_AFTER_OPEN = re.compile(r"([(¿¡])[ \t]+")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message as the customer will see it, with the templates it came from."""

    channel: Channel
    locale: str
    text: str
    subject: str | None = None
    html: str | None = None
    segments: SegmentInfo | None = None
    templates: tuple[str, ...] = ()
    form: Form = "full"


def render(ctx: MessageContext, channel: Channel) -> RenderedMessage:
    """Render the message for `channel` in the customer's language (fallback "en")."""
    language = template_locale(ctx.locale)
    kinds = tuple(dict.fromkeys(f"{language}/kinds/{item.kind}.j2" for item in ctx.ordered))
    support = (f"{language}/common.j2", *kinds)
    if channel == "sms":
        return _render_sms(ctx, language, support)
    return _render_email(language, _variables(ctx, language, channel), support)


def sms_variants(ctx: MessageContext) -> tuple[RenderedMessage, ...]:
    """Every SMS variant (full, short, minimal) with nothing shortened, for review (the gallery)."""
    language = template_locale(ctx.locale)
    kinds = tuple(dict.fromkeys(f"{language}/kinds/{item.kind}.j2" for item in ctx.ordered))
    variables = _variables(ctx, language, "sms")
    out = []
    for form, name in SMS_VARIANTS:
        template = _layout(language, name)
        text = _sms_text(template, variables)
        out.append(RenderedMessage(
            channel="sms", locale=language, text=text, segments=count_segments(text),
            templates=(str(template.name), f"{language}/common.j2", *kinds), form=form,
        ))
    return tuple(out)


def _variables(ctx: MessageContext, language: str, channel: Channel) -> dict[str, Any]:
    return {
        "channel": channel,
        "locale": language,
        "format_locale": format_locale(ctx.locale, language),
        "timezone": ctx.timezone,
        "date_format": "medium" if channel == "sms" else "long",
        "first_name": ctx.customer_first_name,
        "store_name": ctx.store_name,
        "support_phone": ctx.support_phone,
        "support_email": ctx.support_email,
        "help_url": ctx.help_url,
        "reply_reaches_person": ctx.reply_reaches_person,
        "order_number": ctx.order_label,
        "lead": ctx.lead,
        "others": ctx.others,
        "incidents": ctx.ordered,
        "escalated": ctx.escalated,
        "unsubscribe_url": ctx.unsubscribe_url,
        "choice_urls": ctx.choice_urls,
        "next_update_at": ctx.next_update_at,
        "follow_up": ctx.follow_up,
        "news": ctx.news,
        "variety": ctx.variety,
    }


@cache
def _layout(language: str, name: str) -> Template:
    """A layout, the language's own when it has one, else the shared one (templates are read once: the
    environment does not reload them)."""
    env = environment(html=name.endswith(".html.j2"))
    return env.select_template([f"{language}/{name}", name])


def _render(template: Template, variables: dict[str, Any]) -> str:
    """`template` rendered with `variables`, its phrase modules bound to them (see `environment.rendering`)."""
    with rendering(variables):
        return template.render(variables)


def one_line(text: str) -> str:
    """Collapse all whitespace (line breaks included) to single spaces."""
    return _marks(" ".join(flatten(text).split()))


def _marks(text: str) -> str:
    """Drop the space an empty optional piece leaves before a mark or after an opening one."""
    return _SPACE_AFTER_OPEN.sub(r"\1", _SPACE_BEFORE_MARK.sub(r"\1", text))


def _tidy_text(text: str) -> str:
    lines = [_marks(_SPACES.sub(" ", line)).strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


def _sms_text(template: Template, variables: dict[str, Any]) -> str:
    """One line, typographic marks made plain, and look-alikes swapped in when that keeps it GSM-7."""
    text = gsm7_friendly(one_line(_render(template, variables)))
    plain = sms_lookalikes(text)
    return plain if is_gsm7(plain) else text


def _words(text: str | None, limit: int) -> str | None:
    """The leading whole words of `text` that fit in `limit` characters; None when not even one does."""
    if not text:
        return text
    kept = ""
    for word in flatten(text).split():
        candidate = f"{kept} {word}" if kept else word
        if len(candidate) > limit:
            break
        kept = candidate
    return kept.rstrip(" ,;:-–—(") or None


def _with_facts(ctx: MessageContext, **changes: Any) -> MessageContext:
    """The context with `changes` applied to the facts of every incident (for SMS shortening)."""
    items = []
    for item in ctx.incidents:
        update = {key: change(getattr(item.facts, key)) for key, change in changes.items()}
        items.append(item.model_copy(update={"facts": item.facts.model_copy(update=update)}))
    return ctx.model_copy(update={"incidents": tuple(items)})


def _shortenings(ctx: MessageContext) -> Iterator[MessageContext]:
    """The context as it is, then with less and less of what is not a fact.

    Product names first (whole words, then none: the order number stands in), then the
    customer's name, the promise of the next update, the store's name (whole words), a support
    contact too long to be useful, and last a store's reason text (whole words). The facts of
    the kind (what happened, dates, amounts, links) are never shortened; last of all the
    support hint goes.
    """
    steps: list[Callable[[MessageContext], MessageContext]] = [
        lambda c: _with_facts(c, product_name=lambda p: _words(p, 32)),
        lambda c: _with_facts(c, product_name=lambda p: _words(p, 20)),
        lambda c: _with_facts(c, product_name=lambda _p: None),
        lambda c: c.model_copy(update={"customer_first_name": ""}),
        lambda c: c.model_copy(update={"next_update_at": None}),
        lambda c: c.model_copy(update={"store_name": _words(c.store_name, 20) or c.store_name}),
        lambda c: c.model_copy(update={
            key: None for key in ("support_phone", "support_email", "help_url") if len(getattr(c, key) or "") > 40
        }),
        lambda c: _with_facts(c, reason_text=lambda r: _words(r, 60)),
        lambda c: _with_facts(c, reason_text=lambda _r: None),
        lambda c: c.model_copy(update={"reply_reaches_person": False}),  # a reply still reaches the store
        lambda c: c.model_copy(update={"support_phone": None, "support_email": None, "help_url": None}),
    ]
    yield ctx
    for step in steps:
        shorter = step(ctx)
        if shorter != ctx:
            ctx = shorter
            yield ctx


def _render_sms(ctx: MessageContext, language: str, support: tuple[str, ...]) -> RenderedMessage:
    """The first complete variant that fits: one segment with everything if it can, else two.

    Full or short in one segment first, then full, short or minimal in two; only when none fits
    two segments are the names shortened (see `_shortenings`). Nothing is ever cut: should even
    the barest message not fit (a link longer than two segments), it goes out whole in more.
    """
    fallback: RenderedMessage | None = None
    for step, shaped in enumerate(_shortenings(ctx)):
        variables = _variables(shaped, language, "sms")
        texts: dict[str, tuple[str, SegmentInfo, Template]] = {}
        for limit in (1, MAX_SMS_SEGMENTS) if step == 0 else (MAX_SMS_SEGMENTS,):
            for form, name in SMS_VARIANTS:
                if limit == 1 and form == "minimal":
                    continue  # the customer's name and greeting are worth a second segment
                if form not in texts:
                    template = _layout(language, name)
                    text = _sms_text(template, variables)
                    texts[form] = (text, count_segments(text), template)
                text, info, template = texts[form]
                message = RenderedMessage(
                    channel="sms", locale=language, text=text, segments=info,
                    templates=(str(template.name), *support), form=form,
                )
                if info.segments <= limit:
                    return message
                if fallback is None or fallback.segments is None or _size(info) < _size(fallback.segments):
                    fallback = message
    if fallback is None:  # pragma: no cover (the loop renders at least once)
        raise AssertionError("no SMS variant rendered")
    logger.warning("an SMS needs more than %d segments even in its barest form", MAX_SMS_SEGMENTS)
    return fallback


def _size(info: SegmentInfo) -> tuple[int, int]:
    return info.segments, info.units


def _render_email(language: str, variables: dict[str, Any], support: tuple[str, ...]) -> RenderedMessage:
    subject_t = _layout(language, "email.subject.j2")
    text_t = _layout(language, "email.txt.j2")
    html_t = _layout(language, "email.html.j2")
    subject_vars = {**variables, "date_format": "medium"}
    return RenderedMessage(
        channel="email",
        locale=language,
        subject=one_line(_render(subject_t, subject_vars)),
        text=_tidy_text(_render(text_t, variables)),
        html=_render(html_t, variables).strip() + "\n",
        templates=(str(subject_t.name), str(text_t.name), str(html_t.name), *support),
    )
