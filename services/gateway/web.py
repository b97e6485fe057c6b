"""The HTTP edge: aiohttp handlers that read the raw body, verify, map, and hand the result to the intake.

Answers: 200 published (or already published), 202 a genuine delivery we ignore (or one older
than what we already accepted for its resource), 401 an unverifiable request or one outside its
replay window (nothing published), 400 a request that cannot be read, or a verified body that
does not map (its raw bytes go to the gateway's dead-letter topic; Shopify and Stripe get 200
instead, see `DEAD_LETTER_STATUS`), 404 a link from an email whose signed token does not verify
(forged, altered or expired: nothing published), 413 too large, 503 not configured or not finished
now (the provider retries). Bad input is never a 5xx: whatever a check or a mapping raises on a request
it did not foresee is that request's fault, answered like any other refusal.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.clock import Clock
from services.common.links import ChoiceLink, FeedbackLink, LinkSigner
from services.common.metrics import HANDLER_SECONDS
from services.common.settings import DEV_LINK_SECRET
from services.gateway.choice_pages import choose_page, chosen_page, page_language, rate_page, rated_page
from services.gateway.intake import Intake, Unavailable
from services.gateway.mapping import (
    Ignored,
    MappingError,
    Promises,
    Publish,
    Result,
    map_aftership,
    map_choice_link,
    map_feedback_link,
    map_sendgrid,
    map_shopify,
    map_stripe,
    map_twilio_inbound,
    map_twilio_status,
    map_unsubscribe,
)
from services.gateway.metrics import IGNORED, WEBHOOKS
from services.gateway.settings import GatewaySettings
from services.gateway.signatures import (
    SignatureError,
    verify_aftership,
    verify_sendgrid,
    verify_shopify,
    verify_stripe,
    verify_twilio,
)

__all__ = ["DEAD_LETTER_STATUS", "GATEWAY", "MAX_EVENT_BYTES", "Gateway", "create_app"]

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
ONE_CLICK = ("List-Unsubscribe", "One-Click")
T = TypeVar("T")
LOW_SCORE = 2
"""A score at or below this hears we are sorry (as the notifier's SMS thanks say it)."""
MAX_EVENT_BYTES = 1_000_000
"""An event larger than this could never be published (the producer's limit is a little above): such a body is
dead-lettered instead of failing the publish, and so the delivery, for ever."""
DEAD_LETTER_STATUS: Mapping[str, int] = {"shopify": 200, "stripe": 200}
"""What a verified body that went to `gateway.dlq` is answered, per source (400 for the others).

Shopify retries any non-2xx 8 times over 4 hours with the same payload and deletes a subscription
after 8 consecutive failures, which would cut off every later order; Stripe retries for up to three
days and disables endpoints that keep failing. Neither retry can succeed (the same bytes map the
same way), and the body is already kept, so they get a 2xx. AfterShip, Twilio and SendGrid retry for
a bounded time or not at all, so they get the 400 that shows in their delivery logs."""


@dataclass(frozen=True)
class Gateway:
    """Everything the handlers use, built once (bootstrap) and handed in."""

    settings: GatewaySettings
    intake: Intake
    clock: Clock
    promises: Promises
    sendgrid_key: Any | None = None
    links: LinkSigner = field(default_factory=lambda: LinkSigner(DEV_LINK_SECRET))
    """Verifies the signed links in our emails (bootstrap builds it from FOREWARN_LINK_SECRET)."""


GATEWAY = web.AppKey("gateway", Gateway)
Verify = Callable[[bytes], None]
Map = Callable[[bytes], Result]


def create_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=gateway.settings.max_body_bytes)
    app[GATEWAY] = gateway
    handlers = _Handlers(gateway)
    app.router.add_post("/webhooks/shopify", handlers.shopify)
    app.router.add_post("/webhooks/stripe", handlers.stripe)
    app.router.add_post("/webhooks/aftership", handlers.aftership)
    app.router.add_post("/webhooks/twilio/status", handlers.twilio_status)
    app.router.add_post("/webhooks/twilio/inbound", handlers.twilio_inbound)
    app.router.add_post("/webhooks/sendgrid/events", handlers.sendgrid)
    app.router.add_get("/unsubscribe/{token}", handlers.unsubscribe_page)
    app.router.add_post("/unsubscribe/{token}", handlers.unsubscribe)
    app.router.add_get("/choices/{token}", handlers.choice_page)
    app.router.add_post("/choices/{token}", handlers.choose)
    app.router.add_get("/feedback/{token}", handlers.feedback_page)
    app.router.add_post("/feedback/{token}", handlers.rate)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/metrics", handlers.metrics)
    return app


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


