"""care's reaction graph.

Reads : escalations (keyed by customer id)  -> HandOff.on_escalation: open the customer's case, or add to it
        customers (keyed by customer id)    -> customer.replied: HandOff.on_reply (a reply not understood
                                               reaches a person); customer.updated: the name and language
                                               kept for routing; other types are not care's
        customer-actions (order id, else customer) -> choice.made: HandOff.on_choice (into the story; a note on
                                               the customer's open case); feedback.given: HandOff.on_feedback
                                               (a low score opens a case, or notes the open one)
Writes: the help desk (Zendesk, a signed webhook, or the console outbox); cases (case.opened, once a new case's
        ticket is at the desk: the notifier tells the customer a person gets in touch, and by when); <topic>.dlq
Reads, read-only: the notifier's delivery ledger (the messages as the customer saw them; see `story_source`)
Timers: cases and notes reserved but not yet at the desk (a desk away, an ambiguous call, a restart)
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schemas import (
    CASES,
    CUSTOMER_ACTIONS,
    CUSTOMERS,
    ESCALATIONS,
    ChoiceMade,
    CloudEvent,
    CustomerReplied,
    CustomerUpdated,
    EscalationOpened,
    FeedbackGiven,
)
from services.care.bootstrap import open_handoff
from services.care.handoff import HandOff
from services.care.settings import CareSettings
from services.common.clock import Clock, SystemClock
from services.common.processing import Processor, Work, handler_step
from services.common.settings import CommonSettings
from services.common.streams import Guard, create_app, full_names, raw_topic

__all__ = ["SERVICE", "build"]

logger = logging.getLogger(__name__)

SERVICE = "care"


def build(common: CommonSettings, *, settings: CareSettings | None = None, clock: Clock | None = None,
          handoff: HandOff | None = None) -> faust.App:
    """Wire the app: the hand-off is built first (nothing connects until used), then the agents that call it."""
    settings = settings or CareSettings()
    clock = clock or SystemClock()
    care = handoff or open_handoff(common, settings, clock)
    app = create_app(SERVICE, common)
    escalation_names = full_names(common, [ESCALATIONS])
    customer_names = full_names(common, [CUSTOMERS])
    action_names = full_names(common, [CUSTOMER_ACTIONS])
    guard = Guard(service=SERVICE, app=app, topics={**escalation_names, **customer_names, **action_names})
    cases_out = raw_topic(app, common.topic(CASES))

    async def announce(event: CloudEvent) -> None:
        pending = await cases_out.send(key=event.key(), value=event.to_bytes())
        await pending

    care.announce = announce

    async def on_escalation(event: CloudEvent) -> None:
        if isinstance(event, EscalationOpened):
            await care.on_escalation(event)

    async def on_customer_event(event: CloudEvent) -> None:
        if isinstance(event, CustomerReplied):
            await care.on_reply(event)
        elif isinstance(event, CustomerUpdated):
            await care.on_profile(event)

    async def on_action(event: CloudEvent) -> None:
        if isinstance(event, ChoiceMade):
            await care.on_choice(event)
        elif isinstance(event, FeedbackGiven):
            await care.on_feedback(event)

    # Each handler makes its own effects (the desk, the ledger, `cases`) and awaits them; the core parses,
    # retries what is transient and dead-letters the rest, one event at a time.
    escalations_core = Processor[Work](guard, {}, handler_step(guard, on_escalation))
    customers_core = Processor[Work](guard, {}, handler_step(guard, on_customer_event))
    actions_core = Processor[Work](guard, {}, handler_step(guard, on_action))

    @app.agent(raw_topic(app, *escalation_names), concurrency=1)
    async def hand_off(stream: Any) -> None:
        async for event in stream.events():
            await escalations_core.one(event)

    @app.agent(raw_topic(app, *customer_names), concurrency=1)
    async def hear_customers(stream: Any) -> None:
        async for event in stream.events():
            await customers_core.one(event)

    @app.agent(raw_topic(app, *action_names), concurrency=1)
    async def hear_choices(stream: Any) -> None:
        async for event in stream.events():
            await actions_core.one(event)

    @app.timer(interval=settings.resume_poll_s)
    async def resume_pending() -> None:
        try:
            await care.resume_pending()
        except Exception:  # a database or desk away: the next tick tries again; nothing is lost meanwhile
            logger.exception("resuming cases not yet at the desk failed; trying again in %.0fs",
                             settings.resume_poll_s)

    async def close(*_: Any, **__: Any) -> None:
        await care.close()

    app.on_before_shutdown.connect(close)
    return app
