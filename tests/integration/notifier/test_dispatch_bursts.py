"""Property, through the dispatcher on a real ledger: one message per order per burst.

The same incidents as the policy's property (tests/unit/notifier/test_policy_bursts.py), here decided
by the Dispatcher on SQLite with the real Twilio SDK against the fake: any arrival order, duplicates,
incidents hours old, arrivals spread over hours of wall clock by night and by day, one by one or in
batches. What the fake Twilio recorded is what the customer got: exactly one SMS.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import IncidentDetected
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import incident_event, notifier_rig

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
PHONE = "+14155550777"


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[tuple[timedelta, list[IncidentDetected]]], str]:
    """Batches as they reach the dispatcher (wall-clock gap before each), and the customer's zone."""
    zone = draw(st.sampled_from(["America/New_York", "Asia/Tokyo", "UTC"]))
    happened = START + draw(st.timedeltas(timedelta(0), timedelta(days=1)))
    incidents = [
        incident_event(f"inc-p{i}", at=happened + timedelta(seconds=draw(st.integers(0, int(WINDOW.total_seconds())))),
                       kind=kind, severity=draw(st.sampled_from(["low", "normal", "high"])), customer_id="cus_p",
                       phone=PHONE, email=None, timezone=zone, order_id="ord-p")
        for i, kind in enumerate(draw(st.lists(st.sampled_from(["delivery_exception", "eta_slipped", "not_shipped"]),
                                               min_size=1, max_size=4)))
    ]
    copies = draw(st.permutations([e for e in incidents for _ in range(draw(st.integers(1, 3)))]))
    batches: list[tuple[timedelta, list[IncidentDetected]]] = []
    first_gap = draw(st.timedeltas(timedelta(0), timedelta(hours=48)))  # incidents hours or days old
    while copies:
        size = draw(st.integers(1, len(copies)))
        gap = first_gap if not batches else draw(st.timedeltas(timedelta(0), timedelta(hours=3)))
        batches.append((gap, copies[:size]))
        copies = copies[size:]
    return batches, zone


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals())
def test_one_sms_per_order_per_burst_through_the_dispatcher(
    fake_providers_server: FakeProviders, burst: tuple[list[tuple[timedelta, list[IncidentDetected]]], str]
) -> None:
    batches, _ = burst
    fake_providers_server.reset()
    latest = max(e.data.detected_at for _, batch in batches for e in batch)

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            # Days pass: the first message per burst is counted here, follow-ups in test_follow_ups.
            async with notifier_rig(fake_providers_server, latest, tmp_dir=tmp, follow_ups_max=0) as rig:
                for gap, batch in batches:
                    rig.clock.set(rig.clock.now() + gap)
                    await rig.dispatcher.send_due()
                    if len(batch) == 1:
                        await rig.dispatcher.on_incident(batch[0])
                    else:
                        await rig.dispatcher.on_incidents(batch)
                rig.clock.set(rig.clock.now() + timedelta(days=2))
                await rig.dispatcher.send_due()

    asyncio.run(run())
    sent = [r.form["Body"] for r in fake_providers_server.sends("twilio") if r.form.get("To") == PHONE]
    assert len(sent) == 1, sent
