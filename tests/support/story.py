"""A customer's story in real ledgers, for the dashboard's story tests: written through the notifier's and
care's own ledger APIs, on tables their migrations built (SQLite file or PostgreSQL database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import CloudEvent, make_event
from services.care.ledger import CareLedger, NewCase
from services.care.migrate import upgrade as care_upgrade
from services.common.db import create_engine, session_factory
from services.notifier.ledger import Ledger
from tests.support.dashboard import EMAIL, PHONE, create_topics, migrated_ledger_url
from tests.support.events import order_placed
from tests.support.kafka_io import produce

__all__ = ["AT", "ORDER_NUMBER", "REPLY", "SMS", "SUPPORT_PHONE", "migrated_story_url", "publish_store_events",
           "seed_story"]

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ORDER_NUMBER = "#1001"
SUPPORT_PHONE = "+49 30 12345678"
SMS = (f"Hi Ada, sorry: your Alpine Down Jacket (order {ORDER_NUMBER}) is out of stock. Reply 1 to wait, 2 for a "
       f"refund. Questions? Call {SUPPORT_PHONE} or write to {EMAIL}. <script>alert('x')</script>")
REPLY = "2 please, and call me on +14155550123 <b>now</b>"


def incident(incident_id: str, *, at: datetime, kind: str, order_id: str, order_number: str | None,
             customer_id: str = "cus_1", product: str = "Alpine Down Jacket") -> CloudEvent:
    data = {
        "incident_id": incident_id, "kind": kind, "order_id": order_id, "order_number": order_number,
        "store_id": "acme",
        "customer": {"id": customer_id, "first_name": "Ada", "last_name": "Lovelace", "email": EMAIL,
                     "phone": PHONE, "locale": "en", "timezone": "Europe/Berlin"},
        "facts": {"product_name": product, "quantity": 1}, "severity": "normal", "escalate": False,
        "escalation_tier": None, "cause_event_ids": [f"evt-{incident_id}"], "detected_at": at,
    }
    return make_event("incident.detected", data, source="forewarn/order-watcher", subject=customer_id, time=at,
                      id=incident_id)


async def migrated_story_url(backend: str, tmp_dir: str, postgres_url: str | None) -> str:
    """A fresh database with the notifier's tables and care's, each built by its own migrations."""
    url = await migrated_ledger_url(backend, tmp_dir, postgres_url)
    engine = create_engine(url)
    try:
        await care_upgrade(engine)
    finally:
        await engine.dispose()
    return url


async def seed_story(url: str) -> None:
    """Customer cus_1 (Ada): order #1001 out of stock, its SMS sent and delivered, an email about another
    order that bounced, a reply, a choice and a care ticket (at the desk) with a note. Customer cus_2 has an
    order of its own, to be left out."""
    engine = create_engine(url)
    ledger = Ledger(session_factory(engine))
    care = CareLedger(session_factory(engine), lease=timedelta(seconds=30))
    try:
        stockout = incident("inc-stock", at=AT, kind="stockout", order_id="ord-1", order_number=ORDER_NUMBER)
        await ledger.reserve(notification_id="ntf-sms", incident_id="inc-stock", customer_id="cus_1", channel="sms",
                             order_id="ord-1", now=AT + timedelta(seconds=5), state="sending",
                             incident=stockout.to_bytes().decode(), severity="normal", body=SMS, attempts=1,
                             address=PHONE, incident_at=AT)
        await ledger.transition("ntf-sms", "sent", now=AT + timedelta(seconds=6), provider="twilio",
                                provider_message_id="SM-story-1")
        await ledger.record_status("SM-story-1", "delivered", now=AT + timedelta(seconds=20))
        late = incident("inc-late", at=AT + timedelta(days=1), kind="not_shipped", order_id="ord-2",
                        order_number="#1002")
        await ledger.reserve(notification_id="ntf-mail", incident_id="inc-late", customer_id="cus_1",
                             channel="email", order_id="ord-2", now=AT + timedelta(days=1, seconds=5), state="sent",
                             incident=late.to_bytes().decode(), severity="normal",
                             subject=f"Order #1002: a short delay, {EMAIL}",
                             body="Hi Ada,\n\nyour order #1002 has not shipped yet.\n\n<img src=x onerror=alert(1)>",
                             attempts=1, address=EMAIL, incident_at=AT + timedelta(days=1))
        await ledger.transition("ntf-mail", "bounced", now=AT + timedelta(days=1, minutes=1))
        other = incident("inc-other", at=AT, kind="not_shipped", order_id="ord-9", order_number="#1009",
                         customer_id="cus_2")
        await ledger.reserve(notification_id="ntf-other", incident_id="inc-other", customer_id="cus_2",
                             channel="sms", order_id="ord-9", now=AT, state="sent", incident=other.to_bytes().decode(),
                             body="Hi Bob, order #1009 is late.", address="+14155559876", attempts=1)

        await care.add_reply(event_id="evt-reply-1", customer_id="cus_1", channel="sms", body=REPLY,
                             in_reply_to="ntf-sms", received_at=AT + timedelta(minutes=3))
        await care.add_choice(event_id="evt-choice-1", customer_id="cus_1", incident_id="inc-stock",
                              order_label=ORDER_NUMBER, choice="refund", channel="sms",
                              made_at=AT + timedelta(minutes=3, seconds=1))
        case = await care.reserve_case(NewCase(
            store_id="acme", customer_id="cus_1", opened_by="evt-escalation-1", desk="zendesk", skill="stock",
            language="en", priority="high", queue="stock-en",
            ticket={"subject": f"[stock] Ada Lovelace: repeated trouble (order {ORDER_NUMBER}), {EMAIL}",
                    "requester": {"email": EMAIL}}, story_items=["incident:inc-stock"]),
            now=AT + timedelta(minutes=4))
        assert case is not None
        claimed = await care.claim_case(case.id, now=AT + timedelta(minutes=4))
        assert claimed is not None
        await care.settle_case(case, "done", now=AT + timedelta(minutes=4, seconds=2), ticket_id="4711")
        await care.reserve_entry(case, event_id="evt-escalation-2", body="Forewarn: another late order.\n\nmore",
                                 story_items=["incident:inc-late"], now=AT + timedelta(days=1, minutes=2))
        pending = await care.reserve_case(NewCase(
            store_id="acme", customer_id="cus_2", opened_by="evt-escalation-9", desk="zendesk", skill="delivery",
            language="de", priority="urgent", queue="delivery-de", ticket={"subject": "late"}, story_items=[]),
            now=AT + timedelta(minutes=5))
        assert pending is not None
    finally:
        await engine.dispose()


async def publish_store_events(bootstrap: str, prefix: str, *, database_url: str) -> None:
    """The store's side, on the real broker: order #1001 placed a day before its stockout, a payment, and
    noise the story must leave out (another customer's order, a value that breaks the contract)."""
    await create_topics(bootstrap, prefix, database_url=database_url)
    placed = order_placed("ord-1", placed_at=AT - timedelta(days=1), order_name=ORDER_NUMBER,
                          product="Alpine Down Jacket", phone=PHONE, email=EMAIL, event_id="evt-placed-1")
    paid = make_event("payment.succeeded", {
        "order_id": "ord-1", "payment_id": "pay-1", "amount": {"amount": "89.00", "currency": "USD"},
        "customer_id": "cus_1", "succeeded_at": AT - timedelta(days=1, minutes=-1)},
        source="store/acme", subject="ord-1", time=AT - timedelta(days=1, minutes=-1), id="evt-paid-1")
    other = order_placed("ord-9", placed_at=AT - timedelta(days=1), customer_id="cus_2", order_name="#1009")
    await produce(bootstrap, f"{prefix}orders", [(placed.key(), placed.to_bytes()), (other.key(), other.to_bytes()),
                                                 (b"ord-1", b"{not json")])
    await produce(bootstrap, f"{prefix}payments", [(paid.key(), paid.to_bytes())])
