"""The notifier as its own process on the real broker: consent, coalescing, STOP, quiet hours, replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from schemas import make_event
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import read_topic, rewind_group
from tests.support.notifier import incident_event
from tests.support.notifier_process import NotifierDeployment, notifier_env
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def _window_opening_in(seconds: int) -> tuple[str, str]:
    """An SMS window (UTC customer) that opens `seconds` from now and stays open an hour."""
    opens = datetime.now(UTC) + timedelta(seconds=seconds)
    closes = opens + timedelta(hours=1)
    return opens.strftime("%H:%M:%S"), closes.strftime("%H:%M:%S")


@pytest.fixture(scope="module")
def deployment(kafka: str, fake_providers_server: FakeProviders, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[NotifierDeployment]:
    tmp = tmp_path_factory.mktemp("notifier-e2e")
    prefix = f"e2e{int(time.time() * 1000) % 10**9}-"
    window_start, window_end = _window_opening_in(40)
    # Quiet hours are real: the window opens 40 s after start, so early SMS are deferred, then sent.
    env = notifier_env(kafka, prefix, tmp, fake_providers_server, sms_window_start=window_start,
                       sms_window_end=window_end, store_timezone="UTC", deferred_poll_s="0.5")
    fake_providers_server.reset()
    notifier = ServiceProcess("services.notifier", env, tmp).start()
    try:
        yield NotifierDeployment(kafka, prefix, notifier, fake_providers_server, tmp / "n.db")
    finally:
        notifier.stop()


def test_sms_outside_the_window_is_deferred_then_sent(deployment: NotifierDeployment) -> None:
    now = datetime.now(UTC)
    deployment.publish("incidents", incident_event("inc-e2e-night", at=now, customer_id="cus_night",
                                                   phone="+14155550201", timezone="UTC", order_id="ord-night"))
    notifications = asyncio.run(read_topic(deployment.kafka, deployment.prefix + "notifications", expect=1))
    assert any(b"notification.deferred" in (r.value or b"") for r in notifications), deployment.notifier.log()[-3000:]
    assert deployment.sms_to("+14155550201") == []
    sent = deployment.wait_sms("+14155550201", 1, timeout=60)
    assert len(sent) == 1 and "Grace" in sent[0]


def test_opted_out_customer_gets_nothing(deployment: NotifierDeployment) -> None:
    now = datetime.now(UTC)
    for channel, field, address in (("sms", "phone", "+14155550202"), ("email", "email", "out@example.com")):
        deployment.publish("customers", make_event(
            "customer.opted_out", {"customer_id": "cus_out", "channel": channel, field: address,
                                   "source": "store", "at": now},
            source="store/acme", subject="cus_out", time=now))
    deployment.wait_opted_out("sms", "+14155550202")
    deployment.wait_opted_out("email", "out@example.com")
    deployment.publish("incidents", incident_event("inc-e2e-out", at=now, customer_id="cus_out",
                                                   phone="+14155550202", email="out@example.com", order_id="ord-out",
                                                   timezone="UTC"))
    records = asyncio.run(read_topic(deployment.kafka, deployment.prefix + "notifications", expect=10, timeout=8))
    mine = [r for r in records if b"inc-e2e-out" in (r.value or b"")]
    assert len(mine) == 1 and b"notification.suppressed" in (mine[0].value or b"") and b"opted_out" in (
        mine[0].value or b"")
    assert deployment.sms_to("+14155550202") == []
    assert not [r for r in deployment.fake.sends("sendgrid") if "out@example.com" in str(r.json)]


def test_two_incidents_on_one_order_give_one_message_and_stop_stops_the_next(deployment: NotifierDeployment) -> None:
    phone = "+14155550203"
    deployment.wait_sms("+14155550201", 1, timeout=60)  # the window is open now
    now = datetime.now(UTC)
    deployment.publish("incidents",
                       incident_event("inc-e2e-a", at=now, customer_id="cus_two", phone=phone, order_id="ord-two",
                                          timezone="UTC"),
                       incident_event("inc-e2e-b", at=now + timedelta(minutes=2), customer_id="cus_two", phone=phone,
                                      order_id="ord-two", kind="eta_slipped", timezone="UTC"))
    assert len(deployment.wait_sms(phone, 1)) == 1
    time.sleep(3)
    assert len(deployment.sms_to(phone)) == 1  # the second incident was coalesced
    deployment.publish("provider-events", make_event(
        "provider.sms_inbound", {"message_sid": "SMe2e-stop", "from": phone, "to": "+15005550006",
                                 "body": " Stop ", "received_at": now}, source="twilio", subject="SMe2e-stop",
        time=now))
    deployment.wait_opted_out("sms", phone)
    deployment.publish("incidents", incident_event("inc-e2e-c", at=now, customer_id="cus_two", phone=phone,
                                                   order_id="ord-three", email=None, timezone="UTC"))
    time.sleep(4)
    assert len(deployment.sms_to(phone)) == 1  # STOP held


def test_replay_from_offset_zero_makes_no_new_provider_calls(deployment: NotifierDeployment) -> None:
    deployment.wait_sms("+14155550201", 1, timeout=60)
    time.sleep(2)
    before = len(deployment.fake.sends("twilio")) + len(deployment.fake.sends("sendgrid"))
    assert before >= 2
    deployment.notifier.stop()
    group = f"{deployment.prefix}forewarn-notifier"
    assert asyncio.run(rewind_group(deployment.kafka, group, deployment.prefix + "incidents")) == 2
    deployment.notifier.start()
    deployment.notifier.wait_for_log("already handled", timeout=60)  # the replayed incidents were seen again
    time.sleep(2)
    after = len(deployment.fake.sends("twilio")) + len(deployment.fake.sends("sendgrid"))
    assert after == before
