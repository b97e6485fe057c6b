"""Inbound SMS keywords: every carrier stop word in any case and padding; START and HELP; the rest is a reply."""

from __future__ import annotations

import pytest

from services.notifier.replies import classify_reply

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
