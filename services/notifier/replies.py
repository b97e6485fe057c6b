"""What an inbound SMS means: the carrier-standard keywords, read the way carriers read them."""

from __future__ import annotations

from typing import Literal

__all__ = ["HELP_KEYWORDS", "START_KEYWORDS", "STOP_KEYWORDS", "classify_reply"]

Reply = Literal["stop", "start", "help", "other"]

STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_KEYWORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


def classify_reply(body: str) -> Reply:
    """A keyword counts when it is the whole message, in any case, with padding and trailing punctuation."""
    word = body.strip().strip(".!?,;:").strip().upper()
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return "other"
