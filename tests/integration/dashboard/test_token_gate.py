"""The token gate and the read-only surface over real HTTP; the process refuses to listen beyond loopback bare."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from services.common.settings import CommonSettings
from services.dashboard.auth import COOKIE_NAME
from tests.support.dashboard import dashboard

pytestmark = pytest.mark.integration

TOKEN = "integration-token-0123456789"
TIMEOUT = aiohttp.ClientTimeout(total=60)
ROOT = Path(__file__).resolve().parents[3]


async def test_token_gate(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix,
                            database_url=f"sqlite+aiosqlite:///{tmp_path}/none.db")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with dashboard(common, token=TOKEN) as url, aiohttp.ClientSession(timeout=TIMEOUT) as anonymous:
        for path in ("/", "/api/topics", "/api/lag", "/api/incidents", "/api/notifications", "/api/dead-letters",
                     "/metrics", "/static/dashboard.js"):
            async with anonymous.get(url + path) as response:
                assert response.status == 401, path
            async with anonymous.get(url + path, headers={"Authorization": "Bearer wrong-token-0123456789"}) as r:
                assert r.status == 401, path
        async with anonymous.get(f"{url}/healthz") as response:
            assert response.status == 200
        async with anonymous.get(f"{url}/api/topics", headers=bearer) as response:
            assert response.status == 200
            assert (await response.json())["topics"]
        async with anonymous.get(f"{url}/metrics", headers=bearer) as response:
            assert response.status == 200
            assert "forewarn_topic_messages" in await response.text()
        # Read-only: nothing but GET (and HEAD) is routed.
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            async with anonymous.request(method, f"{url}/api/topics", headers=bearer) as response:
                assert response.status == 405, method

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # an IP host
            async with browser.get(f"{url}/?token={TOKEN}", allow_redirects=False) as response:
                assert response.status == 303
                assert response.headers["Location"] == "/"
                cookie_header = response.headers["Set-Cookie"]
                assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header
                assert TOKEN not in cookie_header
            async with browser.get(f"{url}/") as response:  # the cookie jar sends the cookie back
                assert response.status == 200
                assert "Forewarn" in await response.text()
                assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
                assert response.headers["Cache-Control"] == "no-store"
            async with browser.get(f"{url}/api/incidents") as response:
                assert response.status == 200
            # A login on a path like //elsewhere stays on this host.
            async with browser.get(URL(f"{url}//evil.example/?token={TOKEN}", encoded=True),
                                   allow_redirects=False) as response:
                assert response.status == 303
                assert response.headers["Location"] == "/evil.example/"
            assert browser.cookie_jar.filter_cookies(URL(url))[COOKIE_NAME].value != TOKEN


def test_process_refuses_to_listen_beyond_loopback_without_token(tmp_path: Path) -> None:
    env = {**os.environ, "FOREWARN_DASHBOARD_HOST": "0.0.0.0",  # noqa: S104 - refused, never bound "FOREWARN_DASHBOARD_PORT": "0",
           "FOREWARN_DASHBOARD_TOKEN": "", "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/none.db"}
    result = subprocess.run([sys.executable, "-m", "services.dashboard"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "refuses to start" in result.stderr
    assert "beyond loopback" in result.stderr and "FOREWARN_DASHBOARD_TOKEN" in result.stderr
    assert "ready" not in result.stderr
