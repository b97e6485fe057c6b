"""The gateway in-process on the real broker: signed webhooks become contract events on the right topic, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from schemas import (
    CustomerChose,
    CustomerOptedOut,
    CustomerRated,
    OrderPlaced,
    PaymentDeclined,
    ProviderEmailEvent,
    ProviderSmsInbound,
    ProviderSmsStatus,
    ShipmentUpdated,
    parse_event,
)
from services.common.links import LinkSigner
from tests.integration.gateway.support import (
    NOW,
    SECRETS,
    RunningGateway,
    database_url,
    json_bytes,
    running_gateway,
)
from tests.support.kafka_io import Record, read_topic
from tests.support.webhooks import SendGridKeys, base64_hmac
from tests.unit.gateway.fixtures import payload, payload_bytes

pytestmark = pytest.mark.integration

ORDER_ID = b"820982911946154508"
SID = "SM0123456789abcdef0123456789abcdef"


@pytest.fixture
async def gw(kafka: str, topic_prefix: str, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    async with running_gateway(kafka, topic_prefix, await database_url("sqlite", tmp_path, None)) as running:
        yield running


async def _records(gw: RunningGateway, topic: str, *, expect: int, settle: float = 1.0) -> list[Record]:
    return await read_topic(gw.common.kafka_bootstrap_servers, topic, expect=expect,
                            timeout=20 if expect else 2, settle=settle)


async def test_every_source_lands_on_its_topic_with_its_key(gw: RunningGateway) -> None:
    responses = [
        await gw.shopify(payload_bytes("shopify_orders_create")),
        await gw.stripe(payload_bytes("stripe_charge_failed")),
        await gw.aftership(payload_bytes("aftership_in_transit")),
        await gw.sendgrid(payload_bytes("sendgrid_events")),
    ]
    assert [r.status for r in responses] == [200, 200, 200, 200], [await r.text() for r in responses]

    [order] = await _records(gw, gw.topic("orders"), expect=1)
    placed = parse_event(order.value or b"", topic="orders")
    assert isinstance(placed, OrderPlaced) and order.key == ORDER_ID
    assert placed.data.customer.phone == "+14155550123"

    [payment] = await _records(gw, gw.topic("payments"), expect=1)
    declined = parse_event(payment.value or b"", topic="payments")
    assert isinstance(declined, PaymentDeclined) and payment.key == ORDER_ID
    assert (declined.data.outcome_type, declined.data.risk_level) == ("blocked", "normal")

    [shipment] = await _records(gw, gw.topic("shipments"), expect=1)
    update = parse_event(shipment.value or b"", topic="shipments")
    assert isinstance(update, ShipmentUpdated) and shipment.key == ORDER_ID and update.data.status == "in_transit"

    emails = await _records(gw, gw.topic("provider-events"), expect=3)
    parsed = [parse_event(r.value or b"", topic="provider-events") for r in emails]
    assert all(isinstance(e, ProviderEmailEvent) for e in parsed) and len(parsed) == 3
    assert {r.key for r in emails} == {b"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000"}

    again = await gw.sendgrid(payload_bytes("sendgrid_events"))  # SendGrid delivers each event ~3 times
    assert again.status == 200 and "duplicate" in await again.text()
    assert len(await _records(gw, gw.topic("provider-events"), expect=3, settle=1.5)) == 3
    assert await _records(gw, gw.dead_letters, expect=0) == []


async def test_unmapped_topic_is_accepted_and_ignored(gw: RunningGateway) -> None:
    response = await gw.shopify(payload_bytes("shopify_orders_create"), topic="orders/updated")
    assert response.status == 202
    assert await _records(gw, gw.topic("orders"), expect=0) == []
    assert await _records(gw, gw.dead_letters, expect=0) == []


async def test_bad_signatures_are_401_and_nothing_is_published(gw: RunningGateway) -> None:
    body = payload_bytes("shopify_orders_create")
    responses = {
        "shopify wrong secret": await gw.shopify(body, secret="shpss_not_ours"),
        "shopify tampered": await gw.client.post("/webhooks/shopify", data=body + b" ", headers={
            "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "wh-t", "X-Shopify-Shop-Domain": "acme",
            "X-Shopify-Hmac-Sha256": base64_hmac(body, SECRETS["shopify_secret"])}),
        "shopify missing": await gw.client.post("/webhooks/shopify", data=body),
        "stripe stale": await gw.stripe(payload_bytes("stripe_charge_failed"), at=1_000_000_000),
        "stripe wrong secret": await gw.stripe(payload_bytes("stripe_charge_failed"), secret="whsec_not_ours"),
        "aftership wrong secret": await gw.aftership(payload_bytes("aftership_in_transit"), secret="nope"),
        "sendgrid other key": await gw.sendgrid(payload_bytes("sendgrid_events"), keys=SendGridKeys.generate()),
        "twilio wrong token": await gw.twilio("/webhooks/twilio/status", _status("delivered"), token="nope"),
    }
    for name, response in responses.items():
        assert response.status == 401, name
        reason = await response.text()
        assert reason.strip() and "whsec" not in reason and len(reason) < 100, name
    for topic in ("orders", "payments", "shipments", "provider-events"):
        assert await _records(gw, gw.topic(topic), expect=0, settle=0) == [], topic
    assert await _records(gw, gw.dead_letters, expect=0, settle=0) == []


async def test_signed_garbage_is_dead_lettered_once(gw: RunningGateway) -> None:
    """Shopify and Stripe get a 2xx once the body is in gateway.dlq: retries cannot succeed (web.DEAD_LETTER_STATUS)."""
    garbage = b'{"id": 42, "line_items": "call +14155550123 or grace@example.com"'
    first = await gw.shopify(garbage, webhook_id="wh-garbage")
    retried = await gw.shopify(garbage, webhook_id="wh-garbage")  # Shopify retries the same payload
    assert (first.status, retried.status) == (200, 200)
    assert "kept in gateway.dlq: body is not valid JSON" in await first.text()
    [dead] = await _records(gw, gw.dead_letters, expect=1)
    assert dead.value == garbage
    headers = dead.headers
    assert headers["forewarn.dlq.error-class"] == b"services.gateway.mapping.base.MappingError"
    assert headers["forewarn.dlq.error-message"] == b"body is not valid JSON"
    assert headers["forewarn.dlq.source"] == b"shopify" and headers["forewarn.dlq.endpoint"] == b"/webhooks/shopify"
    assert headers["forewarn.dlq.shopify-topic"] == b"orders/create"
    assert headers["forewarn.dlq.service"] == b"gateway" and headers["forewarn.dlq.received-at"]
    assert await _records(gw, gw.topic("orders"), expect=0, settle=0) == []

    unmappable = json_bytes({**payload("stripe_payment_intent_succeeded"), "data": {"object": {"id": "pi_1"}}})
    response = await gw.stripe(unmappable)
    assert response.status == 200 and "metadata.order_id" in await response.text()
    aftership = await gw.aftership(b"[]")
    assert aftership.status == 400 and "must be a JSON object" in await aftership.text()
    dead_letters = await _records(gw, gw.dead_letters, expect=3)
    assert sorted(r.value or b"" for r in dead_letters) == sorted([garbage, unmappable, b"[]"])


async def test_sendgrid_batch_with_a_bad_item_publishes_the_rest_and_dead_letters_the_body(gw: RunningGateway) -> None:
    items = payload("sendgrid_events")
    del items[2]["sg_event_id"]
    body = json.dumps(items).encode() + b"\r\n"
    response = await gw.sendgrid(body)
    assert response.status == 400 and "[2].sg_event_id is missing" in await response.text()
    assert len(await _records(gw, gw.topic("provider-events"), expect=2)) == 2
    [dead] = await _records(gw, gw.dead_letters, expect=1)
    assert dead.value == body


async def test_sendgrid_batch_repeating_an_event_publishes_it_once(gw: RunningGateway) -> None:
    items = payload("sendgrid_events")
    response = await gw.sendgrid(json.dumps([*items, items[0]]).encode())
    assert response.status == 200
    assert len(await _records(gw, gw.topic("provider-events"), expect=3, settle=1.5)) == 3


def _status(status: str) -> dict[str, str]:
    return {"MessageSid": SID, "SmsSid": SID, "MessageStatus": status, "SmsStatus": status, "To": "+14155550123",
            "From": "+15005550006", "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01"}


async def test_twilio_callbacks_arrive_as_the_notifier_reads_them(gw: RunningGateway) -> None:
    sent = await gw.twilio("/webhooks/twilio/status", _status("sent"))
    delivered = await gw.twilio("/webhooks/twilio/status", {**_status("delivered"), "ErrorCode": ""})
    repeated = await gw.twilio("/webhooks/twilio/status", _status("sent"))
    inbound = await gw.twilio("/webhooks/twilio/inbound", {
        "MessageSid": "SMin0123456789abcdef0123456789abcd", "From": "+14155550123", "To": "+15005550006",
        "Body": "STOP", "NumMedia": "0", "AccountSid": "AC" + "0" * 32})
    assert [r.status for r in (sent, delivered, repeated, inbound)] == [200, 200, 200, 200]
    assert inbound.content_type == "text/xml" and "<Response></Response>" in await inbound.text()

    records = await _records(gw, gw.topic("provider-events"), expect=3)
    events = [parse_event(r.value or b"", topic="provider-events") for r in records]
    statuses = [e for e in events if isinstance(e, ProviderSmsStatus)]
    assert sorted(e.data.status for e in statuses) == ["delivered", "sent"]
    assert all(e.key() == SID.encode() and e.data.to == "+14155550123" for e in statuses)
    [stop] = [e for e in events if isinstance(e, ProviderSmsInbound)]
    assert stop.data.body == "STOP" and stop.data.from_ == "+14155550123"


async def test_one_click_unsubscribe_publishes_the_opt_out_once(gw: RunningGateway) -> None:
    nid = "ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d"
    token = gw.gateway.links.unsubscribe_token(nid)
    page = await gw.client.get(f"/unsubscribe/{token}")  # what a link scanner does
    assert page.status == 200 and 'method="post"' in await page.text()
    assert page.headers["Cache-Control"] == "no-store"
    assert await _records(gw, gw.topic("customers"), expect=0, settle=0) == []

    bare = await gw.client.post(f"/unsubscribe/{token}")
    assert bare.status == 400
    one_click = {"Content-Type": "application/x-www-form-urlencoded"}
    clicked = await gw.client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click", headers=one_click)
    again = await gw.client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click", headers=one_click)
    assert (clicked.status, again.status) == (200, 200)
    assert (await gw.client.get("/unsubscribe/..%2Fsecrets")).status == 404

    [record] = await _records(gw, gw.topic("customers"), expect=1)
    event = parse_event(record.value or b"", topic="customers")
    assert isinstance(event, CustomerOptedOut)
    assert (event.data.notification_id, event.data.channel, record.key) == (nid, "email", nid.encode())


async def test_a_failed_publish_is_a_503_and_the_retry_is_not_deduped_away(
    gw: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = gw.gateway.intake.publisher
    real_publish = publisher.publish
    failures = iter([KafkaConnectionError("broker away")])

    async def flaky(topic: str, event: object) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        await real_publish(topic, event)  # type: ignore[arg-type]

    monkeypatch.setattr(publisher, "publish", flaky)
    first = await gw.stripe(payload_bytes("stripe_payment_intent_succeeded"))
    assert first.status == 503 and first.headers.get("Retry-After")
    retry = await gw.stripe(payload_bytes("stripe_payment_intent_succeeded"))
    assert retry.status == 200 and "duplicate" not in await retry.text()
    assert len(await _records(gw, gw.topic("payments"), expect=1)) == 1


async def test_oversize_bodies_are_refused(gw: RunningGateway) -> None:
    response = await gw.client.post("/webhooks/shopify", data=b"x" * (1024 * 1024 + 1))
    assert response.status == 413


async def test_health_and_metrics(gw: RunningGateway) -> None:
    await gw.shopify(payload_bytes("shopify_orders_create"), topic="app/uninstalled")
    assert (await gw.client.get("/healthz")).status == 200
    metrics = await (await gw.client.get("/metrics")).text()
    assert 'forewarn_gateway_webhooks_total{outcome="ignored",source="shopify"}' in metrics


async def test_a_source_without_a_secret_refuses_everything(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    db = await database_url("sqlite", tmp_path, None)
    async with running_gateway(kafka, topic_prefix, db, aftership_secret=None) as gw:
        response = await gw.aftership(payload_bytes("aftership_in_transit"))
        assert response.status == 503
        assert await _records(gw, gw.topic("shipments"), expect=0, settle=0) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_twenty_concurrent_deliveries_publish_once(
    backend: str, kafka: str, topic_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    postgres = request.getfixturevalue("postgres") if backend == "postgresql" else None
    async with running_gateway(kafka, topic_prefix, await database_url(backend, tmp_path, postgres)) as gw:
        body = payload_bytes("stripe_payment_intent_succeeded")
        responses = await asyncio.gather(*(gw.stripe(body) for _ in range(20)))
        assert [r.status for r in responses] == [200] * 20
        texts = [await r.text() for r in responses]
        assert sum("duplicate" not in t for t in texts) == 1
        records = await _records(gw, gw.topic("payments"), expect=1, settle=2)
        assert len(records) == 1 and records[0].key == ORDER_ID


async def test_an_unsigned_forged_or_unknown_unsubscribe_link_is_a_404_and_publishes_nothing(
    gw: RunningGateway,
) -> None:
    nid = "ntf-3f9a1c7e5b2d4a6c8e0f1a3b5c7d"
    forged = LinkSigner("not-our-secret").unsubscribe_token(nid)
    one_click = {"Content-Type": "application/x-www-form-urlencoded"}
    for link in (nid, forged, "ntf-random-guess", f"{nid}.{'A' * 43}"):
        assert (await gw.client.get(f"/unsubscribe/{link}")).status == 404
        posted = await gw.client.post(f"/unsubscribe/{link}", data="List-Unsubscribe=One-Click", headers=one_click)
        assert posted.status == 404
    assert await _records(gw, gw.topic("customers"), expect=0, settle=1.0) == []


async def test_a_choice_link_shows_a_page_on_get_and_chooses_once_on_post(gw: RunningGateway) -> None:
    nid = "ntf-7a6b5c4d3e2f1a0b9c8d7e6f5a4b"
    token = gw.gateway.links.choice_token(nid, "refund", NOW + timedelta(days=7))
    page = await gw.client.get(f"/choices/{token}?lang=de-DE")  # a link scanner, or the customer's first look
    text = await page.text()
    assert page.status == 200 and 'method="post"' in text and 'lang="de"' in text and "erstattet" in text
    assert page.headers["Cache-Control"] == "no-store"
    assert await _records(gw, gw.topic("customers"), expect=0, settle=0.5) == []

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await gw.client.post(f"/choices/{token}", data="", headers=form)).status == 400
    assert (await gw.client.post(f"/choices/{token}", data="choice=wait", headers=form)).status == 400
    chosen = await gw.client.post(f"/choices/{token}?lang=de-DE", data="choice=refund", headers=form)
    again = await gw.client.post(f"/choices/{token}?lang=de-DE", data="choice=refund", headers=form)
    assert (chosen.status, again.status) == (200, 200)
    assert "Vielen Dank" in await chosen.text()

    [record] = await _records(gw, gw.topic("customers"), expect=1)
    event = parse_event(record.value or b"", topic="customers")
    assert isinstance(event, CustomerChose)
    assert (event.data.notification_id, event.data.choice, record.key) == (nid, "refund", nid.encode())


async def test_a_forged_altered_or_expired_choice_link_is_a_404_and_publishes_nothing(gw: RunningGateway) -> None:
    nid = "ntf-7a6b5c4d3e2f1a0b9c8d7e6f5a4b"
    expires = NOW + timedelta(days=1)
    genuine = gw.gateway.links.choice_token(nid, "wait", expires)
    altered = genuine.replace(".wait.", ".refund.")
    forged = LinkSigner("not-our-secret").choice_token(nid, "refund", expires)
    expired = gw.gateway.links.choice_token(nid, "refund", NOW - timedelta(seconds=1))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for token, choice in ((altered, "refund"), (forged, "refund"), (expired, "refund"), ("ntf-x.wait.1.abc", "wait")):
        assert (await gw.client.get(f"/choices/{token}")).status == 404
        assert (await gw.client.post(f"/choices/{token}", data=f"choice={choice}", headers=form)).status == 404
    assert await _records(gw, gw.topic("customers"), expect=0, settle=1.0) == []


async def test_a_feedback_link_shows_a_page_on_get_and_answers_once_on_post(gw: RunningGateway) -> None:
    nid = "ntf-2b7d9e4f6a1c3e5b7d9f1a3c5e7b"
    token = gw.gateway.links.feedback_token(nid, 2, NOW + timedelta(days=7))
    for lang, words in (("es-ES", "de 5"), ("de", "von 5"), ("en", "out of 5")):
        page = await gw.client.get(f"/feedback/{token}?lang={lang}")  # a link scanner, or the customer's first look
        text = await page.text()
        assert page.status == 200 and 'method="post"' in text and "<textarea" in text and words in text
        assert f'lang="{lang[:2]}"' in text and page.headers["Cache-Control"] == "no-store"
    assert await _records(gw, gw.topic("customers"), expect=0, settle=0.5) == []

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await gw.client.post(f"/feedback/{token}", data="", headers=form)).status == 400
    assert (await gw.client.post(f"/feedback/{token}", data="score=5", headers=form)).status == 400
    body = "score=2&comment=the+driver%0A+was+rude"
    rated = await gw.client.post(f"/feedback/{token}?lang=de", data=body, headers=form)
    again = await gw.client.post(f"/feedback/{token}?lang=de", data=body, headers=form)
    assert (rated.status, again.status) == (200, 200)
    assert "tut uns leid" in await rated.text()

    [record] = await _records(gw, gw.topic("customers"), expect=1)
    event = parse_event(record.value or b"", topic="customers")
    assert isinstance(event, CustomerRated)
    assert (event.data.notification_id, event.data.score, event.data.text, event.data.channel, record.key) == (
        nid, 2, "the driver was rude", "email", nid.encode())


async def test_a_forged_altered_or_expired_feedback_link_is_a_404_and_publishes_nothing(gw: RunningGateway) -> None:
    nid = "ntf-2b7d9e4f6a1c3e5b7d9f1a3c5e7b"
    expires = NOW + timedelta(days=1)
    genuine = gw.gateway.links.feedback_token(nid, 1, expires)
    altered = genuine.replace(".1.", ".5.")
    forged = LinkSigner("not-our-secret").feedback_token(nid, 5, expires)
    expired = gw.gateway.links.feedback_token(nid, 5, NOW - timedelta(seconds=1))
    choice = gw.gateway.links.choice_token(nid, "wait", expires)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for token, score in ((altered, 5), (forged, 5), (expired, 5), (choice, 5), ("ntf-x.5.1.abc", 5)):
        assert (await gw.client.get(f"/feedback/{token}")).status == 404
        assert (await gw.client.post(f"/feedback/{token}", data=f"score={score}", headers=form)).status == 404
    assert (await gw.client.get(f"/choices/{genuine}")).status == 404
    assert await _records(gw, gw.topic("customers"), expect=0, settle=1.0) == []
