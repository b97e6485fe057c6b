"""A customer's story in a real browser: order #1001 found by its number behind the token, its SMS bubble, the
customer's reply, the care ticket and their feedback score on one timeline, CSAT per incident kind and per
week, nothing unmasked; a screenshot is saved.

The ledger is real (SQLite), written through the notifier's and care's ledger APIs on tables their migrations
built. The screenshot is `customer-story.png` under the test's tmp_path (pytest keeps the last few runs under
its basetemp), and a copy goes to `$FOREWARN_TEST_ARTIFACTS` when that is set."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.dashboard import EMAIL, PHONE
from tests.support.feedback import feedback_given, publish_feedback
from tests.support.processes import ServiceProcess
from tests.support.story import AT, ORDER_NUMBER, SUPPORT_PHONE, migrated_story_url, publish_store_events, seed_story

pytestmark = pytest.mark.e2e

TOKEN = "e2e-story-token-0123456789abcdef"


def _run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on its own loop in another thread, apart from Playwright's."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=120)


def test_order_story_in_the_browser(kafka: str, topic_prefix: str, tmp_path: Path, browser: Any) -> None:
    from playwright.sync_api import expect

    ledger = _run(lambda: migrated_story_url("sqlite", str(tmp_path), None))
    _run(lambda: seed_story(ledger))
    _run(lambda: publish_store_events(kafka, topic_prefix, database_url=ledger))
    answer = feedback_given("ntf-q1", score=2, at=AT + timedelta(days=1), text=f"the driver was rude, {PHONE}")
    _run(lambda: publish_feedback(kafka, topic_prefix, [answer]))
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
        "FOREWARN_DATABASE_URL": ledger, "FOREWARN_DASHBOARD_PORT": "0", "FOREWARN_DASHBOARD_TOKEN": TOKEN,
    }
    service = ServiceProcess("services.dashboard", env, tmp_path).start(timeout=60)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        found = re.search(r"dashboard ready on (http://\S+/)", service.log())
        assert found, service.log()
        base = found.group(1)
        page = context.new_page()
        assert page.goto(f"{base}story").status == 401  # type: ignore[union-attr]
        assert page.goto(f"{base}?token={TOKEN}").status == 200  # type: ignore[union-attr]
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: problems.append(f"console: {message.text}")
                if message.type == "error" else None)

        # From the dashboard to the story page, and the order found by the store's number.
        page.get_by_role("link", name="Customer story").first.click()
        page.get_by_role("searchbox").fill(ORDER_NUMBER)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#customer h2")).to_have_text("Customer cus_1")
        timeline = page.locator("ol.timeline")
        expect(timeline.locator("li.item-store_event").first).to_contain_text("order.placed · order #1001")
        bubble = timeline.locator("li.in-focus .sms-bubble")
        expect(bubble).to_contain_text("is out of stock")
        expect(bubble).to_contain_text("<script>alert('x')</script>")  # the text as sent, shown as text
        expect(timeline.locator("li.item-message.in-focus .state")).to_have_text("delivered")
        expect(timeline.locator(".reply-bubble")).to_contain_text("2 please, and call me on +*******0123 <b>now</b>")
        expect(timeline.locator("li.item-choice")).to_contain_text("refund")
        ticket = timeline.locator("li.item-ticket .ticket")
        expect(ticket).to_contain_text("#4711")
        expect(ticket).to_contain_text("skill stock")
        expect(ticket).to_contain_text("priority high")
        expect(timeline.locator(".email-preview .subject")).to_contain_text(
            "Order #1002: a short delay, a***@example.com")
        expect(page.locator("#tickets td[data-field=skill]")).to_have_text(["delivery", "stock"])
        expect(timeline.locator("li.item-feedback.in-focus")).to_contain_text("2/5 on stockout · order #1001")
        expect(timeline.locator(".feedback-words")).to_have_text("the driver was rude, +*******0123")
        expect(page.locator("#csat-overall [data-field=csat]")).to_have_text("0.0 %")
        expect(page.locator("[data-rows=csat-by-kind] td[data-field=kind]")).to_have_text(["stockout"])
        expect(page.locator("[data-rows=csat-by-week] td[data-field=week]")).to_have_text(["2026-W48"])
        assert page.locator("#customer [data-field=phone]").inner_text() == "+*******0123"
        screenshot = tmp_path / "customer-story.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
        if os.environ.get("FOREWARN_TEST_ARTIFACTS"):
            artifacts = Path(os.environ["FOREWARN_TEST_ARTIFACTS"])
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copy(screenshot, artifacts / screenshot.name)
        html = page.content()
        for whole in (PHONE, EMAIL, SUPPORT_PHONE, "4155550123"):
            assert whole not in html

        # A whole phone number typed in is matched, and leaves the address bar and history at once.
        page.get_by_role("searchbox").fill("+1 415-555-0123")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#customer h2")).to_have_text("Customer cus_1")
        assert "4155550123" not in page.url.replace("%20", "").replace("-", "")
        assert page.get_by_role("searchbox").input_value() == "+*******0123"
        assert problems == [], problems
    finally:
        context.close()
        service.stop()
    assert "Traceback" not in service.log(), service.log()[-3000:]
