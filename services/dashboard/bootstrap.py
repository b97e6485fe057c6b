"""Wiring in one place: the dashboard's clients from settings, the app, and serving it.

Nothing connects when the app is built: Kafka and the ledger are reached on the first read, so the
dashboard starts (and says what is down) even when they are not up yet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from services.common.settings import CommonSettings
from services.dashboard.auth import exposure_problem
from services.dashboard.kafka_reader import KafkaReader, KafkaUnavailable
from services.dashboard.ledger_reader import LedgerReader
from services.dashboard.metrics import build_instruments
from services.dashboard.panels import Panels
from services.dashboard.settings import DashboardSettings
from services.dashboard.story_reader import StoryReader
from services.dashboard.web import AccessLogger, create_app

__all__ = ["build", "serving"]

logger = logging.getLogger(__name__)

SAMPLER_KEY = web.AppKey("sampler", asyncio.Task[None])


def build(settings: DashboardSettings, common: CommonSettings) -> web.Application:
    """The aiohttp application with its readers, a background sampler for rates, and their cleanup."""
    problem = exposure_problem(settings.host, settings.token_value)
    if problem is not None:  # settings refuse this already; a hand-built settings object must not slip past
        raise ValueError(problem)
    kafka = KafkaReader(common.kafka_bootstrap_servers, timeout_s=settings.kafka_timeout_s)
    ledger = LedgerReader(common.database_url, timeout_s=settings.kafka_timeout_s)
    instruments = build_instruments()
    panels = Panels(settings=settings, common=common, kafka=kafka, ledger=ledger, figures=instruments.figures)
    story = StoryReader(ledger, care_url=settings.care_database_url, key=secrets.token_bytes(32), kafka=kafka,
                        prefix=common.topic_prefix, store_events_per_partition=settings.store_events_per_partition,
                        feedback_per_partition=settings.feedback_per_partition)
    app = create_app(panels, instruments, token=settings.token_value, refresh_s=settings.refresh_s, story=story)

    async def sample_offsets(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_sample_forever(panels, settings.sample_interval_s), name="dashboard-sampler")
        app[SAMPLER_KEY] = task
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kafka.close()
        await story.close()
        await ledger.close()

    app.cleanup_ctx.append(sample_offsets)
    return app


async def _sample_forever(panels: Panels, interval_s: float) -> None:
    """Sample end offsets every `interval_s`, so a rate is ready when someone looks.

    Kafka going away and coming back is logged once each, not at every sample."""
    while True:
        was_up = panels.figures.up.get("kafka", True)
        try:
            await panels.sample()
            panels.figures.up["kafka"] = True
            if not was_up:
                logger.info("Kafka answers again")
        except KafkaUnavailable as exc:
            panels.figures.up["kafka"] = False
            if was_up:
                logger.warning("%s; the panels that need it say so until it is back", exc)
        except Exception:
            logger.exception("sampling offsets failed")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def serving(settings: DashboardSettings, common: CommonSettings) -> AsyncIterator[str]:
    """Serve the dashboard until the block ends; yields its base URL (the real port when port is 0)."""
    app = build(settings, common)
    # A request still in flight at a stop gets half the stop deadline (aiohttp would wait 60 s for it).
    runner = web.AppRunner(app, access_log_class=AccessLogger, handle_signals=False,
                           shutdown_timeout=common.stop_deadline_s / 2)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.port
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        url = f"http://{host}:{port}/"
        logger.info("dashboard ready on %s (token %s)", url, "required" if settings.token else "not required")
        yield url
    finally:
        await runner.cleanup()
