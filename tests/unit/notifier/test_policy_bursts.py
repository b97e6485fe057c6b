"""Property: one message per order per burst, whatever the arrival order, the delay and the duplicates.

A burst is incidents of one order whose event times (`detected_at`) lie within the coalescing
window. They reach the policy in any order, any number of times, hours after they happened and
spread over hours of wall clock, by night or by day: exactly one message goes out, and every
incident is in it or was covered by it. The model below plays the dispatcher's part (the ledger's
dedupe, joins, deferred messages sent at their time and re-checked first) around the pure policy.
Critical incidents are news after a lesser message (see test_policy_coalescing), so they are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.policy import IncidentRef, OrderMessage, PolicySettings, Profile, coalesce, evaluate

pytestmark = pytest.mark.unit

SETTINGS = PolicySettings()
START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)  # a DST weekend in New York follows
PROFILE = Profile(customer_id="c1", store_id="acme", first_name="Ana", email="ana@example.com",
                  phone="+14155550123")


@dataclass
class Notifier:
    """What the dispatcher keeps in the ledger about one order, and what reached the customer."""

    profile: Profile
    handled: set[str] = field(default_factory=set)
    messages: dict[str, OrderMessage] = field(default_factory=dict)
    sent: list[OrderMessage] = field(default_factory=list)
    sends_at: list[datetime] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)

    def on_incident(self, incident: IncidentRef, now: datetime) -> None:
        if incident.incident_id in self.handled:
            return  # the ledger's (incident, customer, channel) row: a redelivery changes nothing
        self.handled.add(incident.incident_id)
        self._decide(incident, now)

    def _decide(self, incident: IncidentRef, now: datetime) -> None:
        decision = evaluate(incident, self.profile, now=now, settings=SETTINGS,
                            messages_same_order=list(self.messages.values()), sent_at=self.sends_at)
        if decision.action == "suppress":
            self.covered.add(incident.incident_id)
        elif decision.action == "join":
            assert decision.join_message_id is not None
            host = self.messages[decision.join_message_id]
            self.messages[host.message_id] = replace(
                host, incident_ids=host.incident_ids | {incident.incident_id},
                first_incident_at=min(host.first_incident_at, incident.detected_at))
        else:
            message = OrderMessage(f"msg-{incident.incident_id}", "ord-1", frozenset({incident.incident_id}),
                                   incident.detected_at, incident.severity, due_at=decision.due_at)
            self.messages[message.message_id] = message
            if decision.action == "send":
                self._send(message, now)

    def _send(self, message: OrderMessage, now: datetime) -> None:
        self.messages[message.message_id] = sent = replace(message, sent_at=now, due_at=None)
        self.sent.append(sent)
        self.sends_at.append(now)

    def send_due(self, now: datetime, incidents: dict[str, IncidentRef]) -> None:
        """Deferred messages whose time came: re-checked against what went out meanwhile, then sent."""
        for message in sorted((m for m in self.messages.values() if m.pending and m.due_at is not None
                               and m.due_at <= now), key=lambda m: (m.due_at, m.message_id)):
            lead = incidents[message.message_id.removeprefix("msg-")]
            others = [m for m in self.messages.values() if m.message_id != message.message_id]
            if coalesce(others, lead, now, SETTINGS).action == "suppress":
                del self.messages[message.message_id]
                self.covered.add(lead.incident_id)
                for rider in sorted(message.incident_ids - {lead.incident_id}):
                    self._decide(incidents[rider], now)
            else:
                self._send(message, now)


@st.composite
def bursts(draw: st.DrawFn) -> tuple[list[IncidentRef], list[tuple[timedelta, str]], str]:
    """Incidents of one burst; arrivals as (wall-clock gap before it, incident id); the customer's zone."""
    count = draw(st.integers(1, 5))
    happened = START + draw(st.timedeltas(timedelta(0), timedelta(days=2)))
    spread = SETTINGS.coalesce_window.total_seconds()
    incidents = [
        IncidentRef(incident_id=f"inc-{i}", order_id="ord-1", kind="delivery_exception",
                    severity=draw(st.sampled_from(["low", "normal", "high"])),
                    detected_at=happened + timedelta(seconds=draw(st.integers(0, int(spread)))))
        for i in range(count)
    ]
    copies = [i.incident_id for i in incidents for _ in range(draw(st.integers(1, 3)))]
    order = draw(st.permutations(copies))
    gaps = [draw(st.timedeltas(timedelta(0), timedelta(hours=3))) for _ in order]
    zone = draw(st.sampled_from(["America/New_York", "Asia/Tokyo", "UTC", "Pacific/Chatham"]))
    return incidents, list(zip(gaps, order, strict=True)), zone


@settings(max_examples=400, deadline=None)
@given(bursts(), st.timedeltas(timedelta(0), timedelta(hours=72)))
def test_one_message_per_order_per_burst(
    burst: tuple[list[IncidentRef], list[tuple[timedelta, str]], str], delay: timedelta
) -> None:
    incidents, arrivals, zone = burst
    by_id = {i.incident_id: i for i in incidents}
    notifier = Notifier(replace(PROFILE, timezone=zone))
    now = max(i.detected_at for i in incidents) + delay  # the first arrival comes `delay` after the burst
    for gap, incident_id in arrivals:
        now += gap
        notifier.send_due(now, by_id)
        notifier.on_incident(by_id[incident_id], now)
    notifier.send_due(now + timedelta(days=2), by_id)

    assert len(notifier.sent) == 1, notifier.sent
    told = notifier.sent[0].incident_ids | notifier.covered
    assert told == set(by_id), "every incident is in the message or covered by it"
