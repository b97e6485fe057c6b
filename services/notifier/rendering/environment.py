"""The sandboxed Jinja2 environment and the locale-aware filters templates use."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency
from jinja2 import FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from .locales import TEMPLATES_DIR

__all__ = ["capfirst", "environment", "flatten", "is_html_template"]

# Line breaks, other C0/C1 controls and Unicode line/paragraph separators in data become one
# space: a name cannot add a line to an SMS or a header to an email.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
# Bidirectional overrides in data could make a link or amount read differently: dropped.
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def is_html_template(name: str | None) -> bool:
    """Autoescape HTML templates only (`*.html.j2`)."""
    return bool(name) and str(name).endswith((".html.j2", ".html"))


def flatten(text: str) -> str:
    """Replace line breaks and control characters by a space and drop bidi overrides."""
    return _BIDI.sub("", _BREAKS.sub(" ", text))


def _finalize(value: Any) -> Any:
    """Every `{{ value }}`: None prints nothing, text is flattened, markup we built is kept."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return flatten(value)
    return value


def _local(context: Context | Mapping[str, Any], value: datetime) -> datetime:
    zone = ZoneInfo(str(context["timezone"]))
    if value.tzinfo is None:  # facts are aware; a naive one is read as UTC
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(zone)


def capfirst(value: Any) -> str:
    """Upper-case the first character only ("your order" -> "Your order"); keeps markup safe."""
    if isinstance(value, Markup):
        markup = value.strip()
        return markup[:1].upper() + markup[1:]  # Markup methods keep it Markup, escaped as it was
    text = "" if value is None else str(value).strip()
    return text[:1].upper() + text[1:]


@pass_context
def _date(context: Context, value: date | datetime | None, format: str | None = None) -> str:
    """A calendar date in the customer's locale, seen from the customer's timezone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(context, value).date()
    return format_date(value, format or str(context["date_format"]), locale=context["format_locale"])


@pass_context
def _day(context: Context, value: datetime | None) -> str:
    """A weekday and date in the customer's locale and timezone ("Fri, Dec 4"; email: "Friday, December 4")."""
    if value is None:
        return ""
    skeleton = "MMMEd" if context["channel"] == "sms" else "MMMMEEEEd"
    return format_skeleton(skeleton, _local(context, value), locale=context["format_locale"])


@pass_context
def _pick(context: Context, options: Sequence[Any]) -> Any:
    """One of equivalent phrasings, chosen by the message's `variety` (stable per incident)."""
    return options[int(context.get("variety", 0)) % len(options)] if options else ""


@pass_context
def _datetime(context: Context, value: datetime | None, format: str = "medium") -> str:
    """A date and time in the customer's locale and timezone."""
    if value is None:
        return ""
    return format_datetime(
        _local(context, value),
        format,
        tzinfo=ZoneInfo(str(context["timezone"])),
        locale=context["format_locale"],
    )


@pass_context
def _money(context: Context, value: Any) -> str:
    """An amount with its currency, as the customer's locale writes it ("12,50 €")."""
    if value is None:
        return ""
    return format_currency(value.amount, value.currency, locale=context["format_locale"])


@cache
def environment(html: bool = False) -> ImmutableSandboxedEnvironment:
    """The sandboxed, strict template environment for text (SMS, subject, plain text) or HTML.

    HTML gets an environment of its own that escapes in *every* template it loads, the shared
    phrase modules included: a macro imported from a module compiled without autoescape would
    come back marked safe in an HTML template, with its customer data unescaped. The text
    environment still escapes a `*.html.j2` template should one be rendered through it.
    """
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=True if html else is_html_template,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.filters.update(date=_date, day=_day, datetime=_datetime, money=_money, capfirst=capfirst, pick=_pick)
    return env
