"""Render one message (SMS or email) from a MessageContext; pure, no sending."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import Template

from .context import MessageContext
from .environment import environment, flatten
from .locales import format_locale, template_locale
from .segments import SegmentInfo, count_segments, gsm7_friendly

__all__ = ["MAX_SMS_SEGMENTS", "Channel", "RenderedMessage", "fit_segments", "one_line", "render"]

Channel = Literal["sms", "email"]
MAX_SMS_SEGMENTS = 2
ELLIPSIS = "..."

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
    form: Literal["normal", "short", "truncated"] = "normal"


def render(ctx: MessageContext, channel: Channel) -> RenderedMessage:
    """Render the message for `channel` in the customer's language (fallback "en")."""
    language = template_locale(ctx.locale)
    variables = _variables(ctx, language, channel)
    kinds = tuple(dict.fromkeys(f"{language}/kinds/{item.kind}.j2" for item in ctx.ordered))
    support = (f"{language}/common.j2", *kinds)
    if channel == "sms":
        return _render_sms(language, variables, support)
    return _render_email(language, variables, support)


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
    }


def _layout(language: str, name: str) -> Template:
    """A layout, the language's own when it has one, else the shared one."""
    env = environment(html=name.endswith(".html.j2"))
    return env.select_template([f"{language}/{name}", name])


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
    return gsm7_friendly(one_line(template.render(variables)))


def _render_sms(language: str, variables: dict[str, Any], support: tuple[str, ...]) -> RenderedMessage:
    normal_t = _layout(language, "sms.j2")
    normal = _sms_text(normal_t, variables)
    normal_info = count_segments(normal)

    def done(text: str, info: SegmentInfo, template: Template, form: Any) -> RenderedMessage:
        return RenderedMessage(
            channel="sms",
            locale=language,
            text=text,
            segments=info,
            templates=(str(template.name), *support),
            form=form,
        )

    if normal_info.segments <= 1:
        return done(normal, normal_info, normal_t, "normal")
    short_t = _layout(language, "sms_short.j2")
    short = _sms_text(short_t, variables)
    short_info = count_segments(short)
    if short_info.segments <= 1:
        return done(short, short_info, short_t, "short")
    if normal_info.segments <= MAX_SMS_SEGMENTS:
        return done(normal, normal_info, normal_t, "normal")
    if short_info.segments <= MAX_SMS_SEGMENTS:
        return done(short, short_info, short_t, "short")
    common = environment().get_template(f"{language}/common.j2").make_module(variables)
    hint = gsm7_friendly(one_line(str(getattr(common, "support_short")())))  # noqa: B009 (a template macro)
    fitted = fit_segments(short, hint, MAX_SMS_SEGMENTS)
    return done(fitted, count_segments(fitted), short_t, "truncated")


def fit_segments(text: str, hint: str, limit: int) -> str:
    """Cut `text` to `limit` segments: shorten the body before `hint`, keep `hint` whole."""
    if count_segments(text).segments <= limit:
        return text
    body = text[: -len(hint)].rstrip() if hint and text.endswith(hint) else text
    if count_segments(hint).segments > limit or len(hint) >= len(text):
        body, hint = text, ""
    low, high, best = 0, len(body), ""
    while low <= high:
        middle = (low + high) // 2
        candidate = _joined(_cut(body, middle), hint)
        if count_segments(candidate).segments <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _cut(body: str, length: int) -> str:
    if length >= len(body):
        return body
    head = body[:length]
    space = head.rfind(" ")
    if space >= length - 15 and space > 0:
        head = head[:space]
    return head.rstrip(" ,;:-") + ELLIPSIS if head.strip() else ""


def _joined(body: str, hint: str) -> str:
    return " ".join(part for part in (body, hint) if part)


def _render_email(language: str, variables: dict[str, Any], support: tuple[str, ...]) -> RenderedMessage:
    subject_t = _layout(language, "email.subject.j2")
    text_t = _layout(language, "email.txt.j2")
    html_t = _layout(language, "email.html.j2")
    subject_vars = {**variables, "date_format": "medium"}
    return RenderedMessage(
        channel="email",
        locale=language,
        subject=one_line(subject_t.render(subject_vars)),
        text=_tidy_text(text_t.render(variables)),
        html=html_t.render(variables).strip() + "\n",
        templates=(str(subject_t.name), str(text_t.name), str(html_t.name), *support),
    )
