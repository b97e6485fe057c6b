"""A promise of the next update, kept: the notifier as its own process on the real broker, Twilio faked.

The promise is made seconds long by settings (no business mornings), so the whole story of an
order fits in a short test: a late order still open at its promised update time gets exactly
one follow-up, then one more at the next promise and none after; the same order delivered
before then gets none, also when it was delivered while the notifier was down (the resolution is
read before the promise is decided). The notifier is restarted between the first message and its
promise: the promise lives in the ledger, not in the process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from schemas import CloudEvent, make_event
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import incident_event
from tests.support.notifier_process import NotifierDeployment, notifier_env
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

PROMISE_S = 6.0
LATE_PHONE = "+14155550301"
DELIVERED_PHONE = "+14155550302"
DELIVERED_WHILE_DOWN_PHONE = "+14155550303"


@pytest.fixture(scope="module")
def deployment(kafka: str, fake_providers_server: FakeProviders, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[NotifierDeployment]:
    tmp = tmp_path_factory.mktemp("follow-ups-e2e")
    prefix = f"e2efu{int(time.time() * 1000) % 10**9}-"
    # SMS at any hour (an empty window is always open), promises seconds away.
    env = notifier_env(kafka, prefix, tmp, fake_providers_server, store_timezone="UTC", deferred_poll_s="0.5",
                       sms_window_start="00:00", sms_window_end="00:00", promise_after_s=str(PROMISE_S),
                       promise_business_mornings="false")
    fake_providers_server.reset()
    notifier = ServiceProcess("services.notifier", env, tmp).start()
    try:
        yield NotifierDeployment(kafka, prefix, notifier, fake_providers_server, tmp / "n.db")
    finally:
        notifier.stop()


def test_a_late_order_still_open_gets_one_follow_up_per_promise_and_a_delivered_one_none(
    deployment: NotifierDeployment,
) -> None:
    now = datetime.now(UTC)
    deployment.publish(
        "incidents",
        incident_event("inc-fu-late", at=now, customer_id="cus_fu_late", phone=LATE_PHONE, email=None,
                       order_id="ord-fu-late", timezone="UTC"),
        incident_event("inc-fu-done", at=now, customer_id="cus_fu_done", phone=DELIVERED_PHONE, email=None,
                       order_id="ord-fu-done", timezone="UTC"),
        incident_event("inc-fu-down", at=now, customer_id="cus_fu_down", phone=DELIVERED_WHILE_DOWN_PHONE,
                       email=None, order_id="ord-fu-down", timezone="UTC"),
    )
    for phone in (LATE_PHONE, DELIVERED_PHONE, DELIVERED_WHILE_DOWN_PHONE):
        assert len(deployment.wait_sms(phone, 1)) == 1, deployment.notifier.log()[-3000:]
    first_sent = time.monotonic()
    deployment.publish("incidents", delivered("done"))
    deployment.wait_resolved("inc-fu-done")

    deployment.notifier.stop()  # the promise falls due while the notifier is down
    deployment.publish("incidents", delivered("down"))  # and this order is delivered meanwhile
    time.sleep(max(0.0, PROMISE_S + 0.5 - (time.monotonic() - first_sent)))
    deployment.notifier.start()

    late = deployment.wait_sms(LATE_PHONE, 2, timeout=20)
    assert len(late) == 2 and late[1] != late[0]  # exactly one follow-up for the promise
    assert len(deployment.wait_sms(LATE_PHONE, 3, timeout=20)) == 3  # the follow-up promised another update
    time.sleep(PROMISE_S + 2)  # the last follow-up promised nothing
    assert len(deployment.sms_to(LATE_PHONE)) == 3, deployment.sms_to(LATE_PHONE)
    assert deployment.sms_to(DELIVERED_PHONE)[1:] == []  # delivered before its promise: no follow-up
    assert deployment.sms_to(DELIVERED_WHILE_DOWN_PHONE)[1:] == []  # the resolution was read first


def delivered(name: str) -> CloudEvent:
    at = datetime.now(UTC)
    return make_event(
        "incident.resolved", {"incident_id": f"inc-fu-{name}", "kind": "not_shipped", "order_id": f"ord-fu-{name}",
                              "customer_id": f"cus_fu_{name}", "reason": "delivered", "resolved_at": at},
        source="forewarn/order-watcher", subject=f"cus_fu_{name}", time=at)
