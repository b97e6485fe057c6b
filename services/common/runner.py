"""Run one service as its own process: logging, topics, metrics, then the Faust worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import faust
from faust.worker import Worker

from services.common.kafka import ensure_topics
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import CommonSettings

__all__ = ["run_service"]

logger = logging.getLogger(__name__)


class _Worker(Worker):
    """Faust's worker, announcing readiness (tables recovered, agents running) in our log."""

    def __init__(self, service: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        logger.info("%s ready", self.service)


def run_service(
    name: str, build: Callable[[CommonSettings], faust.App], *, extra_topics: Iterable[str] = (),
    settings: CommonSettings | None = None,
) -> None:
    """Create the topics the service needs, then hand the process to a Faust worker until signalled."""
    common = settings or CommonSettings()
    configure_logging(common.log_level, json_lines=common.log_json, service=name)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(common, extra_topics))
    serve_metrics(common.metrics_port)
    app = build(common)
    logger.info("%s starting against %s", name, common.kafka_bootstrap_servers)
    worker = _Worker(name, app, loop=loop, loglevel=common.log_level, redirect_stdouts=False, quiet=True)
    # Faust would install its own (unmasked) log handler; ours is already on the root logger.
    worker._setup_logging = lambda: None
    worker.execute_from_commandline()
