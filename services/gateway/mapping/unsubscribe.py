"""The links in our emails: a one-click unsubscribe (RFC 8058) -> `customer.opted_out`, a choice ->
`customer.chose`, a feedback score -> `customer.rated`, each naming the notification whose (signed,
verified) link was used.

The gateway does not know who received a notification; the notifier does (its ledger holds
the customer, the address and the incident of every notification id), so the event names the
notification and the notifier resolves it. These links are only in emails.
"""

from __future__ import annotations

import re
from datetime import datetime

from schemas.choices import Choice
from services.common.ids import stable_id
from services.gateway.mapping.base import MappingError, Publish, build_event

__all__ = ["MAX_FEEDBACK_TEXT", "NOTIFICATION_ID", "map_choice_link", "map_feedback_link", "map_unsubscribe"]

SOURCE = "forewarn/gateway"
NOTIFICATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
MAX_FEEDBACK_TEXT = 2000


def map_unsubscribe(notification_id: str, *, at: datetime) -> list[Publish]:
    """Dedupe on the notification id: one opt-out per link, however often it is clicked."""
    if not NOTIFICATION_ID.fullmatch(notification_id):
        raise MappingError("not a notification id")
    data = {"channel": "email", "notification_id": notification_id, "source": "email_unsubscribe", "at": at}
    event = build_event("customer.opted_out", data, source=SOURCE, subject=notification_id, time=at,
                        id=stable_id("unsubscribe", notification_id))
    return [Publish(notification_id, event)]


def map_choice_link(notification_id: str, choice: Choice, *, at: datetime) -> list[Publish]:
    """Dedupe on notification id and choice: a choice is published once however often it is sent;
    a different choice from the same email later (the customer changed their mind) is a new one."""
    if not NOTIFICATION_ID.fullmatch(notification_id):
        raise MappingError("not a notification id")
    data = {"notification_id": notification_id, "choice": choice, "channel": "email", "source": "email_link",
            "at": at}
    event = build_event("customer.chose", data, source=SOURCE, subject=notification_id, time=at,
                        id=stable_id("email-choice", notification_id, choice))
    return [Publish(f"choice:{notification_id}:{choice}", event)]


def map_feedback_link(notification_id: str, score: int, text: str | None, *, at: datetime) -> list[Publish]:
    """Dedupe on the question, the score and the words: the same answer is published once however often it is
    sent; a different one later (the customer changed their mind) is a new answer, and the latest counts, as with
    a second SMS reply. The words are trimmed to one line of at most MAX_FEEDBACK_TEXT characters."""
    if not NOTIFICATION_ID.fullmatch(notification_id):
        raise MappingError("not a notification id")
    if score not in range(1, 6):
        raise MappingError("not a score from 1 to 5")
    words = " ".join((text or "").split())[:MAX_FEEDBACK_TEXT] or None
    data = {"notification_id": notification_id, "score": score, "text": words, "channel": "email",
            "source": "email_link", "at": at}
    digest = stable_id("words", words or "")
    event = build_event("customer.rated", {k: v for k, v in data.items() if v is not None}, source=SOURCE,
                        subject=notification_id, time=at, id=stable_id("email-feedback", notification_id, str(score),
                                                                        words or ""))
    return [Publish(f"feedback:{notification_id}:{score}:{digest}", event)]
