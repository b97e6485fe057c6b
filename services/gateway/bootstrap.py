"""Build the gateway from settings, in one place; nothing connects until the app starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from services.common.clock import Clock, SystemClock
from services.common.db import create_engine
from services.common.links import LinkSigner
from services.common.settings import CommonSettings
from services.gateway.dedupe import DedupeStore
from services.gateway.intake import Intake
from services.gateway.mapping import Promises
from services.gateway.publisher import Publisher
from services.gateway.settings import GatewaySettings
from services.gateway.signatures import load_sendgrid_key
from services.gateway.web import MAX_EVENT_BYTES, Gateway, create_app

__all__ = ["PURGE_EVERY_S", "build_app"]

logger = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0
REQUEST_OVERHEAD_BYTES = 64 * 1024


def build_app(settings: GatewaySettings, common: CommonSettings, *, clock: Clock | None = None) -> web.Application:
    """The aiohttp app with its clients; the database table and the producer come up when the app starts."""
    clock = clock or SystemClock()
    if common.choice_link_ttl_s > settings.dedupe_retention_s:
        raise ValueError("FOREWARN_CHOICE_LINK_TTL_S must not exceed FOREWARN_GATEWAY_DEDUPE_RETENTION_S: a choice "
                         "link must be remembered as long as it works, or a second click would choose again")
    engine = create_engine(settings.database_url or common.database_url)
    store = DedupeStore(engine, clock, lease=timedelta(seconds=settings.claim_lease_s))
    # Room for the largest body we accept (dead-lettered whole) or event we publish, plus headers.
    publisher = Publisher(common, timeout_s=settings.publish_timeout_s,
                          max_request_size=max(settings.max_body_bytes, MAX_EVENT_BYTES) + REQUEST_OVERHEAD_BYTES)
    intake = Intake(store, publisher, clock, duplicate_wait_s=settings.duplicate_wait_s)
    sendgrid_key = None
    if settings.sendgrid_public_key is not None:
        try:
            sendgrid_key = load_sendgrid_key(settings.sendgrid_public_key.get_secret_value())
        except ValueError as exc:
            raise ValueError("FOREWARN_GATEWAY_SENDGRID_PUBLIC_KEY is not a usable EC public key") from exc
    promises = Promises(
        ship_within=timedelta(seconds=settings.ship_within_s),
        deliver_within=timedelta(seconds=settings.deliver_within_s),
        express_deliver_within=timedelta(seconds=settings.express_deliver_within_s),
    )
    app = create_app(Gateway(settings=settings, intake=intake, clock=clock, promises=promises,
                             sendgrid_key=sendgrid_key, links=LinkSigner(common.link_secret.get_secret_value())))

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await store.create()
        await publisher.start()
        purging = asyncio.create_task(_purge_forever(store, clock, timedelta(seconds=settings.dedupe_retention_s)))
        try:
            yield
        finally:
            purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purging
            await publisher.stop()
            await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _purge_forever(store: DedupeStore, clock: Clock, retention: timedelta) -> None:
    """Forget old finished deliveries now and then, so the table stays the size of a few days' traffic."""
    while True:
        try:
            purged = await store.purge(clock.now() - retention)
            if purged:
                logger.info("forgot %d finished deliveries", purged)
        except Exception:  # the database is away: try again next time
            logger.exception("purging the dedupe table failed")
        await asyncio.sleep(PURGE_EVERY_S)
