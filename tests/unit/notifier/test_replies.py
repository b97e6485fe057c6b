"""Inbound SMS: carrier keywords in any case and padding keep their meaning; choices by number or words in en/de/es."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.choices import CHOICES_BY_KIND, Choice, choices_for
from services.notifier.replies import CARRIER_KEYWORDS, classify_reply, read_choice, understand

pytestmark = pytest.mark.unit

STOP_WORDS = ["STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "STOPALL", "REVOKE", "OPTOUT"]


@pytest.mark.parametrize("word", STOP_WORDS)
@pytest.mark.parametrize(
    "spell", [str.upper, str.lower, str.title, lambda w: f"  {w}  ", lambda w: f"\t{w.lower()}!\n"])
def test_stop_words_opt_out(word: str, spell: object) -> None:
    assert classify_reply(spell(word)) == "stop"  # type: ignore[operator]


@pytest.mark.parametrize(("body", "expected"), [
    ("START", "start"), (" start ", "start"), ("Unstop", "start"), ("HELP", "help"), ("help?", "help"),
    ("info", "help"), ("please stop sending me these", "other"), ("Where is my order?", "other"),
    ("stopp", "other"), ("", "other"), ("CANCEL my order", "other"),
])
def test_other_replies(body: str, expected: str) -> None:
    assert classify_reply(body) == expected


# -- choices -----------------------------------------------------------------------------------
STOCKOUT = choices_for("stockout")
CARRIER = sorted(CARRIER_KEYWORDS)
SPELLINGS = [str.upper, str.lower, str.title, str.swapcase]


def test_the_stockout_offer_is_wait_refund_substitute() -> None:
    assert STOCKOUT == ("wait", "refund", "substitute")


@pytest.mark.parametrize(("body", "choice"), [
    ("1", "wait"), ("2", "refund"), ("3", "substitute"), (" 2. ", "refund"), ("#2", "refund"), ("2 please", "refund"),
    ("Option 2", "refund"), ("2 bitte", "refund"), ("el 2 por favor", "refund"), ("02", "refund"),
    ("refund please", "refund"), ("Refund", "refund"), ("I'd like a refund, thanks", "refund"),
    ("money back please", "refund"), ("I'll wait", "wait"), ("wait", "wait"), ("happy to wait", "wait"),
    ("a similar one please", "substitute"), ("swap it", "substitute"),
    ("Erstattung bitte", "refund"), ("erstattung", "refund"), ("Rückerstattung", "refund"),
    ("Ruckerstattung bitte", "refund"), ("lieber stornieren", "refund"), ("Ich warte", "wait"),
    ("warten", "wait"), ("gerne etwas Ähnliches", "substitute"), ("einen ähnlichen Artikel bitte", "substitute"),
    ("reembolso", "refund"), ("Reembolso, por favor", "refund"), ("prefiero esperar", "wait"),
    ("espero", "wait"), ("Esperaré", "wait"), ("cancelar", "refund"), ("quiero la devolución", "refund"),
    ("algo parecido", "substitute"),
])
def test_a_choice_in_any_of_three_languages(body: str, choice: str | None) -> None:
    assert read_choice(body, STOCKOUT) == choice


@pytest.mark.parametrize(("kind", "body", "choice"), [
    ("not_shipped", "lieber stornieren", "cancel"), ("not_shipped", "cancellation please", "cancel"),
    ("not_shipped", "refund please", "cancel"), ("not_shipped", "2", "cancel"), ("not_shipped", "3", None),
    ("not_delivered", "send a new one", "reship"), ("not_delivered", "Ersatz bitte", "reship"),
    ("not_delivered", "reenviar", "reship"), ("not_delivered", "replacement please", "reship"),
    ("false_decline", "1", "retry_payment"), ("false_decline", "pay again", "retry_payment"),
    ("false_decline", "refund", "cancel"), ("stockout", "Ersatz bitte", "substitute"),
    ("tracking_stalled", "1", None), ("tracking_stalled", "wait", None),
])
def test_words_mean_the_offered_choice_of_the_kind(kind: str, body: str, choice: str | None) -> None:
    assert read_choice(body, choices_for(kind)) == choice


@pytest.mark.parametrize("body", [
    "", "   ", "Thanks!", "Is it coming before Friday?", "no refund", "nicht warten", "no quiero esperar",
    "1 or 2", "wait or refund?", "I want a refund and I will never shop here again, this is the third time",
    "stop 2", "help 2", "cancel please", "CANCEL my order", "2 stop", "٢", "²", "２", "4", "0", "-1", "2.5",
    "new date please",
])
def test_not_a_choice(body: str) -> None:
    assert read_choice(body, STOCKOUT) is None


@pytest.mark.parametrize("word", CARRIER)
@pytest.mark.parametrize("spell", SPELLINGS)
def test_a_carrier_keyword_keeps_its_meaning(word: str, spell: object) -> None:
    understood = understand(spell(word), STOCKOUT)  # type: ignore[operator]
    assert understood.kind in ("stop", "start", "help") and understood.choice is None


_PADDING = st.text(alphabet=" \t\n\r.!?,;:", max_size=4)


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.sampled_from(CARRIER), st.sampled_from(SPELLINGS), _PADDING, _PADDING,
       st.sampled_from([tuple(c) for c in CHOICES_BY_KIND.values()]))
def test_property_a_carrier_keyword_in_any_case_and_padding_is_never_a_choice(
    word: str, spell: object, before: str, after: str, offered: tuple[Choice, ...],
) -> None:
    body = before + spell(word) + after  # type: ignore[operator]
    assert read_choice(body, offered) is None
    assert understand(body, offered).choice is None


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.sampled_from([tuple(c) for c in CHOICES_BY_KIND.values()]), st.integers(min_value=-5, max_value=999),
       _PADDING, _PADDING)
def test_property_a_number_is_the_offered_choice_only_within_the_range(
    offered: tuple[Choice, ...], number: int, before: str, after: str,
) -> None:
    choice = read_choice(f"{before}{number}{after}", offered)
    if 1 <= number <= len(offered):
        assert choice == offered[number - 1]
    else:
        assert choice is None


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(st.text(max_size=80), st.sampled_from([tuple(c) for c in CHOICES_BY_KIND.values()]))
def test_property_any_text_is_an_offered_choice_or_none(body: str, offered: tuple[Choice, ...]) -> None:
    choice = read_choice(body, offered)
    assert choice is None or choice in offered
    if body.strip().strip(".!?,;:").strip().upper() in CARRIER_KEYWORDS:
        assert choice is None
