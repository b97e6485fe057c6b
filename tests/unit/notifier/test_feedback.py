"""The feedback loop's pure rules: when to ask, what an answer says, and the question and thanks in en/de/es."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.feedback import FEEDBACK_EVERY, Score, read_score, should_ask
from services.notifier.rendering.answers import answer_sms
from services.notifier.rendering.segments import count_segments, is_gsm7

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(("body", "expected"), [
    ("2 the driver was rude", Score(2, "the driver was rude")),
    ("2", Score(2, None)),
    (" #4 ", Score(4, None)),
    ("2/5", Score(2, None)),
    ("1 - never again", Score(1, "never again")),
    ("5!", Score(5, None)),
    ("3.  ok  I guess", Score(3, "ok I guess")),
    ("2\nrude driver", Score(2, "rude driver")),
])
def test_a_score_first_and_the_words_after_it(body: str, expected: Score) -> None:
    assert read_score(body) == expected


@pytest.mark.parametrize("body", ["0", "6", "12", "2.5", "3,5", "two", "2nd time", "٣", "²", "", "great 5", "-2"])
def test_no_score_is_no_answer(body: str) -> None:
    assert read_score(body) is None


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.text(max_size=80))
def test_any_reply_reads_as_a_score_1_to_5_or_none(body: str) -> None:
    score = read_score(body)
    assert score is None or (1 <= score.score <= 5 and body.lstrip().lstrip("#")[:1] == str(score.score))


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.integers(1, 5), st.text(alphabet=st.characters(categories=("L", "Zs", "P")), max_size=60))
def test_the_words_after_a_score_are_kept_as_written(score: int, words: str) -> None:
    text = " ".join(words.split())
    read = read_score(f"{score} {text}")
    if text and text[0].isalpha():
        assert read == Score(score, text)


def test_low_means_a_person_reads_it() -> None:
    assert Score(1, None).low and Score(2, None).low and not Score(3, None).low


def ask(**overrides: object) -> str:
    options: dict[str, object] = {"reason": "delivered", "told": True, "resolved_at": AT, "asked_at": (),
                                  "open_incidents": 0, **overrides}
    return should_ask(**options).reason  # type: ignore[arg-type]


def test_when_to_ask() -> None:
    assert ask() == "ask"
    assert ask(reason="shipped") == "not_an_ending"
    assert ask(reason="stock_restored") == "not_an_ending"
    assert ask(told=False) == "never_told"
    assert ask(open_incidents=1) == "incident_open"
    assert ask(asked_at=[AT - timedelta(days=29)]) == "asked_recently"
    assert ask(asked_at=[AT - timedelta(days=31)]) == "ask"
    assert ask(now=AT + timedelta(days=2)) == "ask"
    assert ask(now=AT + timedelta(days=4)) == "too_late"  # a replay of old history asks nothing


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.timedeltas(min_value=-timedelta(days=400), max_value=timedelta(days=400)))
def test_never_two_questions_within_the_window_on_event_time(gap: timedelta) -> None:
    """Whatever order the resolutions arrive in (a replay, a burst), two questions are `FEEDBACK_EVERY` apart."""
    verdict = should_ask(reason="refund_issued", told=True, resolved_at=AT + gap, asked_at=[AT], open_incidents=0)
    assert verdict.ask == (abs(gap) >= FEEDBACK_EVERY)


@pytest.mark.parametrize("locale", ["en", "de-DE", "es"])
@pytest.mark.parametrize("answer", ["feedback_question", "feedback_thanks", "feedback_thanks_low"])
def test_the_question_and_thanks_fit_one_gsm7_segment(locale: str, answer: str) -> None:
    text = answer_sms(answer, locale=locale, store_name="Acme Outfitters", order_number="#10012")  # type: ignore[arg-type]
    assert is_gsm7(text) and count_segments(text).segments == 1, text
    if answer == "feedback_question":
        assert "#10012" in text and "1" in text and "5" in text


@pytest.mark.parametrize(("locale", "sorry", "person"), [
    ("en", "sorry", "person"), ("de-DE", "tut uns leid", "Team"), ("es", "Sentimos", "persona"),
])
def test_the_thanks_for_a_low_score_is_sorry_and_leaves_the_person_to_the_case_notice(
    locale: str, sorry: str, person: str,
) -> None:
    thanks = answer_sms("feedback_thanks_low", locale=locale, store_name="Acme Outfitters")
    notice = answer_sms("person_in_touch", locale=locale, store_name="Acme Outfitters",
                        contact_by=datetime(2026, 11, 25, 17, 0, tzinfo=UTC), timezone="UTC")
    assert sorry in thanks and person not in thanks, thanks
    assert person in notice, notice
