"""The demo store acts on each choice as a store would; the demo customers answer in words the notifier reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import ChoiceMadeData, OrderCancelled, RefundIssued
from schemas.choices import choices_for
from services.notifier.replies import read_choice
from services.simulator.store import DEMO_REPLIES, OrderBook, customer_reply, store_actions

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ORDER = OrderBook("ord-1", "cus_1", "189.00", "USD")


def _choice(choice: str, kind: str = "stockout") -> ChoiceMadeData:
    return ChoiceMadeData.model_validate({
        "incident_id": "inc-1", "kind": kind, "order_id": "ord-1", "customer_id": "cus_1", "store_id": "acme",
        "choice": choice, "channel": "sms", "made_at": NOW})


def test_cancel_cancels_the_order_and_refunds_it() -> None:
    actions = store_actions(_choice("cancel", "not_shipped"), ORDER, NOW)
    assert [(topic, event.type) for topic, event in actions] == [("orders", "order.cancelled"),
                                                                 ("returns", "refund.issued")]
    cancelled, refunded = actions[0][1], actions[1][1]
    assert isinstance(cancelled, OrderCancelled) and cancelled.data.reason == "customer"
    assert isinstance(refunded, RefundIssued) and str(refunded.data.amount.amount) == "189.00"


def test_a_refund_of_an_item_we_cannot_send_refunds_and_cancels_it() -> None:
    actions = store_actions(_choice("refund"), ORDER, NOW)
    assert [event.type for _, event in actions] == ["order.cancelled", "refund.issued"]
    assert store_actions(_choice("refund"), ORDER, NOW)[1][1].id == actions[1][1].id  # the same choice, the same ids


def test_a_refund_for_a_lost_parcel_only_refunds() -> None:
    assert [e.type for _, e in store_actions(_choice("refund", "not_delivered"), ORDER, NOW)] == ["refund.issued"]


@pytest.mark.parametrize("choice", ["wait", "substitute", "reship", "retry_payment", "new_date"])
def test_other_choices_publish_nothing(choice: str) -> None:
    assert store_actions(_choice(choice), ORDER, NOW) == []


@pytest.mark.parametrize("kind", sorted(DEMO_REPLIES))
@pytest.mark.parametrize("locale", ["en", "de-DE", "es", "fr"])
def test_demo_customers_answer_in_words_the_notifier_understands(kind: str, locale: str) -> None:
    offered = choices_for(kind)
    body = customer_reply(kind, locale, offered)
    assert body is not None
    assert read_choice(body, offered) in offered
    assert customer_reply(kind, locale, ()) is None
    assert customer_reply("tracking_stalled", locale, offered) is None
