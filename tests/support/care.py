"""Care for tests: the contract's input events, and a HandOff on a real database against a real desk client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from schemas import ChoiceMade, CustomerReplied, CustomerUpdated, EscalationOpened, make_event
from services.care.bootstrap import build_desk
from services.care.handoff import HandOff
from services.care.ledger import CareLedger
from services.care.migrate import upgrade
from services.care.settings import CareSettings
from services.care.story_source import DeliveryReader
from services.common.clock import FixedClock
from services.common.db import create_engine, session_factory

__all__ = ["care_handoff", "choice_event", "escalation_event", "profile_event", "reply_event", "zendesk_settings"]


def escalation_event(escalation_id: str, *, at: datetime, customer_id: str, incident_id: str, kind: str,
                     related: list[str], tier: int = 2, order_id: str | None = "ord-1", store_id: str = "acme",
                     reason: str = "repeated_trouble") -> EscalationOpened:
    event = make_event("escalation.opened", {
        "escalation_id": escalation_id, "customer_id": customer_id, "incident_id": incident_id, "kind": kind,
        "tier": tier, "reason": reason, "order_id": order_id, "store_id": store_id,
        "related_incident_ids": related, "opened_at": at,
    }, source="forewarn/order-watcher", subject=customer_id, time=at, id=escalation_id)
    assert isinstance(event, EscalationOpened)
    return event


def reply_event(event_id: str, *, at: datetime, customer_id: str, body: str, channel: str = "sms",
                in_reply_to: str | None = None) -> CustomerReplied:
    event = make_event("customer.replied", {"customer_id": customer_id, "channel": channel, "received_at": at,
                                            "body": body, "in_reply_to": in_reply_to},
                       source="forewarn/notifier", subject=customer_id, time=at, id=event_id)
    assert isinstance(event, CustomerReplied)
    return event


def choice_event(event_id: str, *, at: datetime, customer_id: str, incident_id: str, choice: str,
                 kind: str = "stockout", order_id: str = "ord-1002", order_number: str | None = "#1002",
                 store_id: str = "acme") -> ChoiceMade:
    event = make_event("choice.made", {
        "incident_id": incident_id, "kind": kind, "order_id": order_id, "order_number": order_number,
        "customer_id": customer_id, "store_id": store_id, "choice": choice, "channel": "sms", "made_at": at,
    }, source="forewarn/notifier", subject=order_id, time=at, id=event_id)
    assert isinstance(event, ChoiceMade)
    return event


def profile_event(*, at: datetime, customer_id: str, locale: str, first_name: str = "Lucía",
                  store_id: str = "acme") -> CustomerUpdated:
    event = make_event("customer.updated", {"customer_id": customer_id, "store_id": store_id,
                                            "first_name": first_name, "locale": locale, "updated_at": at},
                       source=f"store/{store_id}", subject=customer_id, time=at)
    assert isinstance(event, CustomerUpdated)
    return event


def zendesk_settings(base_url: str, **overrides: Any) -> CareSettings:
    options: dict[str, Any] = {
        "desk": "zendesk", "zendesk_subdomain": "acme", "zendesk_email": "care-bot@acme.example",
        "zendesk_token": "zendesk-test-token", "zendesk_base_url": base_url, "desk_timeout_s": 1.0,
        "zendesk_groups": {"es": 360001, "stock": 360002, "delivery": 360003},
        "retry_after_s": 0.0, "claim_lease_s": 5.0, "story_wait_s": 0.5, **overrides,
    }
    return CareSettings(**options)


@asynccontextmanager
async def care_handoff(database_url: str, settings: CareSettings, now: datetime) -> AsyncIterator[HandOff]:
    """A HandOff as the service wires it, on `database_url` (care's tables and the notifier's ledger alike)."""
    engine = create_engine(database_url)
    await upgrade(engine)
    ledger = CareLedger(session_factory(engine), lease=timedelta(seconds=settings.claim_lease_s))
    handoff = HandOff(ledger=ledger, deliveries=DeliveryReader(database_url), desk=build_desk(settings),
                      settings=settings, clock=FixedClock(now), engine=engine)
    try:
        yield handoff
    finally:
        await handoff.close()
