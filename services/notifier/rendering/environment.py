"""The sandboxed Jinja2 environment and the locale-aware filters templates use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency
from jinja2 import FileSystemLoader, StrictUndefined, Template, meta, pass_context
from jinja2.environment import TemplateModule
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup

from .locales import TEMPLATES_DIR

__all__ = ["capfirst", "environment", "flatten", "is_html_template", "one_message"]

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


_DAYS: dict[tuple[str, date, str], str] = {}
_DAYS_KEPT = 4096


@pass_context
def _day(context: Context, value: datetime | None) -> str:
    """A weekday and date in the customer's locale and timezone ("Fri, Dec 4"; email: "Friday, December 4").

    The skeletons name only the month, the weekday and the day, so the text is a function of the local
    calendar date and the locale: each is formatted once (babel's skeleton matching is slow)."""
    if value is None:
        return ""
    skeleton = "MMMEd" if context["channel"] == "sms" else "MMMMEEEEd"
    local = _local(context, value)
    key = (skeleton, local.date(), str(context["format_locale"]))
    text = _DAYS.get(key)
    if text is None:
        if len(_DAYS) >= _DAYS_KEPT:
            _DAYS.clear()
        text = _DAYS[key] = format_skeleton(skeleton, local, locale=context["format_locale"])
    return text


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


_one_message: ContextVar[dict[tuple[Any, ...], tuple[TemplateModule, dict[str, Any]]] | None] = ContextVar(
    "one_message", default=None)


@contextmanager
def one_message() -> Iterator[None]:
    """Render one message's templates (its layouts and their forms) with their imports shared (see `_Template`)."""
    token = _one_message.set({})
    try:
        yield
    finally:
        _one_message.reset(token)


class _Template(Template):
    """A template whose imports "with context" are built once per message.

    Jinja builds such an import anew at every render (`{% import ... with context %}` is never cached), and
    every SMS layout imports the phrase modules that way: the forms of one message (full, short, minimal)
    would each build the same modules from the same values. Inside `one_message()`, a module built from the
    very same values (the same objects: the key is their identities, and the entry keeps them alive so no
    identity is reused) is built once. The sandbox lets no template change a value, so the module is the same.

    An importer's own imports (modules among the values) count only when the template reads them by that
    name: a kind imports `common.j2` with a context holding the layout's `c`, which `common.j2` never reads,
    so the layout's `c` serves the kind too."""

    def make_module(
        self, vars: dict[str, Any] | None = None, shared: bool = False, locals: Mapping[str, Any] | None = None,
    ) -> TemplateModule:
        memo = _one_message.get()
        if memo is None or vars is None:
            return super().make_module(vars, shared, locals)
        reads = _reads(self)
        values = {**vars, **{k: v for k, v in (locals or {}).items() if v is not missing}}
        key = (self, shared, tuple((k, id(v)) for k, v in values.items()
                                   if reads is None or k in reads or not isinstance(v, TemplateModule)))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (super().make_module(vars, shared, locals), values)
        return hit[0]


_READS: dict[Template, frozenset[str] | None] = {}


def _reads(template: Template) -> frozenset[str] | None:
    """The names a template reads from its context (its undeclared variables); None when its source is not at
    hand (a template made from a string): then every name counts."""
    if template not in _READS:
        env, names = template.environment, None
        if env.loader is not None and template.name is not None:
            source = env.loader.get_source(env, template.name)[0]
            names = frozenset(meta.find_undeclared_variables(env.parse(source)))
        _READS[template] = names
    return _READS[template]


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, deciding each (type, attribute) once: its checks (`is_internal_attribute`,
    `modifies_known_mutable`) look at nothing but the object's type and the attribute's name."""

    template_class = _Template

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        safe = self._safe.get(key)
        if safe is None:
            safe = self._safe[key] = super().is_safe_attribute(obj, attr, value)
        return safe


@cache
def environment(html: bool = False) -> ImmutableSandboxedEnvironment:
    """The sandboxed, strict template environment for text (SMS, subject, plain text) or HTML.

    HTML gets an environment of its own that escapes in *every* template it loads, the shared
    phrase modules included: a macro imported from a module compiled without autoescape would
    come back marked safe in an HTML template, with its customer data unescaped. The text
    environment still escapes a `*.html.j2` template should one be rendered through it.
    """
    env = _Sandbox(
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
