"""care's case.opened becomes one SMS saying a person will get in touch and by when, through the real dispatcher,
ledger (SQLite and PostgreSQL) and Twilio SDK (fake API): once per case, in the customer's language, within
quiet hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import CaseOpened, make_event
from services.notifier.notices import notice_id
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import NotifierRig, incident_event, rig_on

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
PHONE = "+14155550123"


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NOON_NY) as built:
        yield built


def case_opened(case_id: str, *, at: datetime, customer_id: str = "cus_1") -> CaseOpened:
    event = make_event("case.opened", {
        "case_id": case_id, "customer_id": customer_id, "store_id": "acme", "reason": "repeated_trouble",
        "skill": "delivery", "language": "de", "priority": "high", "contact_by": datetime(2026, 11, 25, 17, 0,
                                                                                          tzinfo=UTC),
        "opened_at": at}, source="forewarn/care", subject=customer_id, time=at, id=f"case-opened-{case_id}")
    assert isinstance(event, CaseOpened)
    return event


def texts(fake: FakeProviders) -> list[str]:
    return [r.form["Body"] for r in fake.sends("twilio") if r.form.get("To") == PHONE]


async def test_one_sms_in_the_customers_language_once_per_case(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-1", at=NOON_NY, email=None, locale="de-DE",
                                                    timezone="Europe/Berlin"))
    await rig.dispatcher.notices.on_case_opened(case_opened("case-1", at=NOON_NY))
    await rig.dispatcher.notices.on_case_opened(case_opened("case-1", at=NOON_NY))  # redelivered
    sent = texts(fake_providers)
    assert len(sent) == 2, sent
    assert "Jemand meldet sich bis Mi., 25. Nov., 18:00 bei Ihnen" in sent[1], sent[1]
    row = await rig.ledger.get(notice_id("case-1", "cus_1"))
    assert row is not None and row.purpose == "case" and row.state == "sent" and row.order_id is None
    assert [e.data.notification_id for e in rig.outcomes("notification.sent")][-1] == row.notification_id  # type: ignore[attr-defined]


async def test_a_customer_we_never_messaged_hears_nothing(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.notices.on_case_opened(case_opened("case-2", at=NOON_NY, customer_id="cus_unknown"))
    assert fake_providers.sends("twilio") == []


async def test_quiet_hours_defer_the_notice_and_a_restart_sends_it_once(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-3", at=NOON_NY, email=None))
    night = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # midnight in New York
    rig.clock.set(night)
    await rig.dispatcher.notices.on_case_opened(case_opened("case-3", at=night))
    assert len(texts(fake_providers)) == 1
    row = await rig.ledger.get(notice_id("case-3", "cus_1"))
    assert row is not None and row.state == "deferred" and row.due_at is not None
    assert row.body is not None and "get in touch by Wed, Nov 25, 12:00" in row.body, row.body
    rig.clock.set(row.due_at + timedelta(seconds=1))
    await rig.dispatcher.recover()
    await rig.dispatcher.send_due()
    await rig.dispatcher.send_due()
    sent = texts(fake_providers)
    assert len(sent) == 2 and "a person on our team" in sent[1], sent
