"""The dashboard in a real browser: the token gate, then an incident produced to the real broker on the page."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import CloudEvent
from tests.support.dashboard import create_topics, incident_detected, migrated_ledger_url
from tests.support.kafka_io import produce
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

TOKEN = "e2e-dashboard-token-0123456789"


def _run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on its own loop in another thread, apart from Playwright's."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=120)


def _publish(kafka: str, topic: str, event: CloudEvent) -> None:
    _run(lambda: produce(kafka, topic, [(event.key(), event.to_bytes())]))


def test_incident_on_the_page_behind_the_token(kafka: str, topic_prefix: str, tmp_path: Path,
                                               browser: Any) -> None:
    from playwright.sync_api import expect

    ledger = _run(lambda: migrated_ledger_url("sqlite", str(tmp_path), None))
    _run(lambda: create_topics(kafka, topic_prefix, database_url=ledger))
    incidents = f"{topic_prefix}incidents"
    first, second = f"inc-e2e-{uuid.uuid4().hex[:8]}", f"inc-e2e-{uuid.uuid4().hex[:8]}"
    _publish(kafka, incidents, incident_detected(first, at=datetime.now(UTC), kind="tracking_stalled",
                                                 product="Gooseneck Kettle"))
    env = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
        "FOREWARN_DATABASE_URL": ledger, "FOREWARN_DASHBOARD_PORT": "0", "FOREWARN_DASHBOARD_TOKEN": TOKEN,
        "FOREWARN_DASHBOARD_REFRESH_S": "1",
    }
    service = ServiceProcess("services.dashboard", env, tmp_path).start(timeout=60)
    context = browser.new_context()
    try:
        found = re.search(r"dashboard ready on (http://\S+/)", service.log())
        assert found, service.log()
        base = found.group(1)
        page = context.new_page()

        # The gate: no token, a wrong token, then the right one, which becomes a cookie.
        response = page.goto(base)
        assert response is not None and response.status == 401
        assert "needs its token" in page.content()
        response = page.goto(f"{base}?token=not-the-token-0123456789")
        assert response is not None and response.status == 401
        response = page.goto(f"{base}?token={TOKEN}")
        assert response is not None and response.status == 200
        assert page.url == base  # the token does not linger in the address bar or the history
        (cookie,) = [c for c in context.cookies() if c["name"] == "forewarn_dashboard"]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert cookie["value"] != TOKEN
        assert page.evaluate("document.cookie") == ""  # scripts cannot read it
        # From here on the page must run clean: no script error, no CSP refusal, no failed request.
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: problems.append(f"console: {message.text}")
                if message.type == "error" else None)
        page.reload()

        # The incident produced before the page was opened, rendered by the server.
        panel = page.locator("#incidents table[data-rows=incidents] tbody")
        expect(panel).to_contain_text(first)
        expect(panel).to_contain_text("tracking_stalled")
        expect(panel).to_contain_text("Gooseneck Kettle")

        # One produced while the page is open arrives through the page's polling of /api/incidents.
        _publish(kafka, incidents, incident_detected(second, at=datetime.now(UTC), kind="stockout",
                                                     escalate=True, tier=2))
        expect(panel).to_contain_text(second, timeout=30_000)
        expect(page.locator("#incidents .status")).not_to_contain_text("unavailable")
        row = panel.locator("tr", has_text=second)
        expect(row.locator("td[data-field=kind]")).to_have_text("stockout")
        expect(row.locator("td[data-field=escalation_tier]")).to_have_text("2")
        assert problems == [], problems

        # Another browser without the cookie is turned away, API included.
        stranger = browser.new_context()
        try:
            assert stranger.request.get(f"{base}api/incidents").status == 401
            assert stranger.request.get(f"{base}healthz").status == 200
        finally:
            stranger.close()
    finally:
        context.close()
        service.stop()
    assert "Traceback" not in service.log(), service.log()[-3000:]
