"""The feedback loop's pure rules: when to ask "How did we handle this?", and what an answer says.

One question after a resolved incident, when all of these hold:

- the incident ended the customer's trouble (`FEEDBACK_AFTER`: delivered, refunded, paid, cancelled as
  asked); a step on the way (shipped, tracking resumed, stock restored) is no ending;
- the customer was told of the incident (a message about it reached them): we ask how *we* handled it;
- no question went to the customer in the last `every` (30 days by default), on event time: the
  resolution's time against the times of the earlier resolutions we asked about;
- no other incident of theirs is open (a question beside a problem message reads as mockery);
- the resolution is recent (`FEEDBACK_MAX_AGE`, on the wall clock): replaying old history, or a
  backlog read after downtime, asks nothing.

Channel, consent, the frequency cap and quiet hours are the policy pipeline's, applied after these.

An answer is a score from 1 to 5 at the start of the reply ("2", "#2", "2/5", "2 - the driver was
rude"), ASCII digits only; what follows it is the customer's own words, kept as written. Anything
else is no answer, and a person reads it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "FEEDBACK_AFTER", "FEEDBACK_EVERY", "FEEDBACK_MAX_AGE", "LOW_SCORE", "Ask", "Score", "read_score", "should_ask",
]

FEEDBACK_AFTER = frozenset({"delivered", "refund_issued", "payment_succeeded", "order_cancelled"})
"""Resolution reasons that end the customer's trouble (a cancellation is the customer's choice honoured)."""
FEEDBACK_EVERY = timedelta(days=30)
FEEDBACK_MAX_AGE = timedelta(days=3)
"""A resolution older than this (on the wall clock) is not asked about: a replay or a backlog asks nothing."""
LOW_SCORE = 2
"""A score at or below this goes to a person."""
MAX_TEXT = 2000

_ANSWER = re.compile(r"^\s*#?([1-5])(?:\s*/\s*5)?(?![0-9.,]?[0-9])(?:\s*[-.,:;!)]+)?(?:\s+|$)(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Ask:
    """Whether to ask, and why not when not."""

    ask: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Score:
    """A feedback answer: 1 (bad) to 5 (good), and the words after it (None when there are none)."""

    score: int
    text: str | None

    @property
    def low(self) -> bool:
        return self.score <= LOW_SCORE


def should_ask(
    *, reason: str, told: bool, resolved_at: datetime, asked_at: Sequence[datetime], open_incidents: int,
    now: datetime | None = None, after: Collection[str] = FEEDBACK_AFTER, every: timedelta = FEEDBACK_EVERY,
    max_age: timedelta = FEEDBACK_MAX_AGE,
) -> Ask:
    """Decide the question about an incident resolved at `resolved_at` for `reason`.

    `asked_at` are the resolution times of the incidents the customer was already asked about (any
    time); `open_incidents` counts the customer's other incidents not yet resolved. A resolution more
    than `max_age` before `now` (a replay, a backlog) is too old to ask about."""
    if reason not in after:
        return Ask(False, "not_an_ending")
    if now is not None and now - resolved_at > max_age:
        return Ask(False, "too_late")
    if not told:
        return Ask(False, "never_told")
    if any(abs(resolved_at - at) < every for at in asked_at):
        return Ask(False, "asked_recently")
    if open_incidents:
        return Ask(False, "incident_open")
    return Ask(True, "ask")


def read_score(body: str) -> Score | None:
    """The score a reply starts with and the words after it; None when it starts with no score."""
    match = _ANSWER.match(body)
    if match is None:
        return None
    text = " ".join(match.group(2).split())[:MAX_TEXT]
    return Score(int(match.group(1)), text or None)
