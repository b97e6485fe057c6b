"""Journey updates: received, refund issued, rejected; each once, each switchable per store."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from services.returns.rules import ReturnSettings, incident_id
from tests.unit.returns.factories import T0, Desk, order_placed, received, refunded, rejected, requested

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
D = timedelta(days=1)


def test_received_tells_the_customer_when_the_refund_is_expected() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + D), received(T0 + 5 * D)).tick(T0 + 5 * D)
    [incident] = desk.incidents
    assert incident.kind == "return_received"
    assert incident.facts.refund_expected_by == T0 + 6 * D  # received + the 24 h SLA
    assert incident.facts.refund_amount is not None
    assert incident.facts.refund_amount.amount == Decimal("80.00")
    assert incident.facts.product_name == "Trail boots"
    assert incident.customer.id == "cus-1"
    assert incident.customer.phone == "+4915112345678"  # from order.placed: return events carry only the id
    assert incident.customer.timezone == "Europe/Berlin"
    assert incident.store_id == "acme"
    assert incident.order_id == "o-1"
    assert incident.order_number == "#1"  # the store's own number, from order.placed's order_name
    assert incident.detected_at == T0 + 5 * D
    assert incident.severity == "low"
    assert incident.escalate is False
    assert incident.incident_id == incident_id("return_received", "o-1", "r-1", "received")


def test_received_uses_the_store_sla_in_the_expected_date() -> None:
    desk = Desk(ReturnSettings(overrides={"acme": {"refund_sla": "PT48H"}}))
    desk.feed(order_placed(), received(T0)).tick(T0)
    assert desk.of("return_received")[0].facts.refund_expected_by == T0 + 2 * D


def test_received_twice_is_one_update() -> None:
    desk = Desk().feed(order_placed(), received(T0)).tick(T0).feed(received(T0 + H)).run(T0 + 2 * H, start=T0 + H)
    assert desk.kinds() == ["return_received"]


def test_received_without_a_request_names_the_single_product_of_the_order() -> None:
    desk = Desk().feed(order_placed(), received(T0)).tick(T0)
    assert desk.of("return_received")[0].facts.product_name == "Trail boots"


def test_received_without_a_request_names_no_product_when_the_order_had_several() -> None:
    desk = Desk().feed(order_placed(lines=(("A", "Boots"), ("B", "Socks"))), received(T0)).tick(T0)
    assert desk.of("return_received")[0].facts.product_name is None


def test_received_update_can_be_switched_off_per_store() -> None:
    desk = Desk(ReturnSettings(overrides={"acme": {"journey_return_received": False}}))
    desk.feed(order_placed(), received(T0)).tick(T0 + H)
    assert desk.incidents == []


def test_no_receipt_update_once_the_refund_went_out() -> None:
    desk = Desk().feed(order_placed(), refunded(T0), received(T0 + H))
    assert desk.incidents == []


def test_refund_issued_is_off_by_default() -> None:
    desk = Desk().feed(order_placed(), received(T0)).tick(T0).feed(refunded(T0 + 3 * H))
    assert desk.kinds() == ["return_received"]


def test_refund_issued_when_the_store_wants_it() -> None:
    desk = Desk(ReturnSettings(journey_refund_issued=True))
    desk.feed(order_placed(), received(T0), refunded(T0 + 3 * H, expected_by=T0 + 5 * D))
    issued = desk.of("refund_issued")
    assert len(issued) == 1
    facts = issued[0].facts
    assert facts.amount is not None and facts.amount.amount == Decimal("80.00")
    assert facts.refund_method == "original_payment"
    assert facts.refund_expected_by == T0 + 5 * D
    assert issued[0].detected_at == T0 + 3 * H


def test_each_refund_of_a_return_is_its_own_update() -> None:
    desk = Desk(ReturnSettings(journey_refund_issued=True))
    desk.feed(order_placed(), received(T0)).tick(T0)
    desk.feed(refunded(T0 + H, refund_id="re-1"), refunded(T0 + 2 * H, refund_id="re-2"))
    assert desk.kinds() == ["return_received", "refund_issued", "refund_issued"]


def test_a_refund_without_a_return_is_not_a_journey_update() -> None:
    desk = Desk(ReturnSettings(journey_refund_issued=True))
    desk.feed(order_placed(), refunded(T0, return_id=None))
    assert desk.incidents == []


def test_rejected_tells_the_customer_why() -> None:
    desk = Desk().feed(order_placed(), requested(T0 + D), received(T0 + 5 * D)).tick(T0 + 5 * D)
    desk.feed(rejected(T0 + 5 * D + 2 * H))
    assert desk.kinds() == ["return_received", "return_rejected"]
    rejection = desk.of("return_rejected")[0]
    assert rejection.facts.reason_text == "The boots show signs of wear."
    assert rejection.detected_at == T0 + 5 * D + 2 * H


def test_rejected_update_can_be_switched_off_per_store() -> None:
    desk = Desk(ReturnSettings(overrides={"acme": {"journey_return_rejected": False}}))
    desk.feed(order_placed(), requested(T0 + D), rejected(T0 + 2 * D))
    assert desk.incidents == []


def test_journey_settings_of_one_store_leave_another_alone() -> None:
    desk = Desk(ReturnSettings(overrides={"other": {"journey_return_received": False}}))
    desk.feed(order_placed(), received(T0)).tick(T0)
    assert desk.kinds() == ["return_received"]


# -- re-check before send: "we received your return, refund by ..." must still be true -----------------
M = timedelta(minutes=1)


def test_received_and_refund_arriving_together_send_no_refund_by_message() -> None:
    desk = Desk().feed(order_placed(), received(T0), refunded(T0 + M)).tick(T0 + 2 * M)
    assert desk.of("return_received") == []
    assert desk.resolutions == []


def test_received_and_refund_together_become_the_refund_update_when_the_store_wants_it() -> None:
    desk = Desk(ReturnSettings(journey_refund_issued=True))
    desk.feed(order_placed(), received(T0), refunded(T0 + M)).tick(T0 + 2 * M)
    assert desk.kinds() == ["refund_issued"]


def test_received_and_rejected_together_send_only_the_rejection() -> None:
    desk = Desk().feed(order_placed(), received(T0), rejected(T0 + M)).tick(T0 + 2 * M)
    assert desk.kinds() == ["return_rejected"]


def test_the_acknowledgement_goes_out_when_the_stream_clock_reaches_the_receipt() -> None:
    desk = Desk().feed(order_placed(), received(T0))
    assert desk.incidents == []  # decided at the next tick, against everything read by then
    desk.tick(T0)
    [ack] = desk.incidents
    assert ack.kind == "return_received" and ack.detected_at == T0


def test_a_refund_after_the_acknowledgement_withdraws_it() -> None:
    desk = Desk().feed(order_placed(), received(T0)).tick(T0).feed(refunded(T0 + H))
    [ack] = desk.of("return_received")
    assert [(r.incident_id, r.kind, r.reason, r.resolved_at) for r in desk.resolutions] == [
        (ack.incident_id, "return_received", "refund_issued", T0 + H)
    ]


def test_a_rejection_after_the_acknowledgement_withdraws_it() -> None:
    desk = Desk().feed(order_placed(), received(T0)).tick(T0).feed(rejected(T0 + H))
    assert [(r.kind, r.reason) for r in desk.resolutions] == [("return_received", "return_rejected")]
    assert desk.kinds() == ["return_received", "return_rejected"]


def test_the_refund_before_the_receipt_sends_no_acknowledgement_whenever_the_clock_runs() -> None:
    desk = Desk().feed(order_placed(), refunded(T0), received(T0 + H)).run(T0 + 3 * D)
    assert desk.incidents == [] and desk.resolutions == []


def test_the_receipt_again_after_a_withdrawal_is_not_acknowledged_again() -> None:
    desk = Desk().feed(order_placed(), received(T0)).tick(T0).feed(refunded(T0 + H))
    desk.feed(received(T0 + 2 * H, event_id="received-again"), refunded(T0 + 2 * H)).run(T0 + 3 * D, start=T0 + H)
    assert desk.kinds() == ["return_received"]
    assert len(desk.resolutions) == 1


def test_receipt_and_refund_held_for_a_late_order_send_nothing() -> None:
    desk = Desk().feed(received(T0), refunded(T0 + M), order_placed()).run(T0 + 3 * D)
    assert desk.incidents == [] and desk.resolutions == []


def test_a_receipt_read_again_mends_a_deadline_index_that_lost_its_writes() -> None:
    """A kill -9 can leave the order's state in its changelog without the deadline index's writes of the
    same batch: the receipt, read again, is a duplicate for the state and re-asserts the deadlines the
    state implies, so the customer still hears that the return arrived. (Without the mend nothing is
    told: checked on the code before it; this lost one return in the kill -9 chaos test.)"""
    desk = Desk().feed(order_placed(), received(T0))
    desk.table.clear()  # the deadline index's changelog records were lost
    desk.feed(received(T0)).tick(T0)
    assert desk.kinds() == ["return_received"]
