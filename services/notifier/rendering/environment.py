"""The sandboxed Jinja2 environment and the locale-aware filters templates use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency
from jinja2 import FileSystemLoader, StrictUndefined, Template, meta, nodes, pass_context
from jinja2.environment import TemplateModule
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup

from .locales import TEMPLATES_DIR

__all__ = ["capfirst", "environment", "flatten", "is_html_template", "rendering"]

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
    if text.isprintable():  # no control, format (bidi) or separator character but the space: nothing to do
        return text
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


_rendering: ContextVar[Mapping[str, Any] | None] = ContextVar("rendering", default=None)


@contextmanager
def rendering(variables: Mapping[str, Any]) -> Iterator[None]:
    """Render a template with `variables` (`template.render(variables)` inside): its phrase modules are served
    bound to these variables (see `_Template`)."""
    token = _rendering.set(variables)
    try:
        yield
    finally:
        _rendering.reset(token)


class _Scope(Mapping[str, Any]):
    """The variables of the render in progress, then the template's globals: what a bound module's macros and
    the filters they call read, looked up when they run."""

    __slots__ = ("_globals",)

    def __init__(self, globals: Mapping[str, Any]) -> None:
        self._globals = globals

    def __getitem__(self, key: str) -> Any:
        variables = _rendering.get()
        if variables is not None and key in variables:
            return variables[key]
        return self._globals[key]

    def __contains__(self, key: object) -> bool:
        variables = _rendering.get()
        return (variables is not None and key in variables) or key in self._globals

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._globals, *(_rendering.get() or ())]))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Template(Template):
    """A template whose phrase modules are built once, not at every import "with context".

    Jinja builds an import "with context" anew at every render (`{% import ... with context %}` is never
    cached), and every layout imports the phrase modules that way: each form of each message would build
    `common.j2` (about 45 macros), its kind and `follow_up.j2` again. But a phrase module's body only defines
    macros (and imports other such modules), and a macro looks up the names it reads from its module's context
    when it is called. So a phrase module is built once, with a context that reads the variables of the render
    in progress (`rendering()`), and an import gets that module whenever every name the module reads (its own
    and those of the modules its body imports with context) is, in the importer's context, the very value of
    the render in progress: exactly what a module built from the importer's context would see.

    Anything else (a module whose body computes from the context, an importer that gives a read name another
    value, a render not inside `rendering()`) is built as Jinja builds it."""

    def make_module(
        self, vars: dict[str, Any] | None = None, shared: bool = False, locals: Mapping[str, Any] | None = None,
    ) -> TemplateModule:
        variables = _rendering.get()
        if vars is None or not shared or variables is None:
            return super().make_module(vars, shared, locals)
        reads = _bindable(self)
        if reads is None:
            return super().make_module(vars, shared, locals)
        given_locals = locals or {}
        for name in reads:  # the importer's value (its locals first) against the scope's (the render's, then globals)
            given = given_locals.get(name, missing)
            if given is missing:
                given = vars.get(name, missing)
            if given is not (variables[name] if name in variables else self.globals.get(name, missing)):
                return super().make_module(vars, shared, locals)
        module = _BOUND.get(self)
        if module is None:
            # Jinja's Context only looks names up in its parent (`in`, `[]`, and iterates it to copy it).
            scope = _Scope(self.globals)
            context = Context(self.environment, cast("dict[str, Any]", scope), self.name, self.blocks, self.globals)
            module = _BOUND[self] = TemplateModule(self, context)
        return module


# Per template, for the life of the process: templates are loaded once (the environment never reloads them, and
# its cache holds more than the templates there are), so these hold one entry per template file and environment.
_BOUND: dict[Template, TemplateModule] = {}
_BINDABLE: dict[Template, frozenset[str] | None] = {}


def _bindable(template: Template) -> frozenset[str] | None:
    """The names a phrase module reads (its undeclared variables, and those of the modules its body imports with
    context), or None when the template cannot be bound: its source is not at hand (made from a string), or its
    body does more than define macros, import modules named by a constant and output static text."""
    if template in _BINDABLE:
        return _BINDABLE[template]
    _BINDABLE[template] = None  # while deciding (an import cycle is not bound)
    env, reads = template.environment, None
    if env.loader is not None and template.name is not None:
        ast = env.parse(env.loader.get_source(env, template.name)[0])
        names = set(meta.find_undeclared_variables(ast))
        for node in ast.body:
            if isinstance(node, nodes.Macro):
                continue
            if isinstance(node, nodes.Output) and all(isinstance(n, nodes.TemplateData) for n in node.nodes):
                continue
            if isinstance(node, (nodes.Import, nodes.FromImport)) and isinstance(node.template, nodes.Const):
                if not node.with_context:
                    continue
                imported = _bindable(env.get_template(str(node.template.value)))
                if imported is not None:
                    names |= imported
                    continue
            break
        else:
            reads = frozenset(names)
    _BINDABLE[template] = reads
    return reads


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, deciding each (type, attribute) once: its checks (`is_internal_attribute`,
    `modifies_known_mutable`) look at nothing but the object's type and the attribute's name."""

    template_class = _Template

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one dict, not Jinja's ChainMap over the environment's (which follows changes
        to `self.globals`; this environment makes none once built): every render copies them, and every import
        without context compares their keys, far faster for a dict."""
        return {**self.globals, **(d or {})}

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
        # Templates by name in a plain dict: the set of template files is small and fixed, and Jinja's LRU cache
        # takes a lock and moves the name to the back of a deque (a linear scan) at every import and layout lookup.
        cache_size=-1,
    )
    env.filters.update(date=_date, day=_day, datetime=_datetime, money=_money, capfirst=capfirst, pick=_pick)
    return env
