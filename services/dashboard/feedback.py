"""Customers' feedback on the dashboard, as pure functions: the answers, CSAT per incident kind and per week,
and the feedback items of one customer's timeline.

Where feedback is read from, and why: the `feedback.given` events on `customer-actions`. They are the one
place every score lives: the notifier publishes them and keeps no copy (its ledger holds the question it
asked, purpose `feedback`, never the answer), and care keeps only the low scores, as notes on a case. Each
event carries what CSAT needs (score, incident kind, when) and what the timeline shows (the words, the
incident and order it rated). So the dashboard reads them the way it reads the store's events
(`StoryReader.feedback`): the last `feedback_per_partition` records of every partition, read-only, no
consumer group. CSAT is therefore over the answers still in that window, which the page says.

An answer redelivered has the same event id, and a customer may answer the same question twice: one answer
per question (`feedback_id`) counts, the latest `given_at` (`latest_answers`).

CSAT: the share of answers scoring 4 or 5, with the count of answers and the average score; per incident
kind and per ISO week (`2026-W48`) of `given_at` in UTC. The customer's words are free text that may
hold a phone number or an email address: masked (`services.common.masking`) like all text on the page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import CUSTOMER_ACTIONS, ContractError, FeedbackGiven, parse_event
from services.common.masking import mask_pii
from services.dashboard.views import utc_iso

__all__ = ["SATISFIED", "Answer", "answer_of", "csat", "feedback_items", "iso_week", "latest_answers"]

SATISFIED = (4, 5)
"""Scores that count as a satisfied customer in CSAT."""


@dataclass(frozen=True)
class Answer:
    """One `feedback.given`, as the dashboard keeps it (the words as written: masked only when shown)."""

    event_id: str
    feedback_id: str
    incident_id: str
    kind: str
    customer_id: str
    order: str | None
    score: int
    text: str | None
    channel: str
    given_at: datetime


def answer_of(raw: bytes | None) -> Answer | None:
    """A record of `customer-actions` as an answer; None for other events there, or one that breaks the contract."""
    try:
        event = parse_event(raw or b"", topic=CUSTOMER_ACTIONS)
    except ContractError:
        return None
    if not isinstance(event, FeedbackGiven):
        return None
    data = event.data
    return Answer(event_id=event.id, feedback_id=data.feedback_id, incident_id=data.incident_id, kind=data.kind,
                  customer_id=data.customer_id, order=data.order_number or data.order_id, score=data.score,
                  text=data.text, channel=data.channel, given_at=data.given_at.astimezone(UTC))


def latest_answers(answers: Iterable[Answer]) -> list[Answer]:
    """One answer per question (`feedback_id`): the latest given (then the greatest event id), oldest first."""
    latest: dict[str, Answer] = {}
    for answer in answers:
        kept = latest.get(answer.feedback_id)
        if kept is None or (answer.given_at, answer.event_id) > (kept.given_at, kept.event_id):
            latest[answer.feedback_id] = answer
    return sorted(latest.values(), key=lambda a: (a.given_at, a.event_id))


def iso_week(moment: datetime) -> str:
    """The ISO week of `moment` in UTC, e.g. `2026-W48` (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _row(scores: list[int]) -> dict[str, Any]:
    count = len(scores)
    satisfied = sum(1 for score in scores if score in SATISFIED)
    return {"answers": count, "satisfied": satisfied,
            "csat": round(satisfied / count, 4) if count else None,
            "average": round(sum(scores) / count, 2) if count else None}


def csat(answers: Iterable[Answer]) -> dict[str, Any]:
    """CSAT over `answers` (one per question, see `latest_answers`): overall, per incident kind (most answers
    first) and per ISO week in UTC (newest first). Each row: answers, satisfied (4-5), csat (their share, 0-1;
    None without answers), average score."""
    kept = list(answers)
    by_kind: dict[str, list[int]] = {}
    by_week: dict[str, list[int]] = {}
    for answer in kept:
        by_kind.setdefault(answer.kind, []).append(answer.score)
        by_week.setdefault(iso_week(answer.given_at), []).append(answer.score)
    kinds = [{"kind": kind, **_row(scores)} for kind, scores in by_kind.items()]
    kinds.sort(key=lambda row: (-row["answers"], row["kind"]))
    weeks = [{"week": week, **_row(scores)} for week, scores in sorted(by_week.items(), reverse=True)]
    return {"overall": _row([answer.score for answer in kept]), "by_kind": kinds, "by_week": weeks}


def feedback_items(answers: Iterable[Answer], customer_id: str) -> list[dict[str, Any]]:
    """The customer's answers as timeline entries (`build_timeline`'s `feedback`): score, words (masked), the
    incident it rated, its kind and order."""
    return [{"at": utc_iso(answer.given_at), "event_id": answer.event_id, "feedback_id": answer.feedback_id,
             "score": answer.score, "text": mask_pii(answer.text) if answer.text else None,
             "incident_id": answer.incident_id, "kind": answer.kind, "order": answer.order,
             "channel": answer.channel}
            for answer in answers if answer.customer_id == customer_id]

