"""The feedback loop on the real broker: gateway, notifier and care as processes, Twilio and Zendesk faked over HTTP.

A late order is delivered: one question, "How did we handle it? Reply 1 (poor) to 5 (great)". The
customer answers "2 the driver was rude" through the gateway's Twilio-signed inbound webhook:
`feedback.given` with score 2 and those words on `customer-actions`, a thanks that says we are sorry
(and promises nothing), a ticket at the fake Zendesk carrying the words, and an SMS saying by when a person
gets in touch: the customer hears of a person once. A second resolved incident within 30 days asks nothing.
"""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from schemas import CloudEvent, make_event, parse_event
from tests.support.fake_providers import FakeProviders
from tests.support.fake_zendesk import FakeZendesk
from tests.support.kafka_io import produce, read_topic
from tests.support.notifier import incident_event
from tests.support.processes import ServiceProcess
from tests.support.webhooks import twilio_signature

pytestmark = pytest.mark.e2e

TWILIO_TOKEN = "e2e-twilio-auth-token-7f6e5d4c"
OUR_NUMBER = "+15005550006"
PHONE = "+14155550377"
QUESTION = "How did we handle it?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Loop:
    kafka: str
    prefix: str
    gateway_url: str
    twilio: FakeProviders
    zendesk: FakeZendesk
    notifier: ServiceProcess

    def publish(self, topic: str, *events: CloudEvent) -> None:
        asyncio.run(produce(self.kafka, self.prefix + topic, [(e.key(), e.to_bytes()) for e in events]))

    def sms(self) -> list[str]:
        return [r.form["Body"] for r in self.twilio.sends("twilio") if r.form.get("To") == PHONE]

    def wait_sms(self, count: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.sms()) < count:
            time.sleep(0.1)
        assert len(self.sms()) >= count, (self.sms(), self.notifier.log()[-3000:])
        return self.sms()

    def late_then_delivered(self, incident_id: str, order_id: str, at: datetime) -> None:
        late = incident_event(incident_id, at=at, order_id=order_id, kind="not_delivered", customer_id="cus_fb",
                              phone=PHONE, email=None, timezone="UTC", order_number=f"#{order_id[-4:]}")
        before = len(self.sms())
        self.publish("incidents", late)
        self.wait_sms(before + 1)
        self.publish("incidents", make_event("incident.resolved", {
            "incident_id": incident_id, "kind": "not_delivered", "order_id": order_id, "customer_id": "cus_fb",
            "reason": "delivered", "resolved_at": at + timedelta(hours=2)}, source="forewarn/order-watcher",
            subject="cus_fb", time=at + timedelta(hours=2), id=f"res-{incident_id}"))

    def reply(self, body: str, sid: str) -> int:
        path = "/webhooks/twilio/inbound"
        params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": PHONE, "To": OUR_NUMBER, "Body": body,
                  "NumMedia": "0"}
        request = urllib.request.Request(  # noqa: S310 (our own gateway, http)
            self.gateway_url + path, data=urlencode(params).encode(), method="POST", headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(self.gateway_url + path, params, TWILIO_TOKEN)})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own gateway)
            return int(response.status)

    def feedback(self, expect: int = 1) -> list[CloudEvent]:
        records = asyncio.run(read_topic(self.kafka, self.prefix + "customer-actions", expect=expect, timeout=20,
                                         settle=1.0))
        events = [parse_event(r.value or b"", topic="customer-actions") for r in records]
        return [e for e in events if e.type == "feedback.given"]


@pytest.fixture(scope="module")
def loop(kafka: str, fake_providers_server: FakeProviders, zendesk: FakeZendesk,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    tmp = tmp_path_factory.mktemp("feedback-e2e")
    prefix = f"fb{int(time.time() * 1000) % 10**9}-"
    port = _free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    database = f"sqlite+aiosqlite:///{tmp / 'forewarn.db'}"
    common = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix, "FOREWARN_PARTITIONS": "2",
              "FOREWARN_DATA_DIR": str(tmp / "data")}
    notifier_env = {
        **common, "FOREWARN_DATABASE_URL": database,
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real", "FOREWARN_NOTIFIER_TWILIO_FROM": OUR_NUMBER,
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers_server.url,
        "FOREWARN_NOTIFIER_PUBLIC_BASE_URL": gateway_url,
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "23:59:59",
        "FOREWARN_NOTIFIER_FEEDBACK_DELAY_S": "0", "FOREWARN_NOTIFIER_DEFERRED_POLL_S": "0.5",
        "FOREWARN_NOTIFIER_CAP_PER_24H": "10",  # the late orders, the question and "a person will get in touch"
    }
    gateway_env = {
        **common, "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gateway.db'}",
        "FOREWARN_GATEWAY_PORT": str(port), "FOREWARN_GATEWAY_PUBLIC_BASE_URL": gateway_url,
        "FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    }
    care_env = {
        **common, "FOREWARN_DATABASE_URL": database,
        "FOREWARN_CARE_DESK": "zendesk", "FOREWARN_CARE_ZENDESK_SUBDOMAIN": "acme",
        "FOREWARN_CARE_ZENDESK_EMAIL": "care-bot@acme.example", "FOREWARN_CARE_ZENDESK_TOKEN": "zendesk-e2e-token",
        "FOREWARN_CARE_ZENDESK_BASE_URL": zendesk.url, "FOREWARN_CARE_RESUME_POLL_S": "0.5",
        "FOREWARN_CARE_STORY_WAIT_S": "2",
    }
    fake_providers_server.reset()
    zendesk.reset()
    gateway = ServiceProcess("services.gateway", gateway_env, tmp).start(timeout=60)
    notifier = ServiceProcess("services.notifier", notifier_env, tmp).start()
    care = ServiceProcess("services.care", care_env, tmp).start()
    try:
        yield Loop(kafka, prefix, gateway_url, fake_providers_server, zendesk, notifier)
    finally:
        care.stop()
        notifier.stop()
        gateway.stop()


def test_a_delivered_late_order_asks_once_and_a_low_score_reaches_a_person(loop: Loop) -> None:
    now = datetime.now(UTC)
    loop.late_then_delivered("inc-fb-late", "ord-fb-1001", now - timedelta(hours=3))
    texts = loop.wait_sms(2)
    assert QUESTION in texts[1] and "#1001" in texts[1], texts

    assert loop.reply("2 the driver was rude", "SMfeedback1") == 200
    [given] = loop.feedback()
    data = given.data
    assert (data.score, data.text, data.incident_id) == (2, "the driver was rude", "inc-fb-late")  # type: ignore[attr-defined]
    assert given.subject == "ord-fb-1001"
    thanks = loop.wait_sms(3)[2]
    assert "sorry it wasn't better" in thanks and "person" not in thanks, thanks
    tickets = loop.zendesk.wait_for(lambda: [t for t in loop.zendesk.tickets.values()
                                             if "the driver was rude" in loop.zendesk.comments[t["id"]][0]["body"]],
                                    timeout=30)
    assert tickets and len(tickets) == 1
    assert "low feedback 2/5" in loop.zendesk.comments[tickets[0]["id"]][0]["body"]
    notice = loop.wait_sms(4)[3]  # the case went to a person: the customer hears by when
    assert "a person on our team, who will get in touch by" in notice, notice

    # A second late order, delivered a day later: within 30 days, so no second question.
    loop.late_then_delivered("inc-fb-late-2", "ord-fb-1002", now - timedelta(hours=1))
    time.sleep(4.0)
    assert sum(QUESTION in t for t in loop.sms()) == 1, loop.sms()
