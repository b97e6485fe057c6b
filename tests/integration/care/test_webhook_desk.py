"""The generic desk: each ticket and note POSTed as signed JSON, retried under the same idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.care.desks import DeskAmbiguous, DeskRejected, WebhookDesk
from services.care.settings import CareSettings
from tests.support.care import care_handoff, reply_event
from tests.support.fake_zendesk import FakeZendesk, Recorded

pytestmark = pytest.mark.integration

SECRET = "webhook-test-secret-7f3a"
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[FakeZendesk]:
    server = FakeZendesk(timeout_delay=1.5).start()
    try:
        yield server
    finally:
        server.stop()


def verified(record: Recorded, secret: str = SECRET, now: float | None = None) -> dict[str, object]:
    """What a receiver does: parse the signature header, recompute the HMAC over "<t>." + body, compare."""
    fields = dict(part.split("=", 1) for part in record.headers["X-Forewarn-Signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + record.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])
    assert abs(int(fields["t"]) - (now or datetime.now(UTC).timestamp())) < 60
    payload = json.loads(record.body)
    assert isinstance(payload, dict)
    return payload


def desk(receiver: FakeZendesk, **overrides: object) -> WebhookDesk:
    options: dict[str, object] = {"url": receiver.url + "/hook", "secret": SECRET, "timeout_s": 1.0,
                                  "max_attempts": 3, "backoff_s": 0.05, **overrides}
    return WebhookDesk(**options)  # type: ignore[arg-type]


TICKET = {"external_id": "forewarn-care-abc", "subject": "[stock] Lucía", "body": "the story", "priority": "high",
          "tags": ["forewarn", "lang_es"], "queue": "es", "skill": "stock", "language": "es"}


async def test_a_ticket_is_signed_and_carries_its_idempotency_key(receiver: FakeZendesk) -> None:
    hook = desk(receiver)
    try:
        ticket_id = await hook.create(TICKET)
    finally:
        await hook.close()
    [record] = receiver.hooks()
    payload = verified(record)
    assert ticket_id.startswith("hook-")
    assert record.headers["Idempotency-Key"] == "forewarn-care-abc"
    assert record.headers["X-Forewarn-Event"] == "ticket.opened"
    assert payload["event"] == "ticket.opened" and payload["subject"] == "[stock] Lucía"
    with pytest.raises(AssertionError):
        verified(record, secret="another-secret")
    tampered = Recorded(record.method, record.path, record.query, record.headers, record.body.replace(b"high", b"low"))
    with pytest.raises(AssertionError):
        verified(tampered)


async def test_a_retried_post_carries_the_same_key_and_body(receiver: FakeZendesk) -> None:
    receiver.script([503, "timeout"], route="hook")
    hook = desk(receiver)
    try:
        await hook.create(TICKET)
    finally:
        await hook.close()
    records = receiver.hooks()
    assert len(records) == 3
    assert {r.headers["Idempotency-Key"] for r in records} == {"forewarn-care-abc"}
    assert len({r.body for r in records}) == 1
    for record in records:
        verified(record)


async def test_a_desk_that_keeps_failing_is_ambiguous_and_a_refusal_is_final(receiver: FakeZendesk) -> None:
    receiver.script([502, 502, 502, 400], route="hook")
    hook = desk(receiver)
    try:
        with pytest.raises(DeskAmbiguous):
            await hook.create(TICKET)
        with pytest.raises(DeskRejected):
            await hook.comment("t-1", "note", marker="forewarn-note-1", external_id="forewarn-care-abc")
    finally:
        await hook.close()
    assert len(receiver.hooks()) == 4  # three tries of the ticket; the refused note was not tried again


async def test_the_handoff_sends_ticket_and_note_through_the_webhook(receiver: FakeZendesk, tmp_path: Path) -> None:
    settings = CareSettings(desk="webhook", webhook_url=receiver.url + "/hook", webhook_secret=SECRET,
                            webhook_backoff_s=0.05, retry_after_s=0, story_wait_s=0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'care.db'}"
    async with care_handoff(url, settings, NOW) as care:
        await care.on_reply(reply_event("rep-1", at=NOW, customer_id="cus_1", body="¿Dónde está mi pedido?"))
        await care.on_reply(reply_event("rep-2", at=NOW, customer_id="cus_1", body="¿Hola?"))
        await care.on_reply(reply_event("rep-2", at=NOW, customer_id="cus_1", body="¿Hola?"))  # redelivered
    opened, note = receiver.hooks()
    assert verified(opened)["language"] == "es" and opened.headers["X-Forewarn-Event"] == "ticket.opened"
    body = verified(note)
    assert note.headers["X-Forewarn-Event"] == "ticket.comment"
    assert note.headers["Idempotency-Key"] == body["marker"] and "¿Hola?" in str(body["body"])
    assert str(body["ticket_id"]).startswith("hook-")  # the id the receiver answered the ticket with
    assert body["external_id"] == json.loads(opened.body)["external_id"]
