"""The floor Faust itself sets: an agent over the benchmark's input topics that does (almost) nothing.

    FOREWARN_FLOOR_MODE=events|take|parse|peer FOREWARN_FLOOR_TOPICS=a,b python -m bench._faust_floor

Run as a service (same app factory and settings as order_watcher: one worker, concurrency 1,
acks after each event or batch, commits every second), so `python -m bench detection` can time
it the way it times order_watcher: until the group's lag on the input topics is 0.

* events: `async for event in stream.events(): pass` (Faust's per-message cost alone)
* take:   `stream.take_events(500, within=0.05)` batches, nothing done with them
* parse:  take_events, and every value parsed and validated against the contract (`parse_event`),
          the least any correct consumer of these topics does
* peer:   the same work in its plainest Faust form: take_events, parse, one changelogged table write
          per event (its value, by its key), and one event in a hundred sent on to an output topic
          with the batch's sends awaited before the next batch; what order_watcher's machinery costs
          beyond its rules is its distance from this
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import faust

from schemas import parse_event
from services.common.faust_patches import acting_for
from services.common.runner import run_service
from services.common.settings import CommonSettings
from services.common.streams import create_app, raw_topic

SERVICE = "faust-floor"
OUT = "faust-floor-out"


def build(common: CommonSettings) -> faust.App:
    mode = os.environ.get("FOREWARN_FLOOR_MODE", "events")
    topics = [common.topic(t) for t in os.environ["FOREWARN_FLOOR_TOPICS"].split(",")]
    app = create_app(f"{SERVICE}-{mode}", common)
    if mode == "peer":
        table = app.Table("peer-state", default=None, partitions=common.partitions, key_type=str, value_type=bytes)
        out = raw_topic(app, common.topic(OUT))

    @app.agent(raw_topic(app, *topics), concurrency=1)
    async def floor(stream: Any) -> None:
        if mode == "events":
            async for _ in stream.events():
                pass
            return
        async for batch in stream.take_events(500, within=0.05):
            if mode == "parse":
                for event in batch:
                    parse_event(event.value)
            elif mode == "peer":
                pending = []
                for event in batch:
                    parsed = parse_event(event.value)
                    with acting_for(event):  # the table write goes to this event's partition
                        table[parsed.subject] = event.value
                    if event.message.offset % 100 == 0:
                        pending.append(await out.send(key=event.key, value=event.value))
                if pending:
                    await asyncio.gather(*pending)

    return app


if __name__ == "__main__":
    run_service(SERVICE, build, extra_topics=[OUT])
