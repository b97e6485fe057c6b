"""The "a person will get in touch by ..." SMS: one GSM-7 segment in en/de/es, the time in the customer's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifier.rendering.answers import answer_sms
from services.notifier.rendering.segments import count_segments, is_gsm7

pytestmark = pytest.mark.unit

BY = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(("locale", "zone", "when"), [
    ("en-US", "America/Los_Angeles", "Thu, Dec 3, 8:00"),
    ("de-DE", "Europe/Berlin", "Do., 3. Dez., 17:00"),
    ("es-ES", "Europe/Madrid", "jue, 3 dic, 17:00"),
    ("fr-FR", "Not/AZone", "Thu, Dec 3, 4:00"),  # English templates, English date; an unknown zone reads as UTC
])
def test_the_notice_names_the_time_in_the_customers_language_and_zone(locale: str, zone: str, when: str) -> None:
    text = answer_sms("person_in_touch", locale=locale, store_name="Acme Outfitters Worldwide",
                      support_phone="+1 415 555 0100", contact_by=BY, timezone=zone)
    assert when in text, text
    assert is_gsm7(text) and count_segments(text).segments == 1, text
