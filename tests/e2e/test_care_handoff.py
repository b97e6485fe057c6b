"""Care and the notifier as their own processes on the real broker, Zendesk through zenpy against a fake.

The input events are produced in the contract directly (incidents, escalations, customers), as
order_watcher and the notifier publish them. care's case.opened reaches the notifier on the real broker, and
the customer gets one SMS saying a person will get in touch, and by when."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas import CloudEvent
from tests.support.care import escalation_event, reply_event
from tests.support.fake_providers import FakeProviders
from tests.support.fake_zendesk import FakeZendesk
from tests.support.kafka_io import produce
from tests.support.notifier import incident_event
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

GROUPS = '{"es": 360001, "de": 360002, "stock": 360003, "delivery": 360004}'


@dataclass
class Deployment:
    kafka: str
    prefix: str
    notifier: ServiceProcess
    care: ServiceProcess
    twilio: FakeProviders
    zendesk: FakeZendesk
    database: Path

    def publish(self, topic: str, *events: CloudEvent) -> None:
        asyncio.run(produce(self.kafka, self.prefix + topic, [(e.key(), e.to_bytes()) for e in events]))

    def tickets_with(self, tag: str, count: int = 1, timeout: float = 40.0) -> list[dict[str, Any]]:
        found = self.zendesk.wait_for(lambda: len(self.zendesk.tickets_for(tag)) >= count, timeout=timeout)
        assert found, f"no ticket tagged {tag} in {timeout}s:\n{self.care.log()[-3000:]}"
        return self.zendesk.tickets_for(tag)

    def case_states(self, customer_id: str) -> list[str]:
        with sqlite3.connect(self.database) as conn:
            return [row[0] for row in conn.execute(
                "select state from care_cases where customer_id = ? order by id", (customer_id,))]


@pytest.fixture(scope="module")
def deployment(kafka: str, fake_providers_server: FakeProviders, zendesk: FakeZendesk,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("care-e2e")
    prefix = f"care{int(time.time() * 1000) % 10**9}-"
    database = tmp / "forewarn.db"
    common = {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix, "FOREWARN_PARTITIONS": "2",
        "FOREWARN_DATA_DIR": str(tmp / "data"), "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }
    notifier_env = {
        **common,
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake_providers_server.url,
        "FOREWARN_NOTIFIER_SMS_WINDOW_START": "00:00", "FOREWARN_NOTIFIER_SMS_WINDOW_END": "23:59:59",
    }
    care_env = {
        **common,
        "FOREWARN_CARE_DESK": "zendesk", "FOREWARN_CARE_ZENDESK_SUBDOMAIN": "acme",
        "FOREWARN_CARE_ZENDESK_EMAIL": "care-bot@acme.example", "FOREWARN_CARE_ZENDESK_TOKEN": "zendesk-e2e-token",
        "FOREWARN_CARE_ZENDESK_BASE_URL": zendesk.url, "FOREWARN_CARE_ZENDESK_GROUPS": GROUPS,
        "FOREWARN_CARE_DESK_TIMEOUT_S": "2", "FOREWARN_CARE_CLAIM_LEASE_S": "3", "FOREWARN_CARE_RETRY_AFTER_S": "1",
        "FOREWARN_CARE_RESUME_POLL_S": "0.5", "FOREWARN_CARE_STORY_WAIT_S": "8",
    }
    fake_providers_server.reset()
    zendesk.reset()
    notifier = ServiceProcess("services.notifier", notifier_env, tmp).start()
    care = ServiceProcess("services.care", care_env, tmp).start()
    try:
        yield Deployment(kafka, prefix, notifier, care, fake_providers_server, zendesk, database)
    finally:
        care.stop()
        notifier.stop()


def test_late_order_then_stockout_gives_one_routed_ticket_with_the_whole_story(deployment: Deployment) -> None:
    now = datetime.now(UTC)
    phone = "+34600111333"
    customer = {"customer_id": "cus_e2e_lucia", "first_name": "Lucía", "phone": phone, "timezone": "UTC",
                "locale": "es-ES", "email": "lucia@example.es"}
    late = incident_event("inc-e2e-late", at=now - timedelta(minutes=30), order_id="ord-e2e-1",
                          kind="not_shipped", **customer)
    stock = incident_event("inc-e2e-stock", at=now, order_id="ord-e2e-2", kind="stockout",
                           product="Trail Runner 2", **customer)
    deployment.publish("incidents", late)
    deployment.twilio.wait_for_sends(1)
    # The second incident and its escalation go out together, as the repeated-trouble step publishes them:
    # care waits for the notifier's ledger to hold the incident before it writes the story.
    deployment.publish("incidents", stock)
    deployment.publish("escalations", escalation_event(
        "esc-e2e-1", at=now, customer_id="cus_e2e_lucia", incident_id="inc-e2e-stock", kind="stockout",
        related=["inc-e2e-late"], tier=2, order_id="ord-e2e-2"))
    [ticket] = deployment.tickets_with("lang_es")
    # The case notice may already be out by now (the ticket made, case.opened read): the incidents' two
    # messages are the ones before it.
    sms = [body for r in deployment.twilio.sends() if r.form.get("To") == phone
           and "hemos pasado tu caso" not in (body := r.form["Body"])]
    assert len(sms) == 2, sms
    assert (ticket["priority"], ticket["group_id"]) == ("high", 360001)
    assert {"skill_stock", "lang_es", "queue_es", "also_delivery"} <= set(ticket["tags"])
    [story] = deployment.zendesk.comments[ticket["id"]]
    body = story["body"]
    assert "INCIDENT not_shipped on order ord-e2e-1" in body and "INCIDENT stockout on order ord-e2e-2" in body
    assert all(text in body for text in sms)  # both messages, as the customer saw them
    assert phone not in body and "+*******1333" in body
    assert "skill: stock" in body and "language: es" in body and "priority: high" in body
    # The customer hears, once, in Spanish, that a person will get in touch and by when.
    assert deployment.twilio.wait_for_sends(3, timeout=30), deployment.notifier.log()[-3000:]
    time.sleep(2)
    assert len(deployment.zendesk.created()) == 1
    sms = [r.form["Body"] for r in deployment.twilio.sends() if r.form.get("To") == phone]
    assert len(sms) == 3, sms
    assert "hemos pasado tu caso al equipo" in sms[2] and "como tarde el" in sms[2], sms[2]


def test_care_killed_after_reserving_still_opens_one_ticket(deployment: Deployment) -> None:
    now = datetime.now(UTC)
    deployment.zendesk.hold()  # the ticket is made at the desk; the answer never reaches care
    deployment.publish("escalations", escalation_event(
        "esc-e2e-kill", at=now, customer_id="cus_e2e_kill", incident_id="inc-e2e-kill", kind="not_delivered",
        related=["inc-e2e-kill-0"], tier=1, order_id="ord-e2e-kill"))
    assert deployment.zendesk.wait_for(lambda: any(
        "forewarn" in (r.json or {}).get("ticket", {}).get("tags", []) and "not_delivered" in str(r.json)
        for r in deployment.zendesk.created()), timeout=40), deployment.care.log()[-3000:]
    deployment.care.kill()
    assert deployment.case_states("cus_e2e_kill") == ["sending"]
    deployment.zendesk.release()
    deployment.care.start()
    assert deployment.zendesk.wait_for(lambda: deployment.case_states("cus_e2e_kill") == ["done"], timeout=40), (
        deployment.care.log()[-3000:])
    mine = [r for r in deployment.zendesk.created() if "not_delivered" in str(r.json)]
    assert len(mine) == 1
    lookups = [r for r in deployment.zendesk.requests if r.method == "GET" and "external_id" in r.query]
    assert lookups, "the restarted care sent again without asking the desk"


def test_an_unknown_reply_in_spanish_reaches_spanish_speaking_staff(deployment: Deployment) -> None:
    now = datetime.now(UTC)
    deployment.publish("customers", reply_event("rep-e2e-es", at=now, customer_id="cus_e2e_nuevo",
                                                body="Hola, ¿dónde está mi pedido? Todavía no tengo nada"))
    ticket = deployment.zendesk.wait_for(lambda: [
        t for t in deployment.zendesk.tickets.values()
        if "¿dónde está mi pedido?" in deployment.zendesk.comments[t["id"]][0]["body"]], timeout=40)
    assert ticket, deployment.care.log()[-3000:]
    assert ticket[0]["group_id"] == 360001 and "lang_es" in ticket[0]["tags"]
