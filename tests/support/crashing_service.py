"""A service that fails once it is up: the crashed app must end the process.

`FOREWARN_CRASH_IN` picks where: `timer` (a timer raises) or `agent` (an agent raises out of its
loop on its first message from `crasher.input`, after a table write, as a `PartitionsMismatch` would)."""

from __future__ import annotations

import os
from typing import Any

import faust

from services.common.runner import run_service
from services.common.settings import CommonSettings
from services.common.streams import create_app, raw_topic

__all__ = ["INPUT", "build"]

INPUT = "crasher.input"


def build(common: CommonSettings) -> faust.App:
    app = create_app("crasher", common)
    if os.environ.get("FOREWARN_CRASH_IN", "timer") == "agent":
        seen = app.Table("seen", default=None, partitions=common.partitions, key_type=str)

        @app.agent(raw_topic(app, common.topic(INPUT)), concurrency=1)
        async def explode(stream: Any) -> None:
            async for event in stream.events():
                seen[str(event.message.offset)] = 1
                raise RuntimeError("a bug in an agent")
    else:
        @app.timer(interval=1.0)
        async def explode_timer() -> None:
            raise RuntimeError("a bug in a timer")

    return app


if __name__ == "__main__":
    run_service("crasher", build, extra_topics=[INPUT])
