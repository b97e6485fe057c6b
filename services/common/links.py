"""Signed links in our emails: unsubscribe, choice and feedback tokens, HMAC-SHA256 with a server secret.

The notifier signs, the gateway verifies; both hold the same `FOREWARN_LINK_SECRET`. A token is
the notification id (plus, for a choice, the choice and the expiry as Unix seconds) and a
base64url HMAC over them, joined by dots:

    unsubscribe: <notification id>.<mac>
    choice:      <notification id>.<choice>.<expires>.<mac>
    feedback:    <notification id>.<score 1-5>.<expires>.<mac>

Each kind of link has its own purpose string inside the MAC, so an unsubscribe token can never
be replayed as a choice or a score, nor any of them as another. Verification recomputes the MAC and compares
with `hmac.compare_digest`; anything that does not verify is None (the caller answers 404).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.choices import Choice, known_choice

__all__ = ["ChoiceLink", "FeedbackLink", "LinkSigner"]

_UNIT = b"\x1f"
_MAC = re.compile(r"^[A-Za-z0-9_-]{43}$")
_NOTIFICATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_SCORE = re.compile(r"^[1-5]$")


@dataclass(frozen=True, slots=True)
class ChoiceLink:
    """What a verified choice token says."""

    notification_id: str
    choice: Choice
    expires: datetime


@dataclass(frozen=True, slots=True)
class FeedbackLink:
    """What a verified feedback token says: the question (its notification id) and the score clicked."""

    notification_id: str
    score: int
    expires: datetime


class LinkSigner:
    """Signs and verifies link tokens with one secret (never logged, never in a token)."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a link secret must not be empty")
        self._key = secret.encode("utf-8")

    def _mac(self, purpose: str, *parts: str) -> str:
        message = _UNIT.join([purpose.encode(), *(part.encode("utf-8") for part in parts)])
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def _matches(self, mac: str, purpose: str, *parts: str) -> bool:
        return bool(_MAC.fullmatch(mac)) and hmac.compare_digest(mac, self._mac(purpose, *parts))

    # -- unsubscribe -------------------------------------------------------------------------
    def unsubscribe_token(self, notification_id: str) -> str:
        _check_id(notification_id)
        return f"{notification_id}.{self._mac('unsubscribe', notification_id)}"

    def verify_unsubscribe(self, token: str) -> str | None:
        """The notification id a genuine unsubscribe token names, else None."""
        notification_id, _, mac = token.rpartition(".")
        if not _NOTIFICATION_ID.fullmatch(notification_id):
            return None
        return notification_id if self._matches(mac, "unsubscribe", notification_id) else None

    # -- choices -----------------------------------------------------------------------------
    def choice_token(self, notification_id: str, choice: Choice, expires: datetime) -> str:
        _check_id(notification_id)
        if known_choice(choice) != choice:
            raise ValueError(f"{choice!r} is not a choice of the catalogue")
        seconds = str(int(expires.timestamp()))
        return f"{notification_id}.{choice}.{seconds}.{self._mac('choice', notification_id, choice, seconds)}"

    def verify_choice(self, token: str, *, now: datetime) -> ChoiceLink | None:
        """What a genuine, unexpired choice token says, else None."""
        verified = self._verify_expiring(token, "choice", lambda name: known_choice(name) == name, now=now)
        if verified is None:
            return None
        notification_id, name, expires = verified
        choice = known_choice(name)
        return ChoiceLink(notification_id, choice, expires) if choice is not None else None

    def _verify_expiring(
        self, token: str, purpose: str, value_ok: Callable[[str], bool], *, now: datetime,
    ) -> tuple[str, str, datetime] | None:
        """(notification id, value, expiry) of a genuine, unexpired `<id>.<value>.<expires>.<mac>` token for
        `purpose`, else None."""
        parts = token.rsplit(".", 3)
        if len(parts) != 4:
            return None
        notification_id, value, seconds, mac = parts
        if not value_ok(value) or not _NOTIFICATION_ID.fullmatch(notification_id) or not _EXPIRES.fullmatch(seconds):
            return None
        if not self._matches(mac, purpose, notification_id, value, seconds):
            return None
        expires = datetime.fromtimestamp(int(seconds), tz=UTC)
        return (notification_id, value, expires) if expires > now else None

    # -- feedback ----------------------------------------------------------------------------
    def feedback_token(self, notification_id: str, score: int, expires: datetime) -> str:
        _check_id(notification_id)
        if not _SCORE.fullmatch(str(score)):
            raise ValueError(f"{score!r} is not a score from 1 to 5")
        seconds = str(int(expires.timestamp()))
        return f"{notification_id}.{score}.{seconds}.{self._mac('feedback', notification_id, str(score), seconds)}"

    def verify_feedback(self, token: str, *, now: datetime) -> FeedbackLink | None:
        """What a genuine, unexpired feedback token says, else None."""
        verified = self._verify_expiring(token, "feedback", lambda score: bool(_SCORE.fullmatch(score)), now=now)
        if verified is None:
            return None
        notification_id, score, expires = verified
        return FeedbackLink(notification_id, int(score), expires)


def _check_id(notification_id: str) -> None:
    if not _NOTIFICATION_ID.fullmatch(notification_id):
        raise ValueError("not a notification id")
