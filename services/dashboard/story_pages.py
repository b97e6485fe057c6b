"""The customer's story at the web edge: `/story` (the page), `/api/story` and `/api/tickets` (JSON). GET only.

The page searches with a plain GET form. A whole phone number or email address typed into it never stays
in the address bar or the history: the answer is a redirect (303) to the customer found, or to the masked
form with a keyed digest (`story.contact_digest`; the key lives in this process only), like the token
login. Everything shown is masked (contacts) and escaped (Jinja2 autoescape; message text is shown as text,
never as HTML, and the page runs no script at all)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from jinja2 import Environment
from yarl import URL

from services.dashboard.feedback import Answer, csat, feedback_items
from services.dashboard.kafka_reader import KafkaUnavailable
from services.dashboard.ledger_reader import LedgerUnavailable
from services.dashboard.story import (
    CustomerHit,
    build_timeline,
    customer_summary,
    open_tickets_by_skill,
    orders_of,
    parse_query,
)
from services.dashboard.story_reader import StoryReader

__all__ = ["FEEDBACK", "STORY_KEY", "add_story_routes", "feedback_answer", "story_answer", "tickets_answer"]

logger = logging.getLogger(__name__)

STORY_KEY = web.AppKey("story", StoryReader)
STORY_JINJA_KEY = web.AppKey("story_jinja", Environment)
FEEDBACK = {
    "available": False, "error": None, "csat": None,
    "why": "No feedback recorded: no feedback.given event on customer-actions in the records read, so there are "
           "no scores to show and no CSAT per incident kind or per week.",
}
"""The empty state: no answer in the window read (or none could be read: `error` says why)."""


async def feedback_answer(reader: StoryReader) -> tuple[list[Answer], dict[str, Any]]:
    """The answers read (one per question) and what the page shows of them: CSAT overall, per incident kind
    and per ISO week (UTC), over the last `feedback_per_partition` records of each partition of customer-actions."""
    window = (f"the last {reader.feedback_per_partition} records of each partition of customer-actions; "
              "one answer per question, the latest")
    try:
        answers = await reader.feedback()
    except KafkaUnavailable as exc:
        return [], {**FEEDBACK, "error": str(exc), "window": window}
    if not answers:
        return [], {**FEEDBACK, "window": window}
    return answers, {"available": True, "error": None, "why": None, "window": window, "csat": csat(answers)}


def add_story_routes(app: web.Application, reader: StoryReader, jinja: Environment) -> None:
    app[STORY_KEY] = reader
    app[STORY_JINJA_KEY] = jinja
    app.router.add_get("/story", story_page, name="story")
    app.router.add_get("/api/story", api_story, name="api-story")
    app.router.add_get("/api/tickets", api_tickets, name="api-tickets")


async def story_answer(reader: StoryReader, params: Any) -> dict[str, Any]:
    """What the page shows and the API returns for the query parameters `q` (and `exact`), `customer`, `order`."""
    text = str(params.get("q") or "")
    query = parse_query(text, reader.key, digest=params.get("exact") or None)
    customer_id = str(params.get("customer") or "") or None
    focus = str(params.get("order") or "") or None
    answers, feedback = await feedback_answer(reader)
    answer: dict[str, Any] = {"query": query.shown if query else None, "hits": [], "customer": None,
                              "timeline": [], "care": None, "store_events": None, "feedback": feedback,
                              "focus_order": focus}
    hits: list[CustomerHit] = []
    if customer_id is None and query is not None:
        hits = await reader.find(query)
        answer["hits"] = [hit.view() for hit in hits]
        if len(hits) == 1:
            customer_id = hits[0].customer_id
            focus = focus or (hits[0].orders[0] if query.order_numbers and hits[0].orders else None)
            answer["focus_order"] = focus
    if customer_id is not None:
        story = await reader.story(customer_id)
        answer["customer"] = customer_summary(customer_id, story.deliveries, story.profile)
        answer["care"] = story.care_missing
        try:
            store_events = await reader.store_events(orders_of(story.deliveries))
        except KafkaUnavailable as exc:
            store_events, answer["store_events"] = [], str(exc)
        answer["timeline"] = build_timeline(
            deliveries=story.deliveries, resolved=story.resolved, replies=story.replies, choices=story.choices,
            cases=story.cases, entries=story.entries, store_events=store_events,
            feedback=feedback_items(answers, customer_id), focus_order=focus)
    return answer


async def tickets_answer(reader: StoryReader) -> dict[str, Any]:
    try:
        return {"skills": open_tickets_by_skill(await reader.open_cases()), "error": None}
    except LedgerUnavailable as exc:
        return {"skills": [], "error": str(exc)}


def _redirect_for_contact(request: web.Request, hits: list[CustomerHit], shown: str, digest: str) -> URL:
    """Where a search with a whole contact goes instead: the one customer found, else the masked search."""
    if len(hits) == 1:
        query = {"customer": hits[0].customer_id, "q": shown}
        if hits[0].orders and not any(way == "phone" or way == "email" for way in hits[0].matched_by):
            query["order"] = hits[0].orders[0]
        return request.url.with_query(query).relative()
    return request.url.with_query({"q": shown, "exact": digest}).relative()


async def story_page(request: web.Request) -> web.StreamResponse:
    reader = request.app[STORY_KEY]
    text = request.query.get("q", "")
    query = parse_query(text, reader.key, digest=request.query.get("exact") or None)
    status, error = 200, None
    try:
        if (query is not None and query.whole_contact and query.contact is not None and query.contact.digest
                and "exact" not in request.query and "customer" not in request.query):
            hits = await reader.find(query)
            raise web.HTTPSeeOther(_redirect_for_contact(request, hits, query.shown, query.contact.digest))
        answer = await story_answer(reader, request.query)
    except LedgerUnavailable as exc:
        logger.warning("story: %s", exc)
        status, error = 503, str(exc)
        answer = {"query": query.shown if query else None, "hits": [], "customer": None, "timeline": [],
                  "care": None, "store_events": None, "feedback": (await feedback_answer(reader))[1],
                  "focus_order": None}
    tickets = await tickets_answer(reader)
    html = request.app[STORY_JINJA_KEY].get_template("story.html.j2").render(
        answer=answer, tickets=tickets, error=error, searched=bool(text or request.query.get("customer")))
    return web.Response(text=html, content_type="text/html", status=status)


async def api_story(request: web.Request) -> web.StreamResponse:
    try:
        return web.json_response(await story_answer(request.app[STORY_KEY], request.query))
    except LedgerUnavailable as exc:
        return web.json_response({"error": str(exc)}, status=503)


async def api_tickets(request: web.Request) -> web.StreamResponse:
    answer = await tickets_answer(request.app[STORY_KEY])
    return web.json_response(answer, status=503 if answer["error"] else 200)
