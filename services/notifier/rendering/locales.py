"""Which template language and which formatting locale a customer's locale maps to."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError

__all__ = ["DEFAULT_LOCALE", "TEMPLATES_DIR", "format_locale", "template_locale", "template_locales"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_LOCALE = "en"


@cache
def template_locales() -> frozenset[str]:
    """The languages we have templates for (a folder with a common.j2)."""
    return frozenset(p.parent.name for p in TEMPLATES_DIR.glob("*/common.j2"))


def _parse(locale: str) -> Locale | None:
    try:
        return Locale.parse(locale.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def template_locale(locale: str | None) -> str:
    """The template language for a customer locale: "de-DE" -> "de", unknown -> "en"."""
    available = template_locales()
    if locale:
        tag = locale.strip().replace("-", "_")
        if tag in available:
            return tag
        language = tag.split("_", 1)[0].lower()
        if language in available:
            return language
    return DEFAULT_LOCALE


@lru_cache(maxsize=1024)
def format_locale(locale: str | None, language: str) -> str:
    """The babel locale for dates and money: the customer's own when it speaks `language` (kept per pair:
    parsing a locale is slow, and customers share a few).

    "de-AT" with German templates formats as de_AT; "fr-FR" falling back to English templates
    formats as en, so a French date never sits inside an English sentence.
    """
    parsed = _parse(locale) if locale else None
    if parsed is not None and parsed.language == language:
        return str(parsed)
    return language
