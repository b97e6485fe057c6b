"""The notifier's reaction graph.

Reads : incidents (keyed by customer id)        -> Dispatcher: policy, render, ledger, send
        customers (keyed by customer id)        -> Inbound: profiles, consent, opt-outs
        provider-events (message or customer id) -> Inbound: delivery status, STOP/START/HELP, replies, bounces
        customers: customer.chose (a signed email link) -> Inbound: choice.made
        customers: customer.rated (a feedback email's signed link) -> Inbound: feedback.given
        cases (keyed by customer id): case.opened        -> CaseNotices: "a person will get in touch by ..."
Writes: notifications (outcome events), customers (opt-outs and replies heard by SMS),
        customer-actions (choice.made and feedback.given, by SMS reply or email link), <topic>.dlq
Timers: deferred messages whose time has come, and follow-ups whose promised update is due (both live in the
        ledger, so they survive restarts)
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust

from schemas import (
    CASES,
    CUSTOMER_ACTIONS,
    CUSTOMERS,
    INCIDENTS,
    NOTIFICATIONS,
    PROVIDER_EVENTS,
    CaseOpened,
    CloudEvent,
    IncidentDetected,
    IncidentResolved,
)
from services.common.clock import Clock, SystemClock
from services.common.faust_patches import take_ready
from services.common.processing import Processor, Work, handler_step
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic
from services.notifier.bootstrap import build_providers, open_database
from services.notifier.dispatch import Dispatcher, Providers
from services.notifier.inbound import Inbound
from services.notifier.incidents_read import IncidentsRead
from services.notifier.links import EmailLinks
from services.notifier.settings import NotifierSettings

__all__ = ["SERVICE", "build"]

logger = logging.getLogger(__name__)

SERVICE = "notifier"


@dataclass
class _Wiring:
    dispatcher: Dispatcher
    inbound: Inbound
    providers: Providers


def build(common: CommonSettings, *, settings: NotifierSettings | None = None, clock: Clock | None = None) -> faust.App:
    settings = settings or NotifierSettings()
    clock = clock or SystemClock()
    app = create_app(SERVICE, common)
    incident_names = full_names(common, [INCIDENTS])
    customer_names = full_names(common, [CUSTOMERS])
    provider_names = full_names(common, [PROVIDER_EVENTS])
    case_names = full_names(common, [CASES])
    notifications = raw_topic(app, common.topic(NOTIFICATIONS))
    customers_out = raw_topic(app, common.topic(CUSTOMERS))
    actions_out = raw_topic(app, common.topic(CUSTOMER_ACTIONS))
    guard = Guard(service=SERVICE, app=app, topics={**incident_names, **customer_names, **provider_names,
                                                        **case_names})
    wired: dict[str, _Wiring] = {}
    # Promises are decided only up to where the group has handled `incidents` (resolutions first).
    incidents_read = IncidentsRead(bootstrap=common.kafka_bootstrap_servers, group_id=app.conf.id,
                                   topics=list(incident_names), clock=clock)
    app.on_before_shutdown.connect(incidents_read.close)

    async def send_to(topic: faust.TopicT, event: CloudEvent) -> None:
        pending = await topic.send(key=event.key(), value=event.to_bytes())
        await pending

    async def emit_notification(event: CloudEvent) -> None:
        await send_to(notifications, event)

    async def emit_notifications(events: Sequence[CloudEvent]) -> None:
        # Every record handed to the app's producer first (the one every commit flushes), then their acks awaited
        # together. Straight to the producer: the topic's send path (a FutureMessage, sensors, serializers that
        # pass bytes through) cost as much again as the producer itself, per record.
        producer, topic = app.producer, notifications.get_topic_name()
        acks = [await producer.send(topic, event.key(), event.to_bytes(), None, None, None) for event in events]
        await asyncio.gather(*acks)

    async def emit_customer(event: CloudEvent) -> None:
        await send_to(customers_out, event)

    async def emit_action(event: CloudEvent) -> None:
        await send_to(actions_out, event)

    async def wiring() -> _Wiring:
        while "w" not in wired:
            await app.sleep(0.05)
        return wired["w"]

    @app.task
    async def open_ledger() -> None:
        ledger, profiles = await open_database(common)
        providers = build_providers(settings)
        dispatcher = Dispatcher(ledger=ledger, profiles=profiles, providers=providers, settings=settings,
                                clock=clock, emit=emit_notification, emit_all=emit_notifications,
                                links=EmailLinks.from_settings(common, settings.public_base_url),
                                incidents_read=incidents_read)
        inbound = Inbound(ledger=ledger, profiles=profiles, answers=dispatcher.answers, settings=settings, clock=clock,
                          emit_customer=emit_customer, emit_notification=emit_notification, emit_action=emit_action)
        wired["w"] = _Wiring(dispatcher, inbound, providers)
        await dispatcher.recover()
        # What start built (modules, settings, clients, compiled statements) lives as long as the process: out of
        # the collector's way, a full collection walks only what messages make (about 100 ms less, each time).
        # The runner freezes what start built once the service is ready; this wiring may be done after that.
        gc.freeze()

    async def on_incident_event(event: CloudEvent) -> None:
        dispatcher = (await wiring()).dispatcher
        if isinstance(event, IncidentDetected):
            await dispatcher.on_incident(event)
        elif isinstance(event, IncidentResolved):
            await dispatcher.on_resolved(event.data.incident_id, event.data.reason)
            await dispatcher.ask_feedback(event.data)

    async def on_customer_event(event: CloudEvent) -> None:
        await (await wiring()).inbound.on_customer_event(event)

    async def on_provider_event(event: CloudEvent) -> None:
        await (await wiring()).inbound.on_provider_event(event)

    async def on_case_event(event: CloudEvent) -> None:
        if isinstance(event, CaseOpened):
            await (await wiring()).dispatcher.notices.on_case_opened(event)

    async def on_incident_batch(events: list[CloudEvent]) -> None:
        await (await wiring()).dispatcher.on_incident_batch(events)

    # Each handler makes its own effects (the ledger, the providers, its outcome events, whose acks it awaits); the
    # core parses, retries what is transient and dead-letters the rest, and falls back from a batch to one at a time.
    incidents_core = Processor[Work](guard, {}, handler_step(guard, on_incident_event))
    customers_core = Processor[Work](guard, {}, handler_step(guard, on_customer_event))
    providers_core = Processor[Work](guard, {}, handler_step(guard, on_provider_event))
    cases_core = Processor[Work](guard, {}, handler_step(guard, on_case_event))

    @app.agent(raw_topic(app, *incident_names), concurrency=1)
    async def notify(stream: Any) -> None:
        # A batch is acked only after all of it is handled (take_ready); the ledger makes a repeat harmless.
        async for batch in take_ready(stream, settings.batch_size, settings.batch_wait_s):
            await incidents_core.process_together(batch, on_incident_batch)

    @app.agent(raw_topic(app, *customer_names), concurrency=1)
    async def keep_profiles(stream: Any) -> None:
        async for event in stream.events():
            await customers_core.one(event)

    @app.agent(raw_topic(app, *provider_names), concurrency=1)
    async def hear_providers(stream: Any) -> None:
        async for event in stream.events():
            await providers_core.one(event)

    @app.agent(raw_topic(app, *case_names), concurrency=1)
    async def hear_cases(stream: Any) -> None:
        async for event in stream.events():
            await cases_core.one(event)

    @app.timer(interval=settings.deferred_poll_s)
    async def send_deferred() -> None:
        if "w" in wired:
            await wired["w"].dispatcher.send_due()

    async def close_providers(*_: Any, **__: Any) -> None:
        if "w" in wired:
            await wired["w"].providers.close()

    app.on_before_shutdown.connect(close_providers)
    return app
