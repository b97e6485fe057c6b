"""The story a ticket tells: built from ledger rows and replies, oldest first, contacts masked, nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.care.story import StoryChoice, StoryReply, build_story, render_addition, render_ticket
from tests.support.notifier import incident_event

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PHONE = "+4915112345678"


def row(incident_id: str, *, state: str = "sent", nid: str | None = None, at: datetime = T0, kind: str = "not_shipped",
        order_id: str = "ord-1", body: str | None = "Hallo Jonas, ...", reason: str | None = None,
        channel: str = "sms", address: str | None = PHONE) -> dict[str, Any]:
    event = incident_event(incident_id, at=at, kind=kind, order_id=order_id, customer_id="cus_1",
                           first_name="Jonas", phone=PHONE, email="jonas@example.de", locale="de-DE")
    return {"notification_id": nid or f"n-{incident_id}", "incident_id": incident_id, "state": state,
            "channel": channel, "address": address, "subject": None, "body": body, "reason": reason,
            "incident": event.to_bytes().decode(), "created_at": at, "updated_at": at + timedelta(seconds=5),
            "due_at": None}


def test_incidents_messages_and_replies_in_order_with_contacts_masked() -> None:
    rows = [row("inc-b", at=T0 + timedelta(hours=1), kind="stockout", order_id="ord-2", body="Leider ..."),
            row("inc-a")]
    replies = [StoryReply("rep-1", "sms", T0 + timedelta(hours=2), "Wo bleibt mein Paket?")]
    choices = [StoryChoice("cho-1", "wait", "sms", T0 + timedelta(hours=3), "#1002", "inc-b")]
    story = build_story(customer_id="cus_1", store_id="acme", deliveries=rows, replies=replies, choices=choices,
                        expected_incidents=["inc-a", "inc-b", "inc-c"])
    assert [i.incident_id for i in story.incidents] == ["inc-a", "inc-b"]
    assert story.missing_incidents == ("inc-c",)
    assert (story.first_name, story.locale, story.phone, story.email) == (
        "Jonas", "de-DE", "+*********5678", "j***@example.de")
    assert story.order_labels() == ["ord-1", "ord-2"]
    assert story.item_keys() == ["incident:inc-a", "incident:inc-b", "message:n-inc-a", "message:n-inc-b",
                                 "reply:rep-1", "choice:cho-1"]
    subject, body = render_ticket(story, headline="repeated trouble", reasons={"skill": "why"},
                                  routing={"skill": "stock", "language": "de", "priority": "high", "queue": "de"})
    assert subject == "[stock] Jonas: repeated trouble (order ord-1, ord-2)"
    assert PHONE not in body and "jonas@example.de" not in body
    lines = body.splitlines()
    order = [next(i for i, line in enumerate(lines) if needle in line) for needle in (
        "INCIDENT not_shipped", "Hallo Jonas", "INCIDENT stockout", "Leider", "Wo bleibt",
        "CHOICE wait on order #1002 by SMS")]
    assert order == sorted(order)
    assert "Not in the message ledger yet: inc-c" in body


def test_an_incident_names_the_order_as_the_customer_knows_it() -> None:
    event = row("inc-a")
    event["incident"] = event["incident"].replace('"order_number":null', '"order_number":"#1001"')
    story = build_story(customer_id="cus_1", store_id="acme", deliveries=[event], replies=[])
    assert story.order_labels() == ["#1001"]
    assert "INCIDENT not_shipped on order #1001" in render_addition(story, headline="x", new_keys=story.item_keys(),
                                                                    marker="m")


def test_a_coalesced_message_names_its_incidents_and_withheld_ones_are_not_messages() -> None:
    rows = [row("inc-a", nid="n-1"), row("inc-b", state="joined", reason="n-1"),
            row("inc-c", state="suppressed", body=None), row("inc-d", state="deferred", body=None)]
    story = build_story(customer_id="cus_1", store_id="acme", deliveries=rows, replies=[])
    assert sorted((m.notification_id, m.incident_ids) for m in story.messages) == [
        ("n-1", ("inc-a", "inc-b")), ("n-inc-d", ("inc-d",))]
    assert len(story.incidents) == 4  # a suppressed incident is still part of the story


def test_an_addition_says_only_what_the_ticket_lacks_and_carries_its_marker() -> None:
    story = build_story(customer_id="cus_1", store_id="acme", deliveries=[row("inc-a"), row("inc-b", kind="stockout")],
                        replies=[])
    note = render_addition(story, headline="escalated again", new_keys=["incident:inc-b"], marker="forewarn-note-x")
    assert "INCIDENT stockout" in note and "not_shipped" not in note and note.endswith("[forewarn-note-x]")
    empty = render_addition(story, headline="again", new_keys=[], marker="m")
    assert "Nothing new" in empty
