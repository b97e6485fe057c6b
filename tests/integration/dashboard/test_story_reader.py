"""The customer's story: search and timeline over the notifier's and care's ledgers (built by their migrations),
on SQLite and PostgreSQL, and the page and API served by the dashboard."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from services.common.settings import CommonSettings
from services.dashboard.ledger_reader import LedgerReader
from services.dashboard.story import build_timeline, parse_query
from services.dashboard.story_reader import StoryReader
from tests.support.dashboard import EMAIL, PHONE, dashboard, migrated_ledger_url
from tests.support.feedback import feedback_given, publish_feedback
from tests.support.story import AT, ORDER_NUMBER, SUPPORT_PHONE, migrated_story_url, publish_store_events, seed_story

pytestmark = pytest.mark.integration

KEY = b"k" * 32
TIMEOUT = aiohttp.ClientTimeout(total=60)


@pytest.fixture(params=["sqlite", "postgresql"])
async def story_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    url = await migrated_story_url(request.param, str(tmp_path), postgres)
    await seed_story(url)
    return url


async def _found(reader: StoryReader, text: str, *, digest: str | None = None) -> dict[str, tuple[str, ...]]:
    query = parse_query(text, KEY, digest=digest)
    assert query is not None
    return {hit.customer_id: hit.matched_by for hit in await reader.find(query)}


async def test_search_by_order_number_contact_or_id(story_url: str) -> None:
    ledger = LedgerReader(story_url)
    reader = StoryReader(ledger, key=KEY)
    try:
        assert await _found(reader, ORDER_NUMBER) == {"cus_1": ("order #1001",)}
        assert await _found(reader, "1001") == {"cus_1": ("order #1001",)}
        assert await _found(reader, "#1009") == {"cus_2": ("order #1009",)}
        assert await _found(reader, "#10") == {}  # a number is matched whole, never as a part
        assert await _found(reader, "cus_2") == {"cus_2": ("customer id",)}
        assert (await _found(reader, "ord-1"))["cus_1"] == ("order id",)
        # phone: whole in any notation, or masked; the other customer's number shares no mask
        assert await _found(reader, "+1 (415) 555-0123") == {"cus_1": ("phone",)}
        assert await _found(reader, "+*******0123") == {"cus_1": ("phone",)}
        assert await _found(reader, "+1 415 555 0124") == {}
        assert await _found(reader, "+*******9876") == {"cus_2": ("phone",)}
        # email: whole (any case) or masked
        assert await _found(reader, "Ada.Lovelace@Example.com") == {"cus_1": ("email",)}
        assert await _found(reader, "a***@example.com") == {"cus_1": ("email",)}
        assert await _found(reader, "ada.lovelace@example.org") == {}
        # the digest the page's redirect carries finds the same customer from the masked form alone
        whole = parse_query(PHONE, KEY)
        assert whole is not None and whole.contact is not None and whole.contact.digest is not None
        assert await _found(reader, whole.shown, digest=whole.contact.digest) == {"cus_1": ("phone",)}
        assert await _found(reader, whole.shown, digest="0" * 32) == {}
    finally:
        await reader.close()
        await ledger.close()


async def test_story_of_one_customer(story_url: str) -> None:
    ledger = LedgerReader(story_url)
    reader = StoryReader(ledger, key=KEY)
    try:
        story = await reader.story("cus_1")
        cases = await reader.open_cases()
    finally:
        await reader.close()
        await ledger.close()
    timeline = build_timeline(deliveries=story.deliveries, resolved=story.resolved, replies=story.replies,
                              choices=story.choices, cases=story.cases, entries=story.entries, focus_order="#1001")
    assert [item["type"] for item in timeline] == [
        "incident", "message", "delivery", "reply", "choice", "ticket", "incident", "message", "delivery", "note"]
    sms = timeline[1]
    assert (sms["channel"], sms["state"], sms["to"], sms["order"], sms["in_focus"]) == (
        "sms", "delivered", "+*******0123", "#1001", True)
    assert "out of stock" in sms["body"] and SUPPORT_PHONE not in sms["body"] and EMAIL not in sms["body"]
    assert timeline[2]["at"] == "2026-11-22T12:00:20+00:00"
    ticket = timeline[5]
    assert (ticket["skill"], ticket["priority"], ticket["ticket_id"], ticket["open"]) == ("stock", "high", "4711", True)
    assert EMAIL not in ticket["subject"]
    assert (timeline[7]["channel"], timeline[7]["state"], timeline[8]["state"]) == ("email", "bounced", "bounced")
    assert timeline[9]["headline"] == "Forewarn: another late order."
    assert story.care_missing is None
    assert PHONE not in json.dumps(timeline) and EMAIL not in json.dumps(timeline)
    assert sorted((case["skill"], case["priority"]) for case in cases) == [("delivery", "urgent"), ("stock", "high")]


async def test_without_care_tables_the_notifier_story_still_shows(tmp_path: Path) -> None:
    url = await migrated_ledger_url("sqlite", str(tmp_path), None)
    ledger = LedgerReader(url)
    reader = StoryReader(ledger, key=KEY)
    try:
        story = await reader.story("cus_1")
        assert story.deliveries == [] and story.care_missing is not None
        assert "care" in story.care_missing
        assert await _found(reader, "cus_1") == {}
    finally:
        await reader.close()
        await ledger.close()


async def test_page_and_api(story_url: str, kafka: str, topic_prefix: str) -> None:
    await publish_store_events(kafka, topic_prefix, database_url=story_url)
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix, database_url=story_url)
    async with dashboard(common) as url, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(f"{url}/story", params={"q": ORDER_NUMBER}) as response:
            assert response.status == 200, await response.text()
            page = await response.text()
        async with session.get(f"{url}/api/story", params={"q": ORDER_NUMBER}) as response:
            assert response.status == 200
            data = await response.json()
        async with session.get(f"{url}/api/tickets") as response:
            tickets = await response.json()
        # a whole phone number is never kept in the address: a redirect to the customer, masked query
        async with session.get(f"{url}/story", params={"q": PHONE}, allow_redirects=False) as response:
            assert response.status == 303
            location = response.headers["Location"]
        async with session.get(f"{url}{location}") as response:
            by_phone = await response.text()
        async with session.get(f"{url}/story", params={"q": "#4040"}) as response:
            nothing = await response.text()

    assert 'class="sms-bubble"' in page and "out of stock" in page and 'class="reply-bubble"' in page
    assert "&lt;script&gt;" in page and "<script>" not in page and "<b>now</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "4711" in page and 'id="tickets"' in page and "no feedback.given event" in page
    assert [hit["customer_id"] for hit in data["hits"]] == ["cus_1"] and data["focus_order"] == ORDER_NUMBER
    assert data["feedback"]["available"] is False
    # the store's events of the customer's orders come first, from the real broker; others' and broken ones not
    store = [item for item in data["timeline"] if item["type"] == "store_event"]
    assert [(item["event_type"], item["order"], item["in_focus"]) for item in store] == [
        ("order.placed", ORDER_NUMBER, True), ("payment.succeeded", ORDER_NUMBER, True)]
    assert {"label": "order name", "value": ORDER_NUMBER} in store[0]["details"]
    assert data["timeline"][0]["type"] == "store_event" and data["store_events"] is None
    assert [row["skill"] for row in tickets["skills"]] == ["delivery", "stock"]
    assert PHONE not in location and "4155550123" not in location
    assert parse_qs(urlsplit(location).query)["customer"] == ["cus_1"]
    assert "out of stock" in by_phone
    assert "Nothing found for #4040" in nothing
    for text in (page, json.dumps(data), by_phone):
        assert PHONE not in text and EMAIL not in text and "+14155550123" not in text
        assert SUPPORT_PHONE not in text and "4155550123" not in text.replace("*", "")


async def test_feedback_and_csat_from_the_broker(story_url: str, kafka: str, topic_prefix: str) -> None:
    """Real `feedback.given` events on customer-actions: CSAT per incident kind and per ISO week in the API and
    on the page, and the customer's answer on their timeline with its words masked."""
    await publish_store_events(kafka, topic_prefix, database_url=story_url)
    words = f"the driver was rude, call {PHONE}"
    week47, week48 = AT + timedelta(hours=2), AT + timedelta(days=1, hours=2)  # Sunday 2026-W47, Monday W48
    await publish_feedback(kafka, topic_prefix, [
        feedback_given("ntf-q1", score=4, at=week47, text="first thoughts"),
        feedback_given("ntf-q1", score=2, at=week47 + timedelta(minutes=1), text=words),  # the latest stands
        feedback_given("ntf-q1", score=2, at=week47 + timedelta(minutes=1), text=words),  # redelivered
        feedback_given("ntf-q2", score=5, at=week48, kind="not_shipped", incident_id="inc-other",
                       customer_id="cus_2", order_id="ord-9", order_number="#1009"),
        feedback_given("ntf-q3", score=4, at=week48, kind="not_shipped", incident_id="inc-late",
                       order_id="ord-2", order_number="#1002", channel="email"),
    ])
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix, database_url=story_url)
    async with dashboard(common) as url, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(f"{url}/api/story", params={"q": ORDER_NUMBER}) as response:
            assert response.status == 200
            data = await response.json()
        async with session.get(f"{url}/story", params={"q": ORDER_NUMBER}) as response:
            assert response.status == 200
            page = await response.text()

    feedback = data["feedback"]
    assert feedback["available"] is True and feedback["error"] is None
    assert feedback["csat"]["overall"] == {"answers": 3, "satisfied": 2, "csat": 0.6667, "average": 3.67}
    assert feedback["csat"]["by_kind"] == [
        {"kind": "not_shipped", "answers": 2, "satisfied": 2, "csat": 1.0, "average": 4.5},
        {"kind": "stockout", "answers": 1, "satisfied": 0, "csat": 0.0, "average": 2.0}]
    assert feedback["csat"]["by_week"] == [
        {"week": "2026-W48", "answers": 2, "satisfied": 2, "csat": 1.0, "average": 4.5},
        {"week": "2026-W47", "answers": 1, "satisfied": 0, "csat": 0.0, "average": 2.0}]
    mine = [item for item in data["timeline"] if item["type"] == "feedback"]
    assert [(item["score"], item["order"], item["incident_id"], item["in_focus"]) for item in mine] == [
        (2, ORDER_NUMBER, "inc-stock", True), (4, "#1002", "inc-late", False)]
    assert mine[0]["text"].startswith("the driver was rude, call +") and "4155550123" not in mine[0]["text"]
    assert "No feedback recorded" not in page and 'id="csat-overall"' in page
    assert "66.7 %" in page and "2026-W48" in page and "2026-W47" in page
    assert 'class="feedback-words"' in page
    assert 'data-type="feedback"' in page and "2/5" in page and "the driver was rude" in page
    for text in (page, json.dumps(data)):
        assert PHONE not in text and "4155550123" not in text.replace("*", "")


async def test_care_tables_in_a_database_of_their_own(tmp_path: Path) -> None:
    notifier_url = await migrated_ledger_url("sqlite", str(tmp_path / "notifier"), None)
    care_url = await migrated_story_url("sqlite", str(tmp_path / "care"), None)
    await seed_story(care_url)  # care's rows are read from here; the notifier's ledger stays empty
    ledger = LedgerReader(notifier_url)
    reader = StoryReader(ledger, care_url=care_url, key=KEY)
    try:
        story = await reader.story("cus_1")
        assert story.deliveries == [] and story.care_missing is None
        assert [case["ticket_id"] for case in story.cases] == ["4711"]
        assert [reply["event_id"] for reply in story.replies] == ["evt-reply-1"]
        assert len(await reader.open_cases()) == 2
        assert await _found(reader, "cus_2") == {"cus_2": ("customer id",)}
    finally:
        await reader.close()
        await ledger.close()
