"""The notifier's reaction graph.

Reads : incidents (keyed by customer id)
Writes: notifications (outcome events, keyed by customer id), incidents.dlq
Timers: deferred messages whose time has come (state lives in the ledger, so it survives restarts)
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schemas import INCIDENTS, NOTIFICATIONS, CloudEvent, IncidentDetected, IncidentResolved
from services.common.clock import Clock, SystemClock
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.notifier.bootstrap import build_ledger, build_providers
from services.notifier.dispatch import Dispatcher
from services.notifier.settings import NotifierSettings

__all__ = ["SERVICE", "build"]

logger = logging.getLogger(__name__)

SERVICE = "notifier"


def build(common: CommonSettings, *, settings: NotifierSettings | None = None, clock: Clock | None = None) -> faust.App:
    settings = settings or NotifierSettings()
    clock = clock or SystemClock()
    app = create_app(SERVICE, common)
    inputs = full_names(common, [INCIDENTS])
    incidents = raw_topic(app, *inputs)
    notifications = raw_topic(app, common.topic(NOTIFICATIONS))
    guard = Guard(service=SERVICE, app=app, topics=inputs)
    holder: dict[str, Dispatcher] = {}

    async def emit(event: CloudEvent) -> None:
        pending = await notifications.send(key=event.key(), value=event.to_bytes())
        await pending

    @app.task
    async def open_ledger() -> None:
        ledger = await build_ledger(common)
        holder["dispatcher"] = Dispatcher(
            ledger=ledger, providers=build_providers(settings), settings=settings, clock=clock, emit=emit)
        await holder["dispatcher"].recover()

    async def dispatcher() -> Dispatcher:
        while "dispatcher" not in holder:
            await app.sleep(0.05)
        return holder["dispatcher"]

    async def on_incident_event(event: CloudEvent) -> None:
        d = await dispatcher()
        if isinstance(event, IncidentDetected):
            await d.on_incident(event)
        elif isinstance(event, IncidentResolved):
            await d.on_resolved(event.data.incident_id, event.data.reason)

    @app.agent(incidents, concurrency=1)
    async def notify(stream: Any) -> None:
        async for event in stream.events():
            await guard.handle(event, on_incident_event)

    @app.timer(interval=settings.deferred_poll_s)
    async def send_deferred() -> None:
        if "dispatcher" in holder:
            await holder["dispatcher"].send_due()

    return app
