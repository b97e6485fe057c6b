"""Run the gateway in-process against the real broker and a real database, and sign what providers send."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.common.clock import FixedClock
from services.common.kafka import ensure_topics
from services.common.settings import CommonSettings
from services.gateway.bootstrap import build_app
from services.gateway.intake import DEAD_LETTER_TOPIC
from services.gateway.settings import GatewaySettings
from services.gateway.web import GATEWAY, Gateway
from tests.support.postgres import fresh_database
from tests.support.webhooks import SendGridKeys, base64_hmac, stripe_header, twilio_signature

__all__ = ["NOW", "PUBLIC", "SECRETS", "SENDGRID_KEYS", "RunningGateway", "database_url", "json_bytes",
           "running_gateway"]

PUBLIC = "https://hooks.acme.example"
NOW = datetime(2026, 3, 4, 8, 20, tzinfo=UTC)
"""The gateway's clock in these tests: just after the payload fixtures were sent, so their own times are fresh."""
SENDGRID_KEYS = SendGridKeys.generate()
SECRETS: dict[str, Any] = {
    "shopify_secret": "shpss_integration_5f1c0e2b9d8a7c6b",
    "stripe_secret": "whsec_integration_9d8a7c6b5a4f3e2d",
    "aftership_secret": "aftership_integration_3e2d1c0b",
    "twilio_auth_token": "twilio_integration_0b9a8f7e6d5c",
    "sendgrid_public_key": SENDGRID_KEYS.public_key,
}


async def database_url(backend: str, tmp_path: Path, postgres: str | None) -> str:
    """A fresh database for the gateway's dedupe table."""
    return await fresh_database(backend, tmp_path, postgres, "gateway")


@dataclass
class RunningGateway:
    client: TestClient[Any, Any]
    common: CommonSettings
    gateway: Gateway
    clock: FixedClock

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def topic(self, base: str) -> str:
        return self.common.topic(base)

    @property
    def dead_letters(self) -> str:
        return self.common.topic(DEAD_LETTER_TOPIC)

    async def shopify(self, body: bytes, *, topic: str = "orders/create", webhook_id: str | None = None,
                      secret: str | None = None) -> ClientResponse:
        """A fresh X-Shopify-Webhook-Id each time unless one is given (a retry keeps its id)."""
        webhook_id = webhook_id or str(uuid.uuid4())
        return await self.client.post("/webhooks/shopify", data=body, headers={
            "Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Shop-Domain": "acme.myshopify.com", "X-Shopify-API-Version": "2026-01",
            "X-Shopify-Hmac-Sha256": base64_hmac(body, secret or SECRETS["shopify_secret"])})

    async def stripe(self, body: bytes, *, secret: str | None = None, at: int | None = None) -> ClientResponse:
        header = stripe_header(body, secret or SECRETS["stripe_secret"], at if at is not None else self.now())
        return await self.client.post("/webhooks/stripe", data=body, headers={
            "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header})

    async def aftership(self, body: bytes, *, secret: str | None = None) -> ClientResponse:
        return await self.client.post("/webhooks/aftership", data=body, headers={
            "Content-Type": "application/json",
            "aftership-hmac-sha256": base64_hmac(body, secret or SECRETS["aftership_secret"])})

    async def sendgrid(self, body: bytes, *, keys: SendGridKeys = SENDGRID_KEYS) -> ClientResponse:
        timestamp = str(self.now())
        return await self.client.post("/webhooks/sendgrid/events", data=body, headers={
            "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "X-Twilio-Email-Event-Webhook-Signature": keys.sign(body, timestamp)})

    async def twilio(self, path: str, params: Mapping[str, str], *, token: str | None = None) -> ClientResponse:
        signature = twilio_signature(PUBLIC + path, params, token or SECRETS["twilio_auth_token"])
        return await self.client.post(path, data=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": uuid.uuid4().hex})


@asynccontextmanager
async def running_gateway(
    kafka: str, topic_prefix: str, db_url: str, *, clock: FixedClock | None = None, **overrides: Any
) -> AsyncIterator[RunningGateway]:
    """The gateway's aiohttp app on a real TCP port, its topics created the way `python -m services.gateway` does."""
    common = CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix, partitions=2,
                            database_url=db_url)
    await ensure_topics(common, [DEAD_LETTER_TOPIC])
    settings = GatewaySettings(public_base_url=PUBLIC, **{**SECRETS, **overrides})
    clock = clock or FixedClock(NOW)
    app = build_app(settings, common, clock=clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield RunningGateway(client, common, app[GATEWAY], clock)
    finally:
        await client.close()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
