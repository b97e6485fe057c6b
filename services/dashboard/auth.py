"""The token rule: loopback needs none; beyond loopback a token is required, and checked in constant time.

`decide` is the rule as a pure function of the request's parts; `token_middleware` applies it.
Every route but /healthz needs the token when one is configured: a bearer header (scripts), or a
`?token=` login that trades the token for an HttpOnly, SameSite=Strict cookie (browsers)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from yarl import URL

__all__ = [
    "COOKIE_NAME",
    "MIN_TOKEN_CHARS",
    "OPEN_PATHS",
    "Access",
    "decide",
    "exposure_problem",
    "is_loopback",
    "session_value",
    "token_matches",
    "token_middleware",
]

COOKIE_NAME = "forewarn_dashboard"
MIN_TOKEN_CHARS = 16
OPEN_PATHS = frozenset({"/healthz"})
_SESSION_CONTEXT = b"forewarn-dashboard-session-v1"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1 and the name `localhost`.

    Any other name may resolve anywhere, and an empty host or 0.0.0.0 binds every interface."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, token: str | None) -> str | None:
    """Why the dashboard must not start bound to `host` with this token, or None when it may."""
    if is_loopback(host):
        return None
    if not token:
        return (f"the dashboard would listen on {host!r}, beyond loopback, without a token: set "
                f"FOREWARN_DASHBOARD_TOKEN (at least {MIN_TOKEN_CHARS} characters) or bind 127.0.0.1")
    if len(token) < MIN_TOKEN_CHARS:
        return (f"the dashboard would listen on {host!r}, beyond loopback, with a token shorter than "
                f"{MIN_TOKEN_CHARS} characters: set a longer FOREWARN_DASHBOARD_TOKEN")
    return None


def _same(given: str, expected: str) -> bool:
    """Constant-time equality; hashing first hides the expected length as well."""
    return hmac.compare_digest(hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
                               hashlib.sha256(expected.encode("utf-8")).digest())


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and _same(given, token)


def session_value(token: str) -> str:
    """The login cookie's value: derived from the token, so the token itself never sits in the browser."""
    return hmac.new(token.encode("utf-8"), _SESSION_CONTEXT, hashlib.sha256).hexdigest()


class Access(enum.Enum):
    OPEN = "open"  # no token configured, or a path that never needs one
    GRANTED = "granted"
    LOGIN = "login"  # a right `?token=`: set the cookie, and drop the token from the address
    DENIED = "denied"


def decide(
    *, path: str, token: str | None, authorization: str | None, cookie: str | None, query_token: str | None,
) -> Access:
    """Whether a request may pass. A credential that is present must be right: a wrong bearer header
    is refused even when a good cookie rides along."""
    if token is None or path in OPEN_PATHS:
        return Access.OPEN
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return Access.DENIED
        return Access.GRANTED if token_matches(credentials.strip(), token) else Access.DENIED
    if query_token is not None:
        return Access.LOGIN if token_matches(query_token, token) else Access.DENIED
    if cookie is not None and _same(cookie, session_value(token)):
        return Access.GRANTED
    return Access.DENIED


def token_middleware(token: str | None) -> Middleware:
    """The aiohttp middleware applying `decide` to every request."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        access = decide(path=request.path, token=token, authorization=request.headers.get("Authorization"),
                        cookie=request.cookies.get(COOKIE_NAME), query_token=request.query.get("token"))
        if access is Access.DENIED:
            return _unauthorized(request)
        if access is Access.LOGIN and token is not None:
            rest = [(name, value) for name, value in request.query.items() if name != "token"]
            # Same path, on this host: a path like //elsewhere must not become a protocol-relative redirect.
            location = URL.build(path="/" + request.path.lstrip("/"), query=rest)
            response = web.Response(status=303, headers={"Location": str(location)})
            response.set_cookie(COOKIE_NAME, session_value(token), httponly=True, samesite="Strict",
                                secure=request.secure, path="/")
            return response
        return await handler(request)

    return require_token


def _unauthorized(request: web.Request) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="forewarn-dashboard"'}
    if request.path.startswith("/api/") or request.path == "/metrics":
        return web.json_response({"error": "a token is required"}, status=401, headers=headers)
    text = ("401: this dashboard needs its token. Open it once as /?token=<FOREWARN_DASHBOARD_TOKEN> "
            "(a cookie keeps you signed in), or send Authorization: Bearer <token>.\n")
    return web.Response(status=401, text=text, headers=headers)
