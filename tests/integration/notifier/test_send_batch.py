"""A batch of fresh incidents: sent at most `send_concurrency` at once, each once, its outcomes reported together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import CloudEvent
from services.notifier.dispatch import Dispatcher, Providers
from services.notifier.providers import SendResult, SmsMessage, SmsProvider
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import incident_event, notifier_rig

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


class _InFlight:
    """The real SMS provider, counting the requests in flight at once."""

    name = "twilio"

    def __init__(self, sms: SmsProvider) -> None:
        self.sms = sms
        self.now = 0
        self.most = 0

    async def send_sms(self, message: SmsMessage) -> SendResult:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.01)  # long enough for every sender to be in flight
            return await self.sms.send_sms(message)
        finally:
            self.now -= 1

    async def find_sms(self, message: SmsMessage, since: datetime) -> str | None:
        return await self.sms.find_sms(message, since)

    async def close(self) -> None:
        await self.sms.close()


async def test_a_batch_is_sent_at_most_send_concurrency_at_once_and_reported_together(
    fake_providers: FakeProviders, tmp_path: Path,
) -> None:
    reported: list[list[CloudEvent]] = []

    async def emit_all(events: Sequence[CloudEvent]) -> None:
        reported.append(list(events))

    async with notifier_rig(fake_providers, NOON_NY, tmp_dir=str(tmp_path), send_concurrency=3) as rig:
        sms = _InFlight(rig.dispatcher.providers.sms)
        dispatcher = Dispatcher(ledger=rig.ledger, profiles=rig.profiles,
                                providers=Providers(sms=sms, email=rig.dispatcher.providers.email),
                                settings=rig.dispatcher.settings, clock=rig.clock, emit=rig._emit, emit_all=emit_all)
        events = [incident_event(f"inc-{i}", at=NOON_NY, customer_id=f"cus_{i}", order_id=f"ord-{i}",
                                 phone=f"+1415555{i:04d}") for i in range(12)]
        await dispatcher.on_incidents(events)
        await dispatcher.on_incidents(events)  # redelivered: nothing more
    assert sms.most == 3
    assert sorted(s.form["To"] for s in fake_providers.sends("twilio")) == [f"+1415555{i:04d}" for i in range(12)]
    assert len(reported) == 1 and rig.emitted == []
    assert [e.type for e in reported[0]] == ["notification.sent"] * 12
    assert sorted(e.data.customer_id for e in reported[0]) == sorted(f"cus_{i}" for i in range(12))


async def test_sends_whose_outcomes_were_not_acked_are_reported_once_found_at_the_provider(
    fake_providers: FakeProviders, tmp_path: Path,
) -> None:
    """The outcome events of a batch are effects: acked before the ledger records the sends. When the broker
    does not take them, the rows stay `sending`; the redelivered batch sends nothing again, and once the sends
    count as cut off they are looked up at the provider and reported. (Recorded first, they would be `sent`
    rows the redelivery skips, and their outcome events would never be written.)"""
    reported: list[CloudEvent] = []
    broker_down = True

    async def emit_all(events: Sequence[CloudEvent]) -> None:
        if broker_down:
            raise ConnectionError("the broker did not ack the outcome events")
        reported.extend(events)

    async with notifier_rig(fake_providers, NOON_NY, tmp_dir=str(tmp_path)) as rig:
        dispatcher = Dispatcher(ledger=rig.ledger, profiles=rig.profiles, providers=rig.dispatcher.providers,
                                settings=rig.dispatcher.settings, clock=rig.clock, emit=rig._emit, emit_all=emit_all)
        events = [incident_event(f"inc-{i}", at=NOON_NY, customer_id=f"cus_{i}", order_id=f"ord-{i}",
                                 phone=f"+1415555{i:04d}") for i in range(3)]
        with pytest.raises(ConnectionError):
            await dispatcher.on_incidents(events)
        broker_down = False
        await dispatcher.on_incidents(events)  # the batch again, as after a restart: nothing is sent twice
        rig.clock.advance(timedelta(seconds=dispatcher.settings.interrupted_after_s + 1))
        await dispatcher.send_due()  # cut off: ambiguous, looked up at the provider (reconcile_after_s is 0): reported
    assert len(fake_providers.sends("twilio")) == 3
    sent = [e for e in [*reported, *rig.emitted] if e.type == "notification.sent"]
    assert sorted(e.data.customer_id for e in sent) == ["cus_0", "cus_1", "cus_2"]
