"""Ticks: the stream's clock. A leader timer sends one tick per partition; agents act on them in stream context."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import faust

from services.common.clock import Clock

__all__ = ["TICK_TOPIC", "encode_tick", "install_ticker", "parse_tick"]

logger = logging.getLogger(__name__)

TICK_TOPIC = "ticks"


def encode_tick(at: datetime) -> bytes:
    return json.dumps({"tick": at.isoformat()}).encode()


def parse_tick(value: bytes) -> datetime:
    """The tick's time; a malformed tick raises ValueError (and is dead-lettered like any bad message)."""
    at = datetime.fromisoformat(json.loads(value)["tick"])
    if at.tzinfo is None:
        raise ValueError("tick time must carry an offset")
    return at


def install_ticker(
    app: faust.App, topic: faust.TopicT, *, interval: float, partitions: int, clock: Clock
) -> Callable[[], Awaitable[None]]:
    """Every `interval` seconds the leader sends a tick to each partition of `topic`.

    The timer only sends; table changes happen where the ticks are consumed, inside an agent."""

    @app.timer(interval=interval, on_leader=True)
    async def tick() -> None:
        at = clock.now()
        for partition in range(partitions):
            try:
                await topic.send(key=b"tick", value=encode_tick(at), partition=partition)
            except Exception as exc:  # e.g. metadata of a just-created topic not known yet: the next tick comes
                logger.warning("tick to partition %d not sent: %s: %s", partition, exc.__class__.__name__, exc)
                return

    return tick  # type: ignore[no-any-return]
