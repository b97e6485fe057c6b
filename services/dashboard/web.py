"""The web edge: aiohttp routes for the page, the JSON API, /metrics and /healthz. Read-only: GET only.

The page is rendered on the server (Jinja2, autoescaped) from the same view models as the API; a
small script then polls the API and refreshes each table. Responses carry a strict Content Security
Policy (scripts and styles from this origin only) and are never cached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler, Middleware
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.dashboard.auth import token_middleware
from services.dashboard.kafka_reader import KafkaUnavailable
from services.dashboard.ledger_reader import LedgerUnavailable
from services.dashboard.metrics import Instruments
from services.dashboard.panels import Panels
from services.dashboard.story_pages import add_story_routes
from services.dashboard.story_reader import StoryReader

__all__ = ["PANELS", "AccessLogger", "cell", "create_app"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
PANELS: dict[str, str] = {
    "topics": "/api/topics", "lag": "/api/lag", "incidents": "/api/incidents",
    "notifications": "/api/notifications", "dead_letters": "/api/dead-letters",
}
SOURCES = {"topics": "kafka", "lag": "kafka", "incidents": "kafka", "dead_letters": "kafka", "notifications": "ledger"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store",
}

PANELS_KEY = web.AppKey("panels", Panels)
INSTRUMENTS_KEY = web.AppKey("instruments", Instruments)
JINJA_KEY = web.AppKey("jinja", Environment)
REFRESH_KEY = web.AppKey("refresh_ms", int)


def cell(value: Any) -> str:
    """How a value shows in a table cell (the page script formats alike)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | dict):
        return str(len(value))
    return str(value)


def create_app(panels: Panels, instruments: Instruments, *, token: str | None, refresh_s: float,
               story: StoryReader | None = None) -> web.Application:
    """The app; with `story`, the customer's story too (`/story`, `/api/story`, `/api/tickets`)."""
    app = web.Application(middlewares=[_guarded_headers(instruments), token_middleware(token)])
    app[PANELS_KEY] = panels
    app[INSTRUMENTS_KEY] = instruments
    app[REFRESH_KEY] = int(refresh_s * 1000)
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["cell"] = cell
    app[JINJA_KEY] = environment
    app.router.add_get("/", page, name="page")
    for name, path in PANELS.items():
        app.router.add_get(path, _api(name), name=f"api-{name}")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/favicon.ico", no_icon, name="favicon")
    app.router.add_static("/static", HERE / "static", name="static")
    if story is not None:
        add_story_routes(app, story, environment)
    return app


async def _panel(app: web.Application, name: str) -> dict[str, Any]:
    """One panel's data; records whether its source answered."""
    panels = app[PANELS_KEY]
    figures = app[INSTRUMENTS_KEY].figures
    read: Callable[[], Awaitable[dict[str, Any]]] = getattr(panels, name)
    try:
        data = await read()
    except (KafkaUnavailable, LedgerUnavailable):
        figures.up[SOURCES[name]] = False
        raise
    figures.up[SOURCES[name]] = True
    return data


def _api(name: str) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response(await _panel(request.app, name))
        except (KafkaUnavailable, LedgerUnavailable) as exc:
            logger.warning("%s panel: %s", name, exc)
            return web.json_response({"error": str(exc)}, status=503)

    answer.__name__ = f"api_{name}"
    return answer


async def page(request: web.Request) -> web.StreamResponse:
    app = request.app
    results = await asyncio.gather(*(_panel(app, name) for name in PANELS), return_exceptions=True)
    data: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}
    for name, result in zip(PANELS, results, strict=True):
        if isinstance(result, KafkaUnavailable | LedgerUnavailable):
            data[name], errors[name] = None, str(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            data[name] = result
    html = app[JINJA_KEY].get_template("index.html.j2").render(
        panels=data, errors=errors, sources=PANELS, refresh_ms=app[REFRESH_KEY])
    return web.Response(text=html, content_type="text/html")


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text format; the figures are read afresh first (a source that is down reports 0 up)."""
    app = request.app
    panels = app[PANELS_KEY]
    figures = app[INSTRUMENTS_KEY].figures

    async def read_kafka() -> None:
        await panels.topics()
        await panels.lag()

    kafka, ledger = await asyncio.gather(read_kafka(), panels.state_counts(), return_exceptions=True)
    for source, outcome in (("kafka", kafka), ("ledger", ledger)):
        if isinstance(outcome, BaseException) and not isinstance(outcome, KafkaUnavailable | LedgerUnavailable):
            raise outcome
        figures.up[source] = not isinstance(outcome, BaseException)
    body = generate_latest(app[INSTRUMENTS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness only: it needs no token, so it says nothing about the data."""
    return web.json_response({"status": "ok"})


async def no_icon(request: web.Request) -> web.StreamResponse:
    """Browsers ask for an icon on every page; answering spares the log a 404 each time."""
    return web.Response(status=204)


def _guarded_headers(instruments: Instruments) -> Middleware:
    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "unmatched"
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            instruments.requests.labels(route, str(exc.status)).inc()
            raise
        response.headers.update(SECURITY_HEADERS)
        instruments.requests.labels(route, str(response.status)).inc()
        return response

    return headers


class AccessLogger(AbstractAccessLogger):
    """Method, path (never the query: it may hold the login token), status and time, at debug level."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %d %.3fs", request.method, request.path, response.status, time)
