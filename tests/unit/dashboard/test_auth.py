"""The token rule: loopback without a token is fine; beyond loopback a token is required; constant-time checks."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import SecretStr, ValidationError

from services.common.settings import CommonSettings
from services.dashboard import auth
from services.dashboard.auth import (
    COOKIE_NAME,
    Access,
    decide,
    exposure_problem,
    is_loopback,
    session_value,
    token_middleware,
)
from services.dashboard.bootstrap import build
from services.dashboard.settings import DashboardSettings

pytestmark = pytest.mark.unit

TOKEN = "s3cret-token-for-tests-only"
EVERYWHERE = "0.0.0.0"  # noqa: S104 - the address these tests make the dashboard refuse without a token


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("LOCALHOST", True), (EVERYWHERE, False), ("", False), ("::", False), ("10.0.0.5", False),
     ("192.168.1.2", False), ("dashboard.internal", False), ("localhost.evil.example", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_without_token_is_fine() -> None:
    settings = DashboardSettings(host="127.0.0.1")
    assert settings.token is None
    assert exposure_problem("127.0.0.1", None) is None


@pytest.mark.parametrize("host", [EVERYWHERE, "10.0.0.5", "dashboard.internal", "::"])
def test_beyond_loopback_without_token_refuses(host: str) -> None:
    with pytest.raises(ValidationError, match="FOREWARN_DASHBOARD_TOKEN"):
        DashboardSettings(host=host)
    with pytest.raises(ValidationError, match="beyond loopback"):
        DashboardSettings(host=host, token="")  # an empty token is no token


def test_beyond_loopback_needs_a_long_enough_token() -> None:
    with pytest.raises(ValidationError, match="shorter than 16"):
        DashboardSettings(host=EVERYWHERE, token="short")
    assert DashboardSettings(host=EVERYWHERE, token=TOKEN).token_value == TOKEN


def test_environment_sets_host_token_and_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_DASHBOARD_HOST", EVERYWHERE)
    monkeypatch.setenv("FOREWARN_DASHBOARD_TOKEN", TOKEN)
    monkeypatch.setenv("FOREWARN_DASHBOARD_SERVICES", "notifier, returns")
    settings = DashboardSettings()
    assert (settings.host, settings.token_value, settings.services) == (EVERYWHERE, TOKEN, ("notifier", "returns"))
    assert TOKEN not in repr(settings)


def test_production_refuses_a_placeholder_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_ENV", "production")
    with pytest.raises(ValidationError, match="real secret"):
        DashboardSettings(token="changeme")


def test_build_refuses_settings_that_slipped_past_validation() -> None:
    unchecked = DashboardSettings.model_construct(host=EVERYWHERE, token=None)
    with pytest.raises(ValueError, match="beyond loopback"):
        build(unchecked, CommonSettings())


@pytest.mark.parametrize(
    ("kwargs", "access"),
    [
        ({"token": None}, Access.OPEN),
        ({"path": "/healthz"}, Access.OPEN),
        ({}, Access.DENIED),
        ({"authorization": f"Bearer {TOKEN}"}, Access.GRANTED),
        ({"authorization": f"bearer  {TOKEN} "}, Access.GRANTED),
        ({"authorization": "Bearer wrong"}, Access.DENIED),
        ({"authorization": f"Basic {TOKEN}"}, Access.DENIED),
        ({"authorization": "Bearer wrong", "cookie": session_value(TOKEN)}, Access.DENIED),
        ({"query_token": TOKEN}, Access.LOGIN),
        ({"query_token": "wrong"}, Access.DENIED),
        ({"query_token": ""}, Access.DENIED),
        ({"cookie": session_value(TOKEN)}, Access.GRANTED),
        ({"cookie": TOKEN}, Access.DENIED),  # the cookie holds a derived value, not the token
        ({"cookie": session_value("another-token-entirely")}, Access.DENIED),
        ({"cookie": "ünïcode"}, Access.DENIED),
    ],
)
def test_decide(kwargs: dict[str, str | None], access: Access) -> None:
    request: dict[str, str | None] = {"path": "/api/topics", "token": TOKEN, "authorization": None, "cookie": None,
                                      "query_token": None, **kwargs}
    assert decide(**request) is access  # type: ignore[arg-type]


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def _call(path: str, headers: dict[str, str] | None = None, token: str | None = TOKEN) -> web.StreamResponse:
    request = make_mocked_request("GET", path, headers=headers or {})
    middleware = token_middleware(token)
    return await middleware(request, _ok)


async def test_no_token_configured_lets_everything_through() -> None:
    assert (await _call("/api/incidents", token=None)).status == 200


async def test_wrong_token_is_401_right_token_is_200() -> None:
    denied = await _call("/api/topics", {"Authorization": "Bearer wrong"})
    assert denied.status == 401
    assert denied.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await _call("/api/topics")).status == 401
    assert (await _call("/")).status == 401
    assert (await _call("/metrics")).status == 401
    assert (await _call("/api/topics", {"Authorization": f"Bearer {TOKEN}"})).status == 200


async def test_healthz_needs_no_token() -> None:
    assert (await _call("/healthz")).status == 200


async def test_query_token_login_sets_a_strict_httponly_cookie_and_drops_the_token() -> None:
    response = await _call(f"/?token={TOKEN}&view=all")
    assert response.status == 303
    assert response.headers["Location"] == "/?view=all"
    cookie = response.cookies[COOKIE_NAME]
    assert cookie.value == session_value(TOKEN) != TOKEN
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert (await _call("/", {"Cookie": f"{COOKIE_NAME}={cookie.value}"})).status == 200
    assert (await _call("/?token=nope")).status == 401


async def test_login_redirect_stays_on_this_host() -> None:
    response = await _call(f"//evil.example/api/topics?token={TOKEN}")
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//"), location


@pytest.mark.parametrize(
    "send",
    [
        lambda: _call("/api/topics", {"Authorization": f"Bearer {TOKEN}"}),
        lambda: _call(f"/?token={TOKEN}"),
        lambda: _call("/", {"Cookie": f"{COOKIE_NAME}={session_value(TOKEN)}"}),
        lambda: _call("/", {"Cookie": f"{COOKIE_NAME}=forged"}),
    ],
)
async def test_every_credential_is_compared_in_constant_time(
    send: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    await send()  # type: ignore[misc]
    assert calls, "the credential was not checked with hmac.compare_digest"
    assert all(isinstance(a, bytes) and len(a) == len(b) == 32 for a, b in calls)  # digests: no length leak


def test_secret_str_token_is_not_logged() -> None:
    settings = DashboardSettings(token=SecretStr(TOKEN))
    assert TOKEN not in str(settings.model_dump())
