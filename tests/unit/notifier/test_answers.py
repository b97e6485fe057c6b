"""Our answers to inbound SMS: every confirmation, the honest answer and HELP, in each language, one GSM-7 segment."""

from __future__ import annotations

import pytest

from schemas.choices import CHOICES
from services.notifier.rendering.answers import answer_sms
from services.notifier.rendering.segments import count_segments
from services.notifier.settings import NotifierSettings

pytestmark = pytest.mark.unit

SETTINGS = NotifierSettings()
STORE = {"store_name": SETTINGS.store_name, "support_phone": SETTINGS.support_phone, "help_url": SETTINGS.help_url}
LANGUAGES = ("en", "de-DE", "es-ES")


@pytest.mark.parametrize("locale", LANGUAGES)
@pytest.mark.parametrize("choice", CHOICES)
def test_each_confirmation_names_the_order_in_one_segment(locale: str, choice: str) -> None:
    text = answer_sms("confirmed", locale=locale, choice=choice, order_number="#1001", **STORE)  # type: ignore[arg-type]
    info = count_segments(text)
    assert (info.encoding, info.segments) == ("GSM-7", 1), text
    assert text.startswith(SETTINGS.store_name) and "#1001" in text


@pytest.mark.parametrize(("locale", "words"), [
    ("en", "a person"), ("de-DE", "unser Team"), ("es-ES", "una persona"), ("fr-FR", "a person"),
])
def test_a_reply_not_understood_is_answered_honestly_in_the_customers_language(locale: str, words: str) -> None:
    text = answer_sms("not_understood", locale=locale, **STORE)
    assert words in text and SETTINGS.support_phone in text
    assert count_segments(text).segments == 1


@pytest.mark.parametrize(("locale", "words"), [("en", "Help"), ("de-DE", "Hilfe"), ("es-ES", "Ayuda")])
def test_help_in_the_customers_language_says_how_to_stop(locale: str, words: str) -> None:
    text = answer_sms("help", locale=locale, **STORE)
    assert words in text and "STOP" in text and SETTINGS.help_url in text
    assert count_segments(text).segments == 1


def test_a_confirmation_needs_its_choice() -> None:
    with pytest.raises(ValueError, match="choice"):
        answer_sms("confirmed", locale="en", store_name="Acme")