class _Handlers:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.intake = gateway.intake

    # -- the one path every webhook takes ----------------------------------------------------
    async def _webhook(
        self, request: web.Request, source: str, secret_set: bool, verify: Verify, map_: Map, *,
        context: Mapping[str, str] | None = None, ok: Callable[[], web.Response] | None = None,
    ) -> web.Response:
        started = time.perf_counter()
        try:
            return await self._run(request, source, secret_set, verify, map_, context or {}, ok)
        finally:
            HANDLER_SECONDS.labels(service="gateway", topic=source).observe(time.perf_counter() - started)

    async def _run(
        self, request: web.Request, source: str, secret_set: bool, verify: Verify, map_: Map,
        context: Mapping[str, str], ok: Callable[[], web.Response] | None,
    ) -> web.Response:
        if not secret_set:
            WEBHOOKS.labels(source=source, outcome="not_configured").inc()
            return _text(503, f"{source} webhooks are not configured")
        body = await self._body(request, source)
        try:
            verify(body)
        except SignatureError as exc:
            return self._unauthorized(source, exc.reason)
        except Exception as exc:  # a check that choked on input it did not foresee proves nothing
            logger.warning("refused a %s webhook: its signature check failed with %s", source, type(exc).__name__)
            return self._unauthorized(source, "signature could not be checked")
        try:
            try:
                result = _mapped(map_, body)
            except MappingError as exc:
                return await self._dead_letter(request, source, body, exc, context)
            if isinstance(result, Ignored):
                WEBHOOKS.labels(source=source, outcome="ignored").inc()
                IGNORED.labels(kind=result.kind).inc()
                logger.info("ignored a %s webhook: %s", source, result.reason)
                return _text(202, f"ignored: {result.reason}")
            refusal = self._out_of_window(source, result)
            if refusal is not None:
                return self._unauthorized(source, refusal, outcome="out_of_window")
            outcome = await self.intake.publish(source, result)
        except Unavailable as exc:
            WEBHOOKS.labels(source=source, outcome="unavailable").inc()
            return web.Response(status=503, text=f"{exc}\n", headers={"Retry-After": "5"})
        if outcome.stale and not outcome.published and not outcome.duplicates:
            WEBHOOKS.labels(source=source, outcome="stale").inc()
            return _text(202, "ignored: older than what was already accepted for the same resource")
        WEBHOOKS.labels(source=source, outcome="published" if outcome.published else "duplicate").inc()
        return ok() if ok is not None else _text(200, "ok" if outcome.published else "ok (duplicate)")

    @staticmethod
    def _unauthorized(source: str, reason: str, *, outcome: str = "unauthorized") -> web.Response:
        WEBHOOKS.labels(source=source, outcome=outcome).inc()
        logger.info("refused a %s webhook: %s", source, reason)
        return _text(401, reason)

    async def _dead_letter(
        self, request: web.Request, source: str, body: bytes, error: MappingError, context: Mapping[str, str],
    ) -> web.Response:
        """Keep the verified body in `gateway.dlq` with its reason, then answer as the source needs (raises
        Unavailable when the dead-letter topic cannot be written: the provider must retry then)."""
        await self.intake.dead_letter(source, endpoint=request.path, body=body, error=error, context=context)
        WEBHOOKS.labels(source=source, outcome="malformed").inc()
        status = DEAD_LETTER_STATUS.get(source, 400)
        return _text(status, error.reason if status >= 400 else f"not mapped, kept in gateway.dlq: {error.reason}")

    def _out_of_window(self, source: str, items: list[Publish]) -> str | None:
        """Why a body must be refused for its own signed time (older than the source's replay window, or from
        the future, which would fence off every later update of its resource); None if it may go on."""
        now = self.gateway.clock.now()
        window = self.settings.replay_window_s(source)
        for item in items:
            if item.version is None:
                continue
            if window is not None and item.version.at < now - timedelta(seconds=window):
                return "webhook is older than the replay window"
            if item.version.at > now + timedelta(seconds=self.settings.clock_skew_s):
                return "webhook time is in the future"
        return None

    async def _body(self, request: web.Request, source: str) -> bytes:
        """The raw bytes, byte for byte (signatures cover them); 413 past the limit."""
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            WEBHOOKS.labels(source=source, outcome="too_large").inc()
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            WEBHOOKS.labels(source=source, outcome="too_large").inc()
            raise
        except (http_exceptions.HttpProcessingError, RequestPayloadError) as exc:  # a bad Content-Encoding, say
            WEBHOOKS.labels(source=source, outcome="unreadable").inc()
            raise web.HTTPBadRequest(text="the request body could not be read\n") from exc

    def _now(self) -> float:
        return self.gateway.clock.now().timestamp()

    @staticmethod
    def _secret(value: Any) -> str:
        return str(value.get_secret_value())

    # -- stores and carriers -----------------------------------------------------------------
    async def shopify(self, request: web.Request) -> web.Response:
        secret = self.settings.shopify_secret
        headers = request.headers
        context = {"shopify-topic": headers.get("X-Shopify-Topic", ""),
                   "shopify-webhook-id": headers.get("X-Shopify-Webhook-Id", ""),
                   "shopify-shop-domain": headers.get("X-Shopify-Shop-Domain", "")}
        return await self._webhook(
            request, "shopify", secret is not None,
            lambda body: verify_shopify(body, headers.get("X-Shopify-Hmac-Sha256"), self._secret(secret)),
            lambda body: map_shopify(headers.get("X-Shopify-Topic"), body,
                                     webhook_id=headers.get("X-Shopify-Webhook-Id"),
                                     shop_domain=headers.get("X-Shopify-Shop-Domain"),
                                     promises=self.gateway.promises),
            context=context)

    async def stripe(self, request: web.Request) -> web.Response:
        secret = self.settings.stripe_secret
        return await self._webhook(
            request, "stripe", secret is not None,
            lambda body: verify_stripe(body, request.headers.get("Stripe-Signature"), self._secret(secret),
                                       now=self._now(), tolerance=self.settings.stripe_tolerance_s),
            map_stripe)

    async def aftership(self, request: web.Request) -> web.Response:
        secret = self.settings.aftership_secret
        return await self._webhook(
            request, "aftership", secret is not None,
            lambda body: verify_aftership(body, request.headers.get("aftership-hmac-sha256"), self._secret(secret)),
            map_aftership)

    # -- Twilio ------------------------------------------------------------------------------
    def _twilio(self, request: web.Request) -> tuple[Verify, Callable[[bytes], MultiDict[str]]]:
        token = self.settings.twilio_auth_token
        url = self.settings.public_url(request.raw_path)

        def params(body: bytes) -> MultiDict[str]:
            return MultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))

        def verify(body: bytes) -> None:
            verify_twilio(url, params(body), request.headers.get("X-Twilio-Signature"), self._secret(token),
                          settings_header=request.headers.get("X-Twilio-Webhooks-Signature-Settings"))

        return verify, params

    async def twilio_status(self, request: web.Request) -> web.Response:
        verify, params = self._twilio(request)
        return await self._webhook(
            request, "twilio", self.settings.twilio_auth_token is not None, verify,
            lambda body: map_twilio_status(params(body), received_at=self.gateway.clock.now()))

    async def twilio_inbound(self, request: web.Request) -> web.Response:
        verify, params = self._twilio(request)
        return await self._webhook(
            request, "twilio", self.settings.twilio_auth_token is not None, verify,
            lambda body: map_twilio_inbound(params(body), received_at=self.gateway.clock.now()),
            ok=lambda: web.Response(text=EMPTY_TWIML, content_type="text/xml"))

    # -- SendGrid ----------------------------------------------------------------------------
    async def sendgrid(self, request: web.Request) -> web.Response:
        """Items that map are published even when others in the batch do not; then the body is refused (400)."""
        key = self.gateway.sendgrid_key
        problems: list[str] = []

        def verify(body: bytes) -> None:
            verify_sendgrid(body, request.headers.get("X-Twilio-Email-Event-Webhook-Signature"),
                            request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp"), key,
                            now=self._now(), tolerance=self.settings.sendgrid_tolerance_s)

        def map_(body: bytes) -> list[Publish]:
            published, bad = map_sendgrid(body)
            if not published:
                raise MappingError("no event could be mapped: " + "; ".join(bad[:5]))
            problems.extend(bad)
            return published

        response = await self._webhook(request, "sendgrid", key is not None, verify, map_)
        if response.status != 200 or not problems:
            return response
        error = MappingError(f"{len(problems)} event(s) could not be mapped: " + "; ".join(problems[:5]))
        try:
            await self.intake.dead_letter("sendgrid", endpoint=request.path, body=await request.read(), error=error)
        except Unavailable as exc:
            return web.Response(status=503, text=f"{exc}\n", headers={"Retry-After": "5"})
        WEBHOOKS.labels(source="sendgrid", outcome="malformed").inc()
        return _text(400, error.reason)

    # -- links in our emails: one-click unsubscribe (RFC 8058), choices and feedback ---------
    @staticmethod
    def _verified(source: str, found: T | None, refusal: str) -> T:
        """What a genuine (and unexpired) token says; 404 for anything else (nothing published)."""
        if found is None:
            WEBHOOKS.labels(source=source, outcome="unauthorized").inc()
            raise web.HTTPNotFound(text=f"{refusal}\n")
        return found

    def _unsubscribe_link(self, request: web.Request) -> str:
        return self._verified("unsubscribe", self.gateway.links.verify_unsubscribe(request.match_info["token"]),
                              "unknown link")

    def _choice_link(self, request: web.Request) -> ChoiceLink:
        link = self.gateway.links.verify_choice(request.match_info["token"], now=self.gateway.clock.now())
        return self._verified("choice", link, "unknown or expired link")

    def _feedback_link(self, request: web.Request) -> FeedbackLink:
        link = self.gateway.links.verify_feedback(request.match_info["token"], now=self.gateway.clock.now())
        return self._verified("feedback", link, "unknown or expired link")

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        """A confirmation page only: link scanners fetch GETs, so a GET never unsubscribes anyone."""
        self._unsubscribe_link(request)
        return _page(
            "Unsubscribe from order emails?",
            "<p>You will no longer get emails from us about problems with your orders.</p>"
            '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>')

    async def unsubscribe(self, request: web.Request) -> web.Response:
        nid = self._unsubscribe_link(request)
        body = await self._body(request, "unsubscribe")
        if ONE_CLICK not in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
            return self._malformed("unsubscribe", "expected the form field List-Unsubscribe=One-Click")
        refused = await self._publish_link("unsubscribe", map_unsubscribe(nid, at=self.gateway.clock.now()))
        return refused or _page("You are unsubscribed", "<p>We will not email you about your orders any more.</p>")

    async def choice_page(self, request: web.Request) -> web.Response:
        """What the link would choose, and a button: a GET chooses nothing (link scanners fetch every link)."""
        link = self._choice_link(request)
        language = page_language(request.query.get("lang"))
        return _page(*choose_page(language, link.choice), language=language)

    async def choose(self, request: web.Request) -> web.Response:
        """The POST of the confirmation form: one `customer.chose` per (notification, choice), however often."""
        link = self._choice_link(request)
        form = await self._form(request, "choice")
        if form.get("choice") != link.choice:
            return self._malformed("choice", "expected the form field choice, as the link names it")
        refused = await self._publish_link("choice", map_choice_link(
            link.notification_id, link.choice, at=self.gateway.clock.now()))
        language = page_language(request.query.get("lang"))
        return refused or _page(*chosen_page(language, link.choice), language=language)

    async def feedback_page(self, request: web.Request) -> web.Response:
        """The score the link would give, a comment box and a button: a GET answers nothing (link scanners)."""
        link = self._feedback_link(request)
        language = page_language(request.query.get("lang"))
        return _page(*rate_page(language, link.score), language=language)

    async def rate(self, request: web.Request) -> web.Response:
        """The POST of the feedback form: one `customer.rated` per (question, score, words), however often."""
        link = self._feedback_link(request)
        form = await self._form(request, "feedback")
        if form.get("score") != str(link.score):
            return self._malformed("feedback", "expected the form field score, as the link names it")
        refused = await self._publish_link("feedback", map_feedback_link(
            link.notification_id, link.score, form.get("comment"), at=self.gateway.clock.now()))
        language = page_language(request.query.get("lang"))
        return refused or _page(*rated_page(language, low=link.score <= LOW_SCORE), language=language)

    async def _form(self, request: web.Request, source: str) -> dict[str, str]:
        body = await self._body(request, source)
        return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))

    @staticmethod
    def _malformed(source: str, reason: str) -> web.Response:
        WEBHOOKS.labels(source=source, outcome="malformed").inc()
        return _text(400, reason)

    async def _publish_link(self, source: str, items: list[Publish]) -> web.Response | None:
        """Publish what a link's form says; the 503 to answer when it cannot be published now, else None."""
        try:
            outcome = await self.intake.publish(source, items)
        except Unavailable as exc:
            WEBHOOKS.labels(source=source, outcome="unavailable").inc()
            return web.Response(status=503, text=f"{exc}\n", headers={"Retry-After": "5"})
        WEBHOOKS.labels(source=source, outcome="published" if outcome.published else "duplicate").inc()
        return None

    # -- operations --------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        publisher = self.intake.publisher
        status = 200 if publisher.started else 503
        return web.json_response({"status": "ok" if status == 200 else "starting"}, status=status)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _mapped(map_: Map, body: bytes) -> Result:
    """The mapping's result, with every way it can fail on a verified body turned into a MappingError:
    an exception the mapping did not foresee, or an event that could not be serialised or published."""
    try:
        result = map_(body)
    except MappingError:
        raise
    except Exception as exc:
        logger.warning("a mapping raised %s on a verified body", type(exc).__name__)
        raise MappingError(f"body could not be mapped ({type(exc).__name__})") from exc
    if isinstance(result, Ignored):
        return result
    for item in result:
        try:
            size = len(item.event.to_bytes())
        except Exception as exc:
            raise MappingError(f"{item.event.type} could not be serialised ({type(exc).__name__})") from exc
        if size > MAX_EVENT_BYTES:
            raise MappingError(f"{item.event.type} would be {size} bytes, over {MAX_EVENT_BYTES}")
    return result


def _page(title: str, content: str, *, language: str = "en") -> web.Response:
    """A small self-contained page; no scripts, no outside resources, never cached or indexed."""
    document = (
        f'<!doctype html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">'
        f"<h1>{html.escape(title)}</h1>{content}</body></html>"
    )
    return web.Response(text=document, content_type="text/html", headers={
        "Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    })
