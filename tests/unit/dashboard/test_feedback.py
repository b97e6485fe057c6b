"""Feedback on the dashboard as pure functions: reading `feedback.given`, one answer per question, CSAT per
incident kind and per ISO week (UTC), and the customer's answers on the timeline, masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import make_event
from services.dashboard.feedback import Answer, answer_of, csat, feedback_items, iso_week, latest_answers
from services.dashboard.kafka_reader import KafkaUnavailable
from services.dashboard.story import build_timeline
from services.dashboard.story_pages import feedback_answer
from tests.support.dashboard import EMAIL, PHONE
from tests.support.feedback import feedback_given

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday: ISO week 2026-W47
KINDS = ("not_shipped", "stockout", "delivery_exception", "false_decline")


def _answer(question: str, score: int, *, at: datetime = AT, kind: str = "stockout", **extra: object) -> Answer:
    found = answer_of(feedback_given(question, score=score, at=at, kind=kind, **extra).to_bytes())  # type: ignore[arg-type]
    assert found is not None
    return found


def test_reads_feedback_given_and_leaves_the_rest() -> None:
    answer = _answer("ntf-q1", 2, text="the driver was rude")
    assert (answer.score, answer.kind, answer.order, answer.text, answer.incident_id) == (
        2, "stockout", "#1001", "the driver was rude", "inc-stock")
    choice = make_event("choice.made", {
        "incident_id": "inc-stock", "kind": "stockout", "order_id": "ord-1", "customer_id": "cus_1",
        "store_id": "acme", "choice": "refund", "channel": "sms", "notification_id": "ntf-1", "made_at": AT},
        source="forewarn/notifier", subject="ord-1", time=AT, id="evt-choice")
    assert answer_of(choice.to_bytes()) is None
    assert answer_of(b"{not json") is None and answer_of(None) is None
    assert _answer("ntf-q2", 5, order_number=None).order == "ord-1"


def test_one_answer_per_question_the_latest() -> None:
    first = _answer("ntf-q1", 2, at=AT)
    again = _answer("ntf-q1", 2, at=AT)  # redelivered: the same event id
    later = _answer("ntf-q1", 4, at=AT + timedelta(minutes=5))
    other = _answer("ntf-q2", 5, at=AT - timedelta(days=1))
    assert latest_answers([later, first, again, other]) == [other, later]


def test_csat_per_kind_and_per_week() -> None:
    answers = [_answer("q1", 5, kind="stockout"), _answer("q2", 2, kind="stockout"),
               _answer("q3", 4, kind="not_shipped", at=AT + timedelta(days=1)),  # Monday: 2026-W48
               _answer("q4", 1, kind="stockout", at=AT + timedelta(days=1))]
    result = csat(answers)
    assert result["overall"] == {"answers": 4, "satisfied": 2, "csat": 0.5, "average": 3.0}
    assert result["by_kind"] == [
        {"kind": "stockout", "answers": 3, "satisfied": 1, "csat": 0.3333, "average": 2.67},
        {"kind": "not_shipped", "answers": 1, "satisfied": 1, "csat": 1.0, "average": 4.0}]
    assert result["by_week"] == [
        {"week": "2026-W48", "answers": 2, "satisfied": 1, "csat": 0.5, "average": 2.5},
        {"week": "2026-W47", "answers": 2, "satisfied": 1, "csat": 0.5, "average": 3.5}]
    assert csat([]) == {"overall": {"answers": 0, "satisfied": 0, "csat": None, "average": None},
                        "by_kind": [], "by_week": []}


def test_weeks_are_iso_weeks_in_utc() -> None:
    berlin_monday = datetime(2026, 11, 23, 0, 30, tzinfo=timezone(timedelta(hours=1)))  # Sunday 23:30 UTC
    assert iso_week(berlin_monday) == "2026-W47"
    assert iso_week(datetime(2027, 1, 1, 12, tzinfo=UTC)) == "2026-W53"  # ISO year, not the calendar's
    assert iso_week(datetime(2026, 12, 28)) == "2026-W53"


_answers = st.lists(st.builds(
    lambda n, score, kind, minutes: _answer(f"q{n}", score, kind=kind, at=AT + timedelta(minutes=minutes)),
    st.integers(0, 30), st.integers(1, 5), st.sampled_from(KINDS), st.integers(-60 * 24 * 400, 60 * 24 * 400)),
    max_size=25)


@settings(max_examples=60, deadline=None)
@given(_answers)
def test_csat_properties(raw: list[Answer]) -> None:
    answers = latest_answers(raw)
    assert len({a.feedback_id for a in answers}) == len(answers) == len({a.feedback_id for a in raw})
    result = csat(answers)
    for rows in (result["by_kind"], result["by_week"]):
        assert sum(row["answers"] for row in rows) == len(answers) == result["overall"]["answers"]
        assert sum(row["satisfied"] for row in rows) == result["overall"]["satisfied"]
        for row in rows:
            assert row["answers"] >= 1 and 0 <= row["satisfied"] <= row["answers"]
            assert 0.0 <= row["csat"] <= 1.0 and 1.0 <= row["average"] <= 5.0
    weeks = [row["week"] for row in result["by_week"]]
    assert weeks == sorted(weeks, reverse=True) and len(set(weeks)) == len(weeks)
    for answer in answers:
        year, week, _ = answer.given_at.astimezone(UTC).isocalendar()
        assert f"{year}-W{week:02d}" in weeks


def test_feedback_on_the_timeline_masked() -> None:
    words = f"2 the driver was rude, call me on {PHONE} or {EMAIL} <b>now</b>"
    answers = [_answer("ntf-q1", 2, text=words, at=AT + timedelta(days=2)),
               _answer("ntf-q9", 5, customer_id="cus_2", at=AT + timedelta(days=2))]
    items = feedback_items(answers, "cus_1")
    assert len(items) == 1 and items[0]["score"] == 2 and items[0]["incident_id"] == "inc-stock"
    timeline = build_timeline(deliveries=[], feedback=items, focus_order="#1001")
    [item] = timeline
    assert item["type"] == "feedback" and item["order"] == "#1001" and item["in_focus"] is True
    assert item["kind"] == "stockout" and item["at"] == "2026-11-24T12:00:00+00:00"
    assert "the driver was rude" in item["text"] and "<b>now</b>" in item["text"]  # escaped by the page
    assert PHONE not in item["text"] and EMAIL not in item["text"] and "4155550123" not in item["text"]


class _Reader:
    feedback_per_partition = 7

    def __init__(self, answers: list[Answer] | None) -> None:
        self.answers = answers

    async def feedback(self) -> list[Answer]:
        if self.answers is None:
            raise KafkaUnavailable("Kafka at 127.0.0.1:1 is unavailable: no answer in time")
        return self.answers


async def test_empty_state_unavailable_and_csat() -> None:
    _, empty = await feedback_answer(_Reader([]))  # type: ignore[arg-type]
    assert empty["available"] is False and "No feedback recorded" in empty["why"] and empty["error"] is None
    assert "the last 7 records of each partition of customer-actions" in empty["window"]
    _, away = await feedback_answer(_Reader(None))  # type: ignore[arg-type]
    assert away["available"] is False and "unavailable" in away["error"]
    answers, shown = await feedback_answer(_Reader([_answer("q1", 5)]))  # type: ignore[arg-type]
    assert len(answers) == 1 and shown["available"] is True and shown["csat"]["overall"]["csat"] == 1.0
