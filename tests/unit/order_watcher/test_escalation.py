"""Repeated trouble: the second bad experience within 90 days goes to a person, at a tier that fits."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from schemas import CustomerRef, EscalationOpenedData, IncidentDetectedData, IncidentFacts, Money
from schemas.values import Tier
from services.order_watcher.rules import EscalationOutcome, TroubleHistory, WatchSettings, on_escalation, on_incident
from services.order_watcher.rules.escalation import escalation_id
from tests.unit.order_watcher.factories import T0

pytestmark = pytest.mark.unit

D = timedelta(days=1)
SETTINGS = WatchSettings()
CUSTOMER = CustomerRef(id="cus-1", first_name="Ada", email="ada@example.com")


def incident(
    number: int,
    kind: str = "not_shipped",
    *,
    at: datetime = T0,
    order_id: str | None = None,
    reason: str | None = None,
    total: str | None = None,
    tier: Tier | None = None,
) -> IncidentDetectedData:
    facts = IncidentFacts(
        exception_reason=reason,
        order_total=Money(amount=Decimal(total), currency="EUR") if total else None,
    )
    return IncidentDetectedData(
        incident_id=f"inc-{number}",
        kind=kind,
        order_id=order_id or f"o-{number}",
        store_id="acme",
        customer=CUSTOMER,
        facts=facts,
        cause_event_ids=[f"ev-{number}"],
        detected_at=at,
        escalate=tier is not None,
        escalation_tier=tier,
    )


def feed(*incidents: IncidentDetectedData, value: Money | None = None) -> list[EscalationOutcome]:
    history: TroubleHistory | None = None
    outcomes = []
    for item in incidents:
        outcome = on_incident(history, item, value, SETTINGS)
        history = outcome.history
        outcomes.append(outcome)
    return outcomes


def tiers(outcomes: list[EscalationOutcome]) -> list[int | None]:
    return [o.tier for o in outcomes]


CASES = [
    ("one bad experience: no escalation", [incident(1)], [None]),
    ("second within 90 days: tier 1", [incident(1), incident(2, at=T0 + 30 * D)], [None, 1]),
    ("second after 90 days: none", [incident(1), incident(2, at=T0 + 91 * D)], [None, None]),
    ("second exactly at 90 days: tier 1", [incident(1), incident(2, at=T0 + 90 * D)], [None, 1]),
    ("third: tier 3", [incident(1), incident(2, at=T0 + D), incident(3, at=T0 + 2 * D)], [None, 1, 3]),
    ("lost parcel: tier 2", [incident(1), incident(2, "delivery_exception", reason="lost")], [None, 2]),
    ("damaged parcel earlier: tier 2", [incident(1, "delivery_exception", reason="damaged"), incident(2)], [None, 2]),
    ("weather delay: tier 1", [incident(1), incident(2, "delivery_exception", reason="weather")], [None, 1]),
    ("refund overdue: tier 2", [incident(1), incident(2, "refund_overdue")], [None, 2]),
    ("late parcel after an overdue refund: tier 2", [incident(1, "refund_overdue"), incident(2, at=T0 + D)],
     [None, 2]),
    ("stalled return after a late parcel: tier 2", [incident(1), incident(2, "return_stalled", at=T0 + D)],
     [None, 2]),
    ("the tier a detector asked for is kept", [incident(1), incident(2, "refund_overdue", tier=3)], [None, 3]),
    ("high order value: tier 2", [incident(1), incident(2, total="250.00")], [None, 2]),
    ("just below the threshold: tier 1", [incident(1), incident(2, total="199.99")], [None, 1]),
    ("journey updates are not trouble", [incident(1), incident(2, "return_received"), incident(3, "refund_issued")],
     [None, None, None]),
    ("more trouble on the same order is one experience",
     [incident(1, order_id="o-1"), incident(2, "not_delivered", order_id="o-1")], [None, None]),
    ("out of order by event time still counts", [incident(2, at=T0 + 40 * D), incident(1, at=T0)], [None, 1]),
]


@pytest.mark.parametrize(("name", "incidents", "expected"), CASES, ids=[c[0] for c in CASES])
def test_escalation(name: str, incidents: list[IncidentDetectedData], expected: list[int | None]) -> None:
    assert tiers(feed(*incidents)) == expected


def test_the_escalation_names_the_case_and_marks_the_incident() -> None:
    first, second = feed(incident(1), incident(2, at=T0 + D))
    assert not first.escalate and first.escalation is None and first.incident.escalate is False
    assert second.escalate and second.tier == 1
    assert second.incident.escalate is True and second.incident.escalation_tier == 1
    escalation = second.escalation
    assert escalation is not None
    assert escalation.escalation_id == escalation_id("cus-1", "inc-2")
    assert escalation.related_incident_ids == ["inc-1"]
    assert escalation.reason == "repeated_trouble"
    assert escalation.opened_at == T0 + D
    assert (escalation.customer_id, escalation.order_id, escalation.store_id) == ("cus-1", "o-2", "acme")


def test_the_order_value_given_by_the_caller_counts() -> None:
    value = Money(amount=Decimal("200"), currency="JPY")
    assert tiers(feed(incident(1), incident(2, at=T0 + D), value=value)) == [None, 2]


def test_the_same_incident_twice_counts_once_and_decides_the_same() -> None:
    _first, second, again = feed(incident(1), incident(2, at=T0 + D), incident(2, at=T0 + D))
    assert again.tier == second.tier == 1
    assert again.escalation is not None and second.escalation is not None
    assert again.escalation.escalation_id == second.escalation.escalation_id
    assert len(again.history.troubles) == 2
    repeat_first = on_incident(again.history, incident(1), None, SETTINGS)
    assert not repeat_first.escalate


def test_history_is_bounded_and_forgets_what_left_the_window() -> None:
    outcomes = feed(*(incident(n, at=T0 + n * D) for n in range(40)))
    history = outcomes[-1].history
    assert len(history.troubles) <= SETTINGS.escalation_history_limit
    assert all(T0 + 39 * D - t.detected_at <= SETTINGS.escalation_window for t in history.troubles)
    late = feed(incident(1), incident(2, at=T0 + 200 * D))[-1].history
    assert [t.incident_id for t in late.troubles] == ["inc-2"]
    restored = TroubleHistory.model_validate_json(history.model_dump_json(exclude_defaults=True))
    assert restored == history


def _case(incident_id: str, tier: Tier = 2) -> EscalationOpenedData:
    """A detector's own case for a person about one incident (as returns opens for a long-overdue refund)."""
    return EscalationOpenedData(
        escalation_id=f"esc-{incident_id}", customer_id="cus-1", incident_id=incident_id, kind="refund_overdue",
        tier=tier, reason="refund_overdue", order_id="o-2", store_id="acme", opened_at=T0 + 4 * D,
    )


def test_a_detectors_case_opens_unless_its_incident_already_escalated_here() -> None:
    *_, second = feed(incident(1), incident(2, "refund_overdue", at=T0 + D))
    assert second.tier == 2
    assert on_escalation(second.history, _case("inc-2")) is False  # one incident, one case
    assert on_escalation(second.history, _case("inc-1")) is True  # inc-1 did not escalate
    assert on_escalation(None, _case("inc-9")) is True
    assert on_escalation(second.history, _case("inc-9")) is True  # not trouble counted here (a late request)
