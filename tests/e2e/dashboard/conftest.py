"""A real browser for the dashboard's end-to-end tests: Playwright driving the system's Chromium.

Playwright's own browser download is not used (its CDN may be unreachable); Debian's `chromium`
package is. Anything missing fails the test with what to install; it is never skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("FOREWARN_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        pytest.fail(f"Playwright for Python is missing ({exc}): .venv/bin/pip install playwright", pytrace=False)
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium "
                    "(or point FOREWARN_TEST_CHROMIUM at a Chromium binary)", pytrace=False)
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        except Error as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start under Playwright: {exc}", pytrace=False)
        try:
            yield launched
        finally:
            launched.close()
