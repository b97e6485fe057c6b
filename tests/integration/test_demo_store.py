"""The demo store process on the real broker: a demo customer answers an SMS, the store acts on a choice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import CloudEvent, make_event, parse_event
from schemas.choices import choices_for
from tests.support.kafka_io import produce, read_topic
from tests.support.notifier import incident_event
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def test_the_demo_customer_answers_and_the_store_acts(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
           "FOREWARN_PARTITIONS": "2", "FOREWARN_SIMULATOR_GATEWAY_URL": "", "FOREWARN_SIMULATOR_TWILIO_AUTH_TOKEN": ""}
    store = ServiceProcess("services.simulator.play", env, tmp_path).start(timeout=60)
    now = datetime.now(UTC)

    def publish(topic: str, *events: CloudEvent) -> None:
        asyncio.run(produce(kafka, topic_prefix + topic, [(e.key(), e.to_bytes()) for e in events]))

    try:
        order = make_event("order.placed", {
            "order_id": "ord-play", "store_id": "acme",
            "customer": {"id": "cus_lena", "first_name": "Lena", "phone": "+4915123456789", "locale": "de"},
            "lines": [{"sku": "ADJ-M", "product_name": "Alpine Down Jacket", "quantity": 1,
                       "unit_price": {"amount": "189.00", "currency": "USD"}}],
            "total": {"amount": "189.00", "currency": "USD"}, "shipping_method": "standard", "placed_at": now,
            "promised_ship_by": now, "promised_delivery_by": now}, source="store/acme", subject="ord-play", time=now)
        incident = incident_event("inc-play", at=now, kind="stockout", order_id="ord-play", customer_id="cus_lena",
                                  phone="+4915123456789", locale="de")
        facts = incident.data.facts.model_copy(update={"choices": list(choices_for("stockout"))})
        incident = incident.model_copy(update={"data": incident.data.model_copy(update={"facts": facts})})
        sent = make_event("notification.sent", {
            "notification_id": "ntf-play", "incident_ids": ["inc-play"], "customer_id": "cus_lena",
            "order_id": "ord-play", "channel": "sms", "status": "sent", "at": now, "provider": "console"},
            source="forewarn/notifier", subject="cus_lena", time=now)
        publish("orders", order)
        publish("incidents", incident)
        publish("notifications", sent)
        [reply] = asyncio.run(read_topic(kafka, topic_prefix + "provider-events", expect=1, timeout=30))
        inbound = parse_event(reply.value or b"", topic="provider-events")
        assert inbound.type == "provider.sms_inbound"
        assert inbound.data.body == "Erstattung bitte"  # type: ignore[attr-defined]

        made = make_event("choice.made", {
            "incident_id": "inc-play", "kind": "stockout", "order_id": "ord-play", "customer_id": "cus_lena",
            "store_id": "acme", "choice": "refund", "channel": "sms", "made_at": now},
            source="forewarn/notifier", subject="ord-play", time=now)
        publish("customer-actions", made)
        orders = asyncio.run(read_topic(kafka, topic_prefix + "orders", expect=2, timeout=30))
        refunds = asyncio.run(read_topic(kafka, topic_prefix + "returns", expect=1, timeout=30, settle=1.0))
        kinds = [parse_event(r.value or b"", topic="orders").type for r in orders]
        assert kinds == ["order.placed", "order.cancelled"], store.log()
        [refund] = [parse_event(r.value or b"", topic="returns") for r in refunds]
        assert refund.type == "refund.issued" and str(refund.data.amount.amount) == "189.00"  # type: ignore[attr-defined]
    finally:
        store.stop()
    assert "the store heard cus_lena choose refund" in store.log()
