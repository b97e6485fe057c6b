"""returns' reaction graph.

Reads : returns (keyed by order id)
Writes: returns.dlq
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schemas import RETURNS, CloudEvent
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic

__all__ = ["SERVICE", "build"]

logger = logging.getLogger(__name__)

SERVICE = "returns"


def build(common: CommonSettings) -> faust.App:
    app = create_app(SERVICE, common)
    inputs = full_names(common, [RETURNS])
    source = raw_topic(app, *inputs)
    guard = Guard(service=SERVICE, app=app, topics=inputs)

    async def on_return_event(event: CloudEvent) -> None:
        logger.info("return event %s for order %s", event.type, event.subject)

    @app.agent(source, concurrency=1)
    async def follow_returns(stream: Any) -> None:
        async for event in stream.events():
            await guard.handle(event, on_return_event)

    return app
