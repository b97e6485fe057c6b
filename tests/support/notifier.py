"""Build a Dispatcher for tests: real database, real SDKs against the fake providers, a clock moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import CloudEvent, IncidentDetected, make_event
from services.common.clock import FixedClock
from services.common.db import create_engine, session_factory
from services.notifier.bootstrap import build_providers
from services.notifier.dispatch import Dispatcher
from services.notifier.inbound import Inbound
from services.notifier.ledger import Ledger
from services.notifier.migrate import upgrade
from services.notifier.profiles import ProfileStore
from services.notifier.settings import NotifierSettings
from tests.support.fake_providers import FakeProviders
from tests.support.postgres import fresh_database

__all__ = ["NotifierRig", "incident_event", "notifier_rig", "rig_on"]


@dataclass
class NotifierRig:
    dispatcher: Dispatcher
    inbound: Inbound
    ledger: Ledger
    profiles: ProfileStore
    clock: FixedClock
    emitted: list[CloudEvent] = field(default_factory=list)

    def outcomes(self, type_: str) -> list[CloudEvent]:
        return [e for e in self.emitted if e.type == type_]

    async def restarted(self, settings: NotifierSettings) -> Dispatcher:
        """A new dispatcher on the same database, as after a process restart."""
        return Dispatcher(ledger=self.ledger, profiles=self.profiles, providers=build_providers(settings),
                          settings=settings, clock=self.clock, emit=self._emit)

    async def _emit(self, event: CloudEvent) -> None:
        self.emitted.append(event)


@asynccontextmanager
async def notifier_rig(
    fake: FakeProviders, now: datetime, *, backend: str = "sqlite", tmp_dir: str = "/tmp",
    postgres_url: str | None = None, **overrides: Any,
) -> AsyncIterator[NotifierRig]:
    options: dict[str, Any] = {
        "twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "test-token-123", "twilio_from": "+15005550006",
        "twilio_base_url": fake.url, "sendgrid_api_key": "SG.test-key", "sendgrid_host": fake.url,
        "provider_timeout_s": 1.0, "reconcile_after_s": 0.0, "max_attempts": 4,
        **overrides,
    }
    settings = NotifierSettings(**options)
    engine = create_engine(await fresh_database(backend, tmp_dir, postgres_url, "notifier"))
    await upgrade(engine)
    sessions = session_factory(engine)
    ledger, profiles = Ledger(sessions), ProfileStore(sessions)
    clock = FixedClock(now)
    providers = build_providers(settings)
    rig = NotifierRig(dispatcher=None, inbound=None, ledger=ledger, profiles=profiles, clock=clock)  # type: ignore[arg-type]
    rig.dispatcher = Dispatcher(ledger=ledger, profiles=profiles, providers=providers, settings=settings,
                                clock=clock, emit=rig._emit)
    rig.inbound = Inbound(ledger=ledger, profiles=profiles, answers=rig.dispatcher.answers, settings=settings,
                          clock=clock, emit_customer=rig._emit, emit_notification=rig._emit, emit_action=rig._emit)
    try:
        yield rig
    finally:
        await providers.close()
        await engine.dispose()


@asynccontextmanager
async def rig_on(
    request: pytest.FixtureRequest, fake: FakeProviders, tmp_path: Path, now: datetime, **overrides: Any,
) -> AsyncIterator[NotifierRig]:
    """The rig on the database a fixture is parametrized with (`params=["sqlite", "postgresql"]`)."""
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    async with notifier_rig(fake, now, backend=request.param, tmp_dir=str(tmp_path), postgres_url=postgres,
                            **overrides) as built:
        yield built


def incident_event(
    incident_id: str, *, at: datetime, order_id: str = "ord-1", kind: str = "not_shipped",
    customer_id: str = "cus_1", first_name: str = "Grace", phone: str | None = "+14155550123",
    email: str | None = "grace@example.com", timezone: str | None = "America/New_York", locale: str = "en",
    severity: str = "normal", product: str = "Alpine Down Jacket", order_number: str | None = None,
) -> IncidentDetected:
    data = {
        "incident_id": incident_id, "kind": kind, "order_id": order_id, "order_number": order_number,
        "store_id": "acme",
        "customer": {"id": customer_id, "first_name": first_name, "phone": phone, "email": email,
                     "locale": locale, "timezone": timezone},
        "facts": {"product_name": product, "promised_ship_by": at.isoformat(), "carrier": "UPS"},
        "severity": severity, "cause_event_ids": [f"evt-{incident_id}"], "detected_at": at,
    }
    event = make_event("incident.detected", data, source="forewarn/order-watcher", subject=customer_id, time=at,
                       id=incident_id)
    assert isinstance(event, IncidentDetected)
    return event
