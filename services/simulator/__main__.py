"""`python -m services.simulator`: publish the demo scenarios to the local broker."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets

import aiohttp
from aiokafka import AIOKafkaProducer

from services.common.clock import utc_now
from services.common.kafka import ensure_topics
from services.common.logging import configure_logging
from services.common.settings import CommonSettings
from services.simulator.scenarios import demo_events
from services.simulator.webhooks import encode, shopify_late_order, shopify_signature

logger = logging.getLogger("services.simulator")


async def publish() -> int:
    settings = CommonSettings()
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        now = utc_now()
        events = demo_events(now, run=secrets.token_hex(2))
        for topic, event in events:
            await producer.send_and_wait(settings.topic(topic), value=event.to_bytes(), key=event.key())
            logger.info("published %s %s to %s", event.type, event.subject, topic)
        return len(events)
    finally:
        await producer.stop()


async def through_gateway(url: str, secret: str) -> list[str]:
    """Post the late Shopify order to the gateway twice (a retried delivery); return its two answers."""
    body = encode(shopify_late_order(utc_now()))
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Webhook-Id": f"demo-{utc_now():%Y%m%d%H%M%S}", "X-Shopify-Shop-Domain": "acme.myshopify.com",
               "X-Shopify-Hmac-Sha256": shopify_signature(body, secret)}
    answers = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for _ in range(2):
            answers.append(await _post(session, f"{url.rstrip('/')}/webhooks/shopify", body, headers))
    return answers


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> str:
    """POST, waiting up to 30 s for the gateway to listen (it may still be starting)."""
    for attempt in range(30):
        try:
            async with session.post(url, data=body, headers=headers) as response:
                return f"{response.status} {(await response.text()).strip()}"
        except aiohttp.ClientConnectorError:
            if attempt == 29:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


if __name__ == "__main__":
    configure_logging("INFO", service="simulator")
    count = asyncio.run(publish())
    logger.info("published %d demo events", count)
    gateway = os.environ.get("FOREWARN_SIMULATOR_GATEWAY_URL")
    secret = os.environ.get("FOREWARN_SIMULATOR_SHOPIFY_SECRET")
    if gateway and secret:
        for answer in asyncio.run(through_gateway(gateway, secret)):
            logger.info("Shopify orders/create via the gateway: %s", answer)
