"""`python -m services.gateway`: serve the webhook and unsubscribe endpoints until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from services.common.kafka import ensure_topics
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import CommonSettings
from services.common.stopping import arm_stop_deadline
from services.gateway.bootstrap import build_app
from services.gateway.intake import DEAD_LETTER_TOPIC
from services.gateway.settings import GatewaySettings

logger = logging.getLogger("services.gateway")

SERVICE = "gateway"


async def serve(settings: GatewaySettings, common: CommonSettings) -> None:
    await ensure_topics(common, [DEAD_LETTER_TOPIC])
    serve_metrics(common.metrics_port)
    app = build_app(settings, common)
    # aiohttp's access log would print client addresses and unsubscribe paths; our own lines say what matters.
    # A request still in flight at a stop gets half the stop deadline (aiohttp would wait 60 s for it);
    # a provider whose delivery is cut retries it, and a retry is published once.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=common.stop_deadline_s / 2)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    logger.info("%s ready on %s (public %s), Kafka %s", SERVICE, site.name, settings.public_base_url,
                common.kafka_bootstrap_servers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        logger.info("%s stopping", SERVICE)
        arm_stop_deadline(SERVICE, common.stop_deadline_s, loop)
        await runner.cleanup()


def main() -> None:
    common = CommonSettings()
    settings = GatewaySettings()
    configure_logging(common.log_level, json_lines=common.log_json, service=SERVICE)
    asyncio.run(serve(settings, common))


if __name__ == "__main__":
    main()
