"""An unsubscribe link names only its notification: the notifier finds the address in its ledger and honours it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import make_event
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import NotifierRig, incident_event, rig_on

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NOON_NY) as built:
        yield built


def _unsubscribe(notification_id: str, channel: str = "email") -> object:
    return make_event("customer.opted_out", {"channel": channel, "notification_id": notification_id,
                                             "source": "email_unsubscribe", "at": NOON_NY},
                      source="forewarn/gateway", subject=notification_id, time=NOON_NY)


async def test_one_click_unsubscribe_stops_the_next_email(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-mail-1", at=NOON_NY, phone=None))
    [sent] = rig.outcomes("notification.sent")
    assert len(fake_providers.sends("sendgrid")) == 1

    await rig.inbound.on_customer_event(_unsubscribe(sent.data.notification_id))  # type: ignore[arg-type]
    await rig.dispatcher.on_incident(incident_event("inc-mail-2", at=NOON_NY, phone=None, order_id="ord-2"))
    assert len(fake_providers.sends("sendgrid")) == 1
    assert len(rig.outcomes("notification.suppressed")) == 1  # no channel left to reach her on
    profile = await rig.profiles.profile_for(customer_id="cus_1", store_id="acme", first_name="Grace",
                                             email="grace@example.com", phone=None, locale="en", timezone=None)
    assert "email" in profile.opted_out


async def test_an_unknown_or_other_channel_notification_changes_nothing(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-sms", at=NOON_NY))
    [sent] = rig.outcomes("notification.sent")
    await rig.inbound.on_customer_event(_unsubscribe("ntf-unknown"))  # type: ignore[arg-type]
    await rig.inbound.on_customer_event(_unsubscribe(sent.data.notification_id))  # type: ignore[arg-type]  # an SMS
    await rig.dispatcher.on_incident(incident_event("inc-mail", at=NOON_NY, phone=None, order_id="ord-2"))
    assert len(fake_providers.sends("sendgrid")) == 1
