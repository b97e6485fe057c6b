"""Our answers to an inbound SMS (a choice confirmed, a reply handed to a person, HELP, thanks for feedback) and
the feedback question; pure, no sending."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_skeleton, format_time

from schemas.choices import Choice

from .environment import environment
from .locales import format_locale, template_locale
from .render import RenderedMessage, _layout, _tidy_text, one_line
from .segments import gsm7_friendly

__all__ = ["Answer", "answer_sms", "feedback_email", "offer_phrases"]

Answer = Literal["confirmed", "not_understood", "help", "feedback_question", "feedback_thanks", "feedback_thanks_low",
                 "person_in_touch"]


def answer_sms(
    answer: Answer, *, locale: str | None, store_name: str, choice: Choice | None = None,
    order_number: str | None = None, support_phone: str | None = None, help_url: str | None = None,
    contact_by: datetime | None = None, timezone: str | None = None,
) -> str:
    """The SMS text of `answer` in the customer's language (`templates/<lang>/replies.j2`), English fallback."""
    language = template_locale(locale)
    variables: dict[str, Any] = {
        "locale": language, "store_name": store_name, "order_number": order_number,
        "support_phone": support_phone, "help_url": help_url,
    }
    replies = environment().get_template(f"{language}/replies.j2").make_module(variables)
    if answer == "confirmed":
        if choice is None:
            raise ValueError("a confirmation names the choice")
        text = replies.confirmed(choice)  # type: ignore[attr-defined]
    elif answer == "feedback_question":
        text = replies.feedback_question()  # type: ignore[attr-defined]
    elif answer in ("feedback_thanks", "feedback_thanks_low"):
        text = replies.feedback_thanks(answer == "feedback_thanks_low")  # type: ignore[attr-defined]
    elif answer == "person_in_touch":
        if contact_by is None:
            raise ValueError("the notice says by when a person gets in touch")
        text = replies.person_in_touch(_when(contact_by, locale, language, timezone))  # type: ignore[attr-defined]
    elif answer == "not_understood":
        text = replies.not_understood()  # type: ignore[attr-defined]
    else:
        text = replies.help()  # type: ignore[attr-defined]
    return gsm7_friendly(one_line(str(text)))


def feedback_email(
    *, locale: str | None, store_name: str, order_number: str | None, first_name: str | None,
    score_urls: dict[int, str], unsubscribe_url: str | None,
) -> RenderedMessage:
    """The feedback question by email (`templates/feedback_email.*.j2`): one signed link per score, 1 to 5."""
    language = template_locale(locale)
    variables: dict[str, Any] = {
        "locale": language, "store_name": store_name, "order_number": order_number, "first_name": first_name,
        "score_urls": sorted(score_urls.items()), "unsubscribe_url": unsubscribe_url,
        "support_phone": None, "help_url": None,
    }
    replies = environment().get_template(f"{language}/replies.j2").make_module(variables)
    text_t = _layout(language, "feedback_email.txt.j2")
    html_t = _layout(language, "feedback_email.html.j2")
    return RenderedMessage(
        channel="email", locale=language,
        subject=one_line(str(replies.feedback_email_subject())),  # type: ignore[attr-defined]
        text=_tidy_text(text_t.render(variables)),
        html=html_t.render(variables).strip() + "\n",
        templates=(f"{language}/replies.j2", str(text_t.name), str(html_t.name)),
    )


def _when(at: datetime, locale: str | None, language: str, timezone: str | None) -> str:
    """A weekday, date and time in the customer's language and timezone ("Wed, Dec 2, 3:00 PM")."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = at.astimezone(zone)
    babel_locale = format_locale(locale, language)
    return f"{format_skeleton('MMMEd', local, locale=babel_locale)}, {format_time(local, 'short', locale=babel_locale)}"


def offer_phrases(choices: Sequence[str], *, locale: str | None) -> tuple[str, ...]:
    """The ways an SMS words these numbered choices (`templates/<lang>/choices.j2`, full and short), as sent."""
    if not choices:
        return ()
    language = template_locale(locale)
    offer = environment().get_template(f"{language}/choices.j2").make_module({"locale": language})
    lead = SimpleNamespace(offered_choices=tuple(choices))
    return tuple(gsm7_friendly(one_line(str(getattr(offer, macro)(lead)))) for macro in ("numbered", "numbered_short"))
