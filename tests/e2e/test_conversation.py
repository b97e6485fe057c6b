"""The conversation on the real broker: gateway and notifier as processes, Twilio and SendGrid faked over HTTP.

A stockout SMS is answered through the gateway's Twilio-signed inbound webhook ("2", "Erstattung
bitte", "reembolso"): one `choice.made` and one confirmation in the customer's language. CANCEL
still opts out. A reply nobody can read goes to a person with an honest answer. An email's choice
link shows a page on GET, chooses once on POST, and a forged or expired link is a 404.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlencode, urlsplit

import pytest

from schemas import CloudEvent, parse_event
from schemas.choices import choices_for
from services.common.links import LinkSigner
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import produce, read_topic
from tests.support.notifier import incident_event
from tests.support.processes import ServiceProcess
from tests.support.webhooks import twilio_signature

pytestmark = pytest.mark.e2e

LINK_SECRET = "e2e-link-secret-0d9f8e7a6b5c"
TWILIO_TOKEN = "e2e-twilio-auth-token-4c3b2a19"
OUR_NUMBER = "+15005550006"
STOCKOUT = choices_for("stockout")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Conversation:
    kafka: str
    prefix: str
    gateway_url: str
    fake: FakeProviders
    gateway: ServiceProcess
    notifier: ServiceProcess

    def publish_incident(self, incident_id: str, *, customer_id: str, locale: str, phone: str | None = None,
                         email: str | None = None) -> None:
        now = datetime.now(UTC)
        event = incident_event(incident_id, at=now, kind="stockout", customer_id=customer_id, locale=locale,
                               phone=phone, email=email, order_id=f"ord-{customer_id}", timezone="UTC")
        facts = event.data.facts.model_copy(update={"choices": list(STOCKOUT)})
        event = event.model_copy(update={"data": event.data.model_copy(update={"facts": facts})})
        asyncio.run(produce(self.kafka, self.prefix + "incidents", [(event.key(), event.to_bytes())]))

    def sms_to(self, phone: str) -> list[str]:
        return [r.form["Body"] for r in self.fake.sends("twilio") if r.form.get("To") == phone]

    def wait_sms(self, phone: str, count: int, timeout: float = 45.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.sms_to(phone)) < count:
            time.sleep(0.1)
        texts = self.sms_to(phone)
        assert len(texts) >= count, (texts, self.notifier.log()[-3000:])
        return texts

    def reply(self, phone: str, body: str, sid: str) -> int:
        """What Twilio posts when the customer texts us: form-encoded, signed over the public URL."""
        path = "/webhooks/twilio/inbound"
        params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": phone, "To": OUR_NUMBER, "Body": body,
                  "NumMedia": "0"}
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": twilio_signature(self.gateway_url + path, params, TWILIO_TOKEN)}
        return self.http("POST", path, urlencode(params).encode(), headers)[0]

    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310 (our own gateway, http)
            self.gateway_url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own gateway)
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def events(self, topic: str, expect: int, *, timeout: float = 30.0, settle: float = 2.0) -> list[CloudEvent]:
        records = asyncio.run(read_topic(self.kafka, self.prefix + topic, expect=expect, timeout=timeout,
                                         settle=settle))
        return [parse_event(r.value or b"", topic=topic) for r in records]

    def choices_of(self, customer_id: str, expect: int = 1, **kwargs: float) -> list[CloudEvent]:
        return [e for e in self.events("customer-actions", expect, **kwargs)
                if e.type == "choice.made" and e.data.customer_id == customer_id]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def conversation(kafka: str, fake_providers_server: FakeProviders, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Conversation]:
    tmp = tmp_path_factory.mktemp("conversation-e2e")
    prefix = f"conv{int(time.time() * 1000) % 10**9}-"
    port = _free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    common = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix, "FOREWARN_PARTITIONS": "2",
        "FOREWARN_DATA_DIR": str(tmp / "data"), "FOREWARN_LINK_SECRET": LINK_SECRET,
    }
    notifier_env = {
        **common, "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'notifier.db'}",
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real", "FOREWARN_NOTIFIER_TWILIO_FROM": OUR_NUMBER,
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers_server.url,
        "FOREWARN_NOTIFIER_SENDGRID_API_KEY": "SG.test-key",
        "FOREWARN_NOTIFIER_SENDGRID_HOST": fake_providers_server.url,
        "FOREWARN_NOTIFIER_PUBLIC_BASE_URL": gateway_url, "FOREWARN_NOTIFIER_STORE_TIMEZONE": "UTC",
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "23:59:59",
    }
    gateway_env = {
        **common, "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gateway.db'}",
        "FOREWARN_GATEWAY_PORT": str(port), "FOREWARN_GATEWAY_PUBLIC_BASE_URL": gateway_url,
        "FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    }
    fake_providers_server.reset()
    gateway = ServiceProcess("services.gateway", gateway_env, tmp).start(timeout=60)
    notifier = ServiceProcess("services.notifier", notifier_env, tmp).start()
    try:
        yield Conversation(kafka, prefix, gateway_url, fake_providers_server, gateway, notifier)
    finally:
        notifier.stop()
        gateway.stop()


@pytest.mark.parametrize(("locale", "phone", "body", "confirmation"), [
    ("en", "+14155550301", str(STOCKOUT.index("refund") + 1), "refund"),
    ("de-DE", "+4915155550302", "Erstattung bitte", "Erstattung"),
    ("es-ES", "+34655550303", "reembolso", "reembolso"),
])
def test_a_stockout_reply_makes_one_choice_and_one_confirmation_in_the_customers_language(
    conversation: Conversation, locale: str, phone: str, body: str, confirmation: str,
) -> None:
    customer = f"cus_reply_{locale}"
    conversation.publish_incident(f"inc-conv-{locale}", customer_id=customer, locale=locale, phone=phone)
    [offer] = conversation.wait_sms(phone, 1)
    assert f"{STOCKOUT.index('refund') + 1}" in offer

    assert conversation.reply(phone, body, f"SMconv{locale.replace('-', '')}") == 200
    [made] = conversation.choices_of(customer)
    assert made.data.choice == "refund" and made.data.channel == "sms"  # type: ignore[attr-defined]
    assert made.data.incident_id == f"inc-conv-{locale}"  # type: ignore[attr-defined]
    assert made.data.order_id == f"ord-{customer}" and made.subject == f"ord-{customer}"  # type: ignore[attr-defined]
    texts = conversation.wait_sms(phone, 2)
    time.sleep(1.0)
    assert len(conversation.sms_to(phone)) == 2, conversation.sms_to(phone)
    assert confirmation in texts[1], texts[1]


def test_cancel_still_opts_out_and_makes_no_choice(conversation: Conversation) -> None:
    phone, customer = "+14155550304", "cus_cancel"
    conversation.publish_incident("inc-conv-cancel", customer_id=customer, locale="en", phone=phone)
    conversation.wait_sms(phone, 1)
    assert conversation.reply(phone, "CANCEL", "SMconvcancel") == 200
    opted = [e for e in conversation.events("customers", 1, settle=3.0)
             if e.type == "customer.opted_out" and getattr(e.data, "phone", None) == phone]
    assert len(opted) == 1
    assert conversation.choices_of(customer, expect=0, timeout=3.0) == []
    assert len(conversation.sms_to(phone)) == 1  # no confirmation, no answer: the carrier answers STOP words


def test_a_reply_not_understood_goes_to_a_person_and_gets_an_honest_answer(conversation: Conversation) -> None:
    phone, customer = "+14155550305", "cus_question"
    conversation.publish_incident("inc-conv-question", customer_id=customer, locale="en", phone=phone)
    conversation.wait_sms(phone, 1)
    assert conversation.reply(phone, "Will it arrive before my trip on Friday?", "SMconvquestion") == 200
    texts = conversation.wait_sms(phone, 2)
    assert "a person" in texts[1], texts[1]
    replied = [e for e in conversation.events("customers", 1, settle=2.0)
               if e.type == "customer.replied" and e.data.customer_id == customer]  # type: ignore[attr-defined]
    assert len(replied) == 1
    assert conversation.choices_of(customer, expect=0, timeout=3.0) == []


def test_an_email_choice_link_shows_a_page_chooses_once_and_refuses_forged_or_expired_links(
    conversation: Conversation,
) -> None:
    address, customer = "choose@example.com", "cus_email"
    conversation.publish_incident("inc-conv-email", customer_id=customer, locale="en", email=address)
    deadline = time.monotonic() + 45
    mails: list[str] = []
    while time.monotonic() < deadline and not mails:
        mails = [next(c["value"] for c in r.json["content"] if c["type"] == "text/html")
                 for r in conversation.fake.sends("sendgrid") if address in str(r.json)]
        time.sleep(0.2)
    assert mails, conversation.notifier.log()[-3000:]
    links = {link.rsplit("?", 1)[0]: link for link in re.findall(r'href="([^"]*/choices/[^"]+)"', mails[0])}
    assert len(links) == len(STOCKOUT)
    refund_path = urlsplit(next(link for link in links.values() if ".refund." in unquote(link))).path
    token = unquote(refund_path.rsplit("/", 1)[1])
    nid = token.split(".", 1)[0]

    status, page = conversation.http("GET", refund_path + "?lang=en")
    assert status == 200 and 'method="post"' in page and "refund" in page
    assert conversation.choices_of(customer, expect=0, timeout=3.0) == []  # a GET (a link scanner) chose nothing

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert conversation.http("POST", refund_path, b"choice=refund", form)[0] == 200
    assert conversation.http("POST", refund_path, b"choice=refund", form)[0] == 200
    [made] = conversation.choices_of(customer, settle=3.0)
    assert made.data.choice == "refund" and made.data.channel == "email"  # type: ignore[attr-defined]
    assert made.data.notification_id == nid  # type: ignore[attr-defined]

    now = datetime.now(UTC)
    forged = LinkSigner("not-the-server-secret").choice_token(nid, "wait", now + timedelta(days=1))
    expired = LinkSigner(LINK_SECRET).choice_token(nid, "wait", now - timedelta(seconds=5))
    for bad in (forged, expired, token.replace(".refund.", ".wait.")):
        assert conversation.http("GET", f"/choices/{bad}")[0] == 404
        assert conversation.http("POST", f"/choices/{bad}", b"choice=wait", form)[0] == 404
    chosen = [e for e in conversation.events("customers", 1, settle=2.0) if e.type == "customer.chose"]
    assert [e.data.choice for e in chosen] == ["refund"]  # type: ignore[attr-defined]
    assert len(conversation.choices_of(customer, settle=2.0)) == 1
