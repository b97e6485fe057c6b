"""Fuzz every gateway route with hypothesis: hostile headers and bodies, signed and unsigned, over raw HTTP.

Whatever arrives, the answer is never a 5xx and the gateway still answers `/healthz` afterwards.
`FOREWARN_FUZZ_EXAMPLES` sets how many requests are tried (default 60, a few seconds; try 5000 before a
release). Run against the parent commit (`git worktree add /tmp/gw-old HEAD`, this file and `support.py`
copied in) it failed in one run of three at the default count and in both runs at 300 (500s from Stripe's
and Shopify's routes); on this code it found one more 500 (a body that is not valid gzip under
`Content-Encoding: gzip`), now a 400, and passes at 1,500.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from tests.integration.gateway.support import (
    PUBLIC,
    SECRETS,
    SENDGRID_KEYS,
    RunningGateway,
    database_url,
    running_gateway,
)
from tests.support.webhooks import base64_hmac, stripe_header
from tests.unit.gateway.fixtures import payload

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FOREWARN_FUZZ_EXAMPLES", "60"))
ROUTES = ("/webhooks/shopify", "/webhooks/stripe", "/webhooks/aftership", "/webhooks/twilio/status",
          "/webhooks/twilio/inbound", "/webhooks/sendgrid/events", "/unsubscribe/ntf-1", "/unsubscribe/%FF..",
          "/choices/ntf-1.wait.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/choices/%FF..")
FIXTURES = {
    "/webhooks/shopify": ["shopify_orders_create", "shopify_orders_cancelled", "shopify_orders_fulfilled"],
    "/webhooks/stripe": ["stripe_payment_intent_succeeded", "stripe_payment_intent_payment_failed",
                         "stripe_charge_failed"],
    "/webhooks/aftership": ["aftership_in_transit", "aftership_exception"],
    "/webhooks/sendgrid/events": ["sendgrid_events"],
}
HOSTILE = st.sampled_from([
    "²", "٣", "１２３", "9" * 5000, "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00", "\u0000", "\udcff"[:0],
    "+1 (415) 555-０１２３", "fulfilled", "NaN", "1e999999", -1, 0, 2**63, 1e308, True, None, [], {}, "",
])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | HOSTILE,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
# Header values as bytes: anything but CR and LF, which would end the header (the HTTP parser's business).
HEADER_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def bodies(draw: st.DrawFn, route: str) -> bytes:
    """Raw bytes, arbitrary JSON, a real payload with one field made hostile, deep nesting, or a form."""
    kind = draw(st.sampled_from(["bytes", "json", "fixture", "deep", "form"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "deep":
        return b"[" * draw(st.integers(900, 60_000)) + b"1"
    if kind == "form" or route not in FIXTURES:
        keys = st.sampled_from(["MessageSid", "MessageStatus", "To", "From", "Body", "List-Unsubscribe", "x"])
        form = draw(st.dictionaries(keys, st.text(max_size=20) | st.sampled_from(["+14155550123", "One-Click"]),
                                    max_size=5))
        return urlencode(form).encode()
    document: Any = payload(draw(st.sampled_from(FIXTURES[route])))
    target = document[0] if isinstance(document, list) else document
    if isinstance(target.get("data"), dict):  # Stripe: the interesting fields are in the object
        target = target["data"]["object"]
    if isinstance(target.get("msg"), dict) and draw(st.booleans()):  # AfterShip
        target = target["msg"]
    target[draw(st.sampled_from(sorted(target)) | st.text(max_size=8))] = draw(JSON_VALUES)
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode()


def signed_headers(gw: RunningGateway, route: str, body: bytes, topic: bytes) -> dict[str, bytes]:
    if route == "/webhooks/shopify":
        return {"X-Shopify-Hmac-Sha256": base64_hmac(body, SECRETS["shopify_secret"]).encode(),
                "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": b"wh-fuzz",
                "X-Shopify-Shop-Domain": b"acme.myshopify.com"}
    if route == "/webhooks/stripe":
        return {"Stripe-Signature": stripe_header(body, SECRETS["stripe_secret"], gw.now()).encode()}
    if route == "/webhooks/aftership":
        return {"aftership-hmac-sha256": base64_hmac(body, SECRETS["aftership_secret"]).encode()}
    if route == "/webhooks/sendgrid/events":
        stamp = str(gw.now())
        return {"X-Twilio-Email-Event-Webhook-Timestamp": stamp.encode(),
                "X-Twilio-Email-Event-Webhook-Signature": SENDGRID_KEYS.sign(body, stamp).encode()}
    if route.startswith("/webhooks/twilio/"):
        params = MultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        signature = RequestValidator(SECRETS["twilio_auth_token"]).compute_signature(PUBLIC + route, params)
        return {"X-Twilio-Signature": str(signature).encode()}
    return {"Content-Type": b"application/x-www-form-urlencoded"}


async def request(gw: RunningGateway, method: str, path: str, headers: dict[str, bytes], body: bytes) -> int:
    """One request with header bytes exactly as given (HTTP clients refuse non-UTF-8); the answer's status."""
    server = gw.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {server.host}".encode(),
                 f"Content-Length: {len(body)}".encode(), b"Connection: close",
                 *(name.encode() + b": " + value for name, value in headers.items())]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1."), status_line  # the parser answers a request it cannot read in 1.0
    return int(status_line.split()[1])


@pytest.fixture
async def gw(kafka: str, topic_prefix: str, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    async with running_gateway(kafka, topic_prefix, await database_url("sqlite", tmp_path, None)) as running:
        yield running


async def test_no_route_answers_5xx_to_anything(gw: RunningGateway) -> None:
    loop = asyncio.get_running_loop()
    answers: list[int] = []

    def post(method: str, path: str, headers: dict[str, bytes], body: bytes) -> int:
        return asyncio.run_coroutine_threadsafe(request(gw, method, path, headers, body), loop).result(60)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        route = data.draw(st.sampled_from(ROUTES), label="route")
        body = data.draw(bodies(route), label="body")
        topic = data.draw(st.sampled_from([b"orders/create", b"orders/fulfilled", b"orders/cancelled"]) | HEADER_BYTES,
                          label="topic")
        headers = signed_headers(gw, route, body, topic) if data.draw(st.booleans(), label="signed") else {}
        for name in data.draw(st.lists(st.sampled_from([*headers, "Stripe-Signature", "X-Shopify-Hmac-Sha256",
                                                        "X-Twilio-Email-Event-Webhook-Timestamp",
                                                        "X-Twilio-Webhooks-Signature-Settings", "Content-Encoding",
                                                        "X-Shopify-Shop-Domain"]), max_size=2), label="spoiled"):
            headers[name] = data.draw(HEADER_BYTES | st.sampled_from([b"t=\xd9\xa3,v1=00", b"gzip", b"\xff"]))
        method = "GET" if route.startswith(("/unsubscribe/", "/choices/")) and data.draw(st.booleans()) else "POST"
        status = post(method, route, headers, body)
        answers.append(status)
        assert status < 500, (route, status)
        assert post("GET", "/healthz", {}, b"") == 200

    await asyncio.to_thread(fuzz)
    assert len(answers) >= EXAMPLES and any(400 <= s < 500 for s in answers)
    # Afterwards it still does its job: a genuine delivery is published.
    genuine = await gw.stripe(json.dumps(payload("stripe_payment_intent_succeeded")).encode())
    assert genuine.status == 200, await genuine.text()
