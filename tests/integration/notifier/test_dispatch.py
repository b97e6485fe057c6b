"""The notifier's use cases on a real database, the real SDKs and the fake provider server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import CloudEvent, make_event
from services.notifier.ledger import DeliveryState
from services.notifier.outgoing import About, Outgoing
from services.notifier.policy import Profile
from services.notifier.rendering import RenderedMessage
from tests.support.fake_providers import FakeProviders
from tests.support.notifier import NotifierRig, incident_event, rig_on

pytestmark = pytest.mark.integration

NOON_NY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # 12:00 in New York (EST)
ELEVEN_PM_NY = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 23:00 in New York
EIGHT_AM_NY = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 08:00 in New York


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(
    request: pytest.FixtureRequest, fake_providers: FakeProviders, tmp_path: Path
) -> AsyncIterator[NotifierRig]:
    async with rig_on(request, fake_providers, tmp_path, NOON_NY) as built:
        yield built


async def test_incident_becomes_one_sms(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    event = incident_event("inc-1", at=NOON_NY)
    await rig.dispatcher.on_incident(event)
    await rig.dispatcher.on_incident(event)  # redelivered
    sends = fake_providers.sends("twilio")
    assert len(sends) == 1
    assert "Grace" in sends[0].form["Body"] and "Alpine Down Jacket" in sends[0].form["Body"]
    assert [e.type for e in rig.emitted] == ["notification.sent"]
    row = await rig.ledger.find_any(incident_id="inc-1", customer_id="cus_1")
    assert row is not None and row.state == "sent"
    assert row.provider_message_id == rig.emitted[0].data.provider_message_id


async def test_messages_name_the_stores_order_number_not_the_internal_id(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-n1", at=NOON_NY, order_id="ord-cd26-102",
                                                    order_number="#1042"))
    await rig.dispatcher.on_incident(incident_event("inc-n2", at=NOON_NY, order_id="ord-cd26-103",
                                                    customer_id="cus_2", phone="+14155550124"))
    named, unnamed = (s.form["Body"] for s in fake_providers.sends("twilio"))
    assert "#1042" in named and "ord-cd26-102" not in named
    assert "ord-cd26-103" in unnamed  # the internal id only when the store gave no number


async def test_429_is_retried_after_the_delay_asked(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    fake_providers.script("twilio", [(429, 1), (429, 1)])
    await rig.dispatcher.on_incident(incident_event("inc-429", at=NOON_NY))
    sends = fake_providers.sends("twilio")
    assert len(sends) == 3
    assert sends[1].at - sends[0].at >= 0.9  # waited for Retry-After
    assert len(fake_providers.messages) == 1
    assert rig.outcomes("notification.sent")


def _outgoing(nid: str, incident_id: str) -> Outgoing:
    profile = Profile(customer_id="cus_1", store_id="acme", phone="+14155550123")
    rendered = RenderedMessage(channel="sms", locale="en", text="Acme: a word about your order.")
    return Outgoing(nid, "sms", profile, rendered, About.of(incident_event(incident_id, at=NOON_NY).data))


async def test_the_send_path_claims_a_reserved_row_counts_each_attempt_and_reports_the_send(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.ledger.reserve(notification_id="ntf-own", incident_id="inc-own", customer_id="cus_1", channel="sms",
                             order_id="ord-1", now=NOON_NY)
    fake_providers.script("twilio", [(429, 0)])
    assert await rig.dispatcher.send(_outgoing("ntf-own", "inc-own"), claim={"body": "Acme: a word."})
    row = await rig.ledger.get("ntf-own")
    assert row is not None and row.state is DeliveryState.SENT and row.attempts == 2 and row.body == "Acme: a word."
    [sent] = rig.outcomes("notification.sent")
    assert sent.data.notification_id == "ntf-own" and sent.data.incident_ids == ["inc-own"]  # type: ignore[attr-defined]
    assert sent.data.provider_message_id == row.provider_message_id  # type: ignore[attr-defined]
    assert not await rig.dispatcher.send(_outgoing("ntf-own", "inc-own"), claim={})  # sent: never claimed again
    assert len(fake_providers.messages) == 1


async def test_the_send_path_leaves_a_row_another_pass_moved_on(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    await rig.ledger.reserve(notification_id="ntf-gone", incident_id="inc-gone", customer_id="cus_1", channel="sms",
                             order_id="ord-1", now=NOON_NY, state=DeliveryState.WITHDRAWN)
    assert not await rig.dispatcher.send(_outgoing("ntf-gone", "inc-gone"), claim={})
    assert fake_providers.sends("twilio") == [] and rig.emitted == []


async def test_an_ambiguous_send_is_looked_up_at_the_number_it_went_to(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    """The stored profile names a newer phone than the incident carries: the message went there, so the lookup asks
    there (asking at the incident's number finds nothing, and the message would go out twice)."""
    await rig.profiles.upsert("cus_1", now=NOON_NY, phone="+14155550999")
    fake_providers.script("twilio", [500])
    await rig.dispatcher.on_incident(incident_event("inc-new-phone", at=NOON_NY))
    [send] = fake_providers.sends("twilio")
    assert send.form["To"] == "+14155550999"
    await rig.dispatcher.send_due()  # looked up at the provider
    row = await rig.ledger.find_any(incident_id="inc-new-phone", customer_id="cus_1")
    assert row is not None and row.state == "sent" and row.reason == "reconciled"
    assert len(fake_providers.sends("twilio")) == 1


async def test_500_is_reconciled_not_resent(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    fake_providers.script("twilio", [500])
    await rig.dispatcher.on_incident(incident_event("inc-500", at=NOON_NY))
    row = await rig.ledger.find_any(incident_id="inc-500", customer_id="cus_1")
    assert row is not None and row.state == "ambiguous"
    assert rig.outcomes("notification.sent") == []
    await rig.dispatcher.send_due()  # the periodic pass looks it up at the provider
    row = await rig.ledger.find_any(incident_id="inc-500", customer_id="cus_1")
    assert row is not None and row.state == "sent" and row.reason == "reconciled"
    assert len(fake_providers.sends("twilio")) == 1  # no second message
    assert len(rig.outcomes("notification.sent")) == 1


async def test_a_send_found_at_the_provider_is_recorded_only_once_reported(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    """A send found at the provider is reported, then recorded: when the broker does not take the report, the
    row stays ambiguous and the next pass reports it (recorded first, nothing would ever report it)."""
    fake_providers.script("twilio", [500])
    await rig.dispatcher.on_incident(incident_event("inc-unacked", at=NOON_NY))
    emit = rig.dispatcher.emit

    async def broker_down(event: CloudEvent) -> None:
        raise ConnectionError("the broker did not ack the outcome event")

    rig.dispatcher.emit = broker_down
    with pytest.raises(ConnectionError):
        await rig.dispatcher.send_due()
    row = await rig.ledger.find_any(incident_id="inc-unacked", customer_id="cus_1")
    assert row is not None and row.state == "ambiguous"
    rig.dispatcher.emit = emit
    await rig.dispatcher.send_due()
    row = await rig.ledger.find_any(incident_id="inc-unacked", customer_id="cus_1")
    assert row is not None and row.state == "sent" and row.reason == "reconciled"
    assert len(rig.outcomes("notification.sent")) == 1
    assert len(fake_providers.sends("twilio")) == 1


async def test_timeout_is_reconciled_not_resent(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    fake_providers.timeout_delay = 1.5
    fake_providers.script("twilio", ["timeout"])
    await rig.dispatcher.on_incident(incident_event("inc-slow", at=NOON_NY))
    row = await rig.ledger.find_any(incident_id="inc-slow", customer_id="cus_1")
    assert row is not None and row.state == "ambiguous"
    fake_providers.wait_for_sends(1)
    await asyncio.sleep(2.0)  # the provider finishes the request the client gave up on (0.5 s after)
    await rig.dispatcher.send_due()
    row = await rig.ledger.find_any(incident_id="inc-slow", customer_id="cus_1")
    assert row is not None and row.state == "sent"
    assert len(fake_providers.sends("twilio")) == 1


async def test_500_that_never_arrived_is_sent_again_once(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    fake_providers.script("twilio", [(503, None)])
    fake_providers.messages.clear()
    await rig.dispatcher.on_incident(incident_event("inc-lost", at=NOON_NY))
    fake_providers.messages.clear()  # the provider lost it
    await rig.dispatcher.send_due()
    assert len(fake_providers.sends("twilio")) == 2
    row = await rig.ledger.find_any(incident_id="inc-lost", customer_id="cus_1")
    assert row is not None and row.state == "sent"


async def test_sends_cut_off_in_a_stopped_worker_are_settled_by_the_worker_that_stays(
    rig: NotifierRig, fake_providers: FakeProviders,
) -> None:
    """A worker stopped mid-send (SIGTERM past its stop deadline, or kill -9) leaves its rows `sending`; the worker
    that takes its partitions over reads those incidents again and finds them handled, and nobody restarts, so
    `recover` never runs. Its periodic pass must still settle them, looked up at the provider: the message the
    provider took is `sent` and not sent again; the one it never got is sent once. Before, both rows stayed
    `sending` for good and the second customer was never told (the chaos rebalance scenario once ended with a
    `sending` row)."""
    took = incident_event("inc-cut-took", at=NOON_NY, order_id="ord-cut-1")
    never = incident_event("inc-cut-never", at=NOON_NY, order_id="ord-cut-2", customer_id="cus_2",
                           phone="+14155550124")
    stopped = asyncio.Event()

    async def stopped_here(*_: object) -> None:
        stopped.set()
        await asyncio.Event().wait()  # the worker is stopped while it waits here

    async def cut_off(event: object, where: object, name: str) -> None:
        original = getattr(where, name)
        setattr(where, name, stopped_here)
        stopped.clear()
        task = asyncio.create_task(rig.dispatcher.on_incident(event))  # type: ignore[arg-type]
        await stopped.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        setattr(where, name, original)

    await cut_off(took, rig.ledger, "settle_sent")  # after the provider took it, before the ledger heard
    await cut_off(never, rig.dispatcher.providers.sms, "send_sms")  # before the provider call
    assert len(fake_providers.messages) == 1
    other = await rig.restarted(rig.dispatcher.settings)  # the worker that stays: no restart, no recover()
    try:
        await other.on_incident(took)  # read again after the hand-over: already handled
        await other.on_incident(never)
        rig.clock.set(NOON_NY + timedelta(hours=1))
        await other.send_due()
        await other.send_due()
        rows = [await rig.ledger.find_any(incident_id=e.data.incident_id, customer_id=e.data.customer.id)
                for e in (took, never)]
        assert [(row.state, row.reason) for row in rows if row is not None] == [
            (DeliveryState.SENT, "reconciled"), (DeliveryState.SENT, "not_found_at_provider")]
        assert sorted(m["to"] for m in fake_providers.messages) == ["+14155550123", "+14155550124"]
    finally:
        await other.providers.close()


async def test_quiet_hours_defer_to_eight_and_survive_a_restart(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    rig.clock.set(ELEVEN_PM_NY)
    await rig.dispatcher.on_incident(incident_event("inc-night", at=ELEVEN_PM_NY))
    assert fake_providers.sends("twilio") == []
    deferred = rig.outcomes("notification.deferred")
    assert len(deferred) == 1 and deferred[0].data.due_at == EIGHT_AM_NY
    restarted = await rig.restarted(rig.dispatcher.settings)  # the process died overnight
    try:
        rig.clock.set(EIGHT_AM_NY - timedelta(minutes=1))
        await restarted.send_due()
        assert fake_providers.sends("twilio") == []
        rig.clock.set(EIGHT_AM_NY)
        await restarted.send_due()
        assert len(fake_providers.sends("twilio")) == 1
    finally:
        await restarted.providers.close()


async def test_resolved_before_send_is_withdrawn(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    rig.clock.set(ELEVEN_PM_NY)
    await rig.dispatcher.on_incident(incident_event("inc-gone", at=ELEVEN_PM_NY))
    await rig.dispatcher.on_resolved("inc-gone", "delivered")
    rig.clock.set(EIGHT_AM_NY)
    await rig.dispatcher.send_due()
    assert fake_providers.sends("twilio") == []
    suppressed = rig.outcomes("notification.suppressed")
    assert [e.data.reason for e in suppressed] == ["resolved_before_send"]


async def test_two_incidents_on_one_order_give_one_message(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-a", at=NOON_NY))
    rig.clock.set(NOON_NY + timedelta(minutes=3))
    await rig.dispatcher.on_incident(incident_event("inc-b", at=NOON_NY + timedelta(minutes=3), kind="eta_slipped"))
    assert len(fake_providers.sends("twilio")) == 1
    assert [e.data.reason for e in rig.outcomes("notification.suppressed")] == ["coalesced"]


async def test_opted_out_customer_gets_nothing(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    for channel, address in (("sms", "+14155550123"), ("email", "grace@example.com")):
        await rig.inbound.on_customer_event(make_event(
            "customer.opted_out", {"customer_id": "cus_1", "channel": channel, "phone": None, "email": None,
                                   **({"phone": address} if channel == "sms" else {"email": address}),
                                   "source": "store", "at": NOON_NY},
            source="store/acme", subject="cus_1", time=NOON_NY))
    await rig.dispatcher.on_incident(incident_event("inc-out", at=NOON_NY))
    assert fake_providers.sends("twilio") == [] and fake_providers.sends("sendgrid") == []
    assert [e.data.reason for e in rig.outcomes("notification.suppressed")] == ["opted_out"]


async def test_stop_reply_stops_the_next_sms_and_email_takes_over(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    inbound = make_event("provider.sms_inbound", {"message_sid": "SMin1", "from": "+14155550123",
                                                  "to": "+15005550006", "body": "  stop ", "received_at": NOON_NY},
                         source="twilio", subject="SMin1", time=NOON_NY)
    await rig.inbound.on_provider_event(inbound)
    assert [e.type for e in rig.emitted] == ["customer.opted_out"]
    await rig.dispatcher.on_incident(incident_event("inc-after-stop", at=NOON_NY))
    assert fake_providers.sends("twilio") == []
    assert len(fake_providers.sends("sendgrid")) == 1  # the customer still hears from us, by email
    start = make_event("provider.sms_inbound", {"message_sid": "SMin2", "from": "+14155550123",
                                                "to": "+15005550006", "body": "START", "received_at": NOON_NY},
                       source="twilio", subject="SMin2", time=NOON_NY)
    await rig.inbound.on_provider_event(start)
    await rig.dispatcher.on_incident(incident_event("inc-after-start", at=NOON_NY, order_id="ord-2"))
    assert len(fake_providers.sends("twilio")) == 1


async def test_help_is_answered(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    help_event = make_event("provider.sms_inbound", {"message_sid": "SMh", "from": "+14155550123",
                                                     "to": "+15005550006", "body": "Help", "received_at": NOON_NY},
                            source="twilio", subject="SMh", time=NOON_NY)
    await rig.inbound.on_provider_event(help_event)
    sends = fake_providers.sends("twilio")
    assert len(sends) == 1 and "STOP" in sends[0].form["Body"]


async def test_status_callbacks_update_without_regressing(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-cb", at=NOON_NY))
    sid = rig.outcomes("notification.sent")[0].data.provider_message_id

    def status(value: str) -> object:
        return make_event("provider.sms_status", {"message_sid": sid, "status": value, "to": "+14155550123",
                                                  "received_at": NOON_NY}, source="twilio", subject=sid, time=NOON_NY)

    await rig.inbound.on_provider_event(status("delivered"))  # type: ignore[arg-type]
    await rig.inbound.on_provider_event(status("sent"))  # type: ignore[arg-type]
    row = await rig.ledger.find_any(incident_id="inc-cb", customer_id="cus_1")
    assert row is not None and row.state == "delivered"
    assert len(rig.outcomes("notification.delivered")) == 1


async def test_bounce_suppresses_the_address(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    bounce = make_event("provider.email_event",
                        {"sg_event_id": "sg1", "event": "bounce", "email": "grace@example.com", "occurred_at": NOON_NY},
                        source="sendgrid", subject="sg1", time=NOON_NY)
    await rig.inbound.on_provider_event(bounce)
    event = incident_event("inc-mail", at=NOON_NY, phone=None)
    await rig.dispatcher.on_incident(event)
    assert fake_providers.sends("sendgrid") == []
    assert len(rig.outcomes("notification.suppressed")) == 1
    profile = await rig.profiles.profile_for(customer_id="cus_1", store_id="acme", first_name="Grace",
                                             email="Grace@Example.com", phone=None, locale="en", timezone=None)
    assert profile.email_suppressed


async def test_frequency_cap_holds_the_fourth_message(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    for i in range(4):
        rig.clock.set(NOON_NY + timedelta(minutes=20 * i))
        await rig.dispatcher.on_incident(incident_event(f"inc-cap-{i}", at=rig.clock.now(), order_id=f"ord-c{i}"))
    assert len(fake_providers.sends("twilio")) == 3
    held = rig.outcomes("notification.deferred") + rig.outcomes("notification.suppressed")
    assert [e.data.reason for e in held] == ["frequency_cap"]


async def test_a_batch_decides_like_one_by_one(rig: NotifierRig, fake_providers: FakeProviders) -> None:
    later = NOON_NY + timedelta(minutes=2)
    batch = [
        incident_event("inc-b1", at=NOON_NY, customer_id="cus_b1", phone="+14155550301", order_id="ord-b1"),
        incident_event("inc-b2", at=NOON_NY, customer_id="cus_b2", phone="+14155550302", order_id="ord-b2"),
        # the same customer and order again, minutes later: covered by the first message
        incident_event("inc-b3", at=later, customer_id="cus_b1", phone="+14155550301", order_id="ord-b1",
                       kind="eta_slipped"),
        # night for this customer: deferred, not sent
        incident_event("inc-b4", at=NOON_NY, customer_id="cus_b4", phone="+14155550304", order_id="ord-b4",
                       timezone="Asia/Tokyo"),
    ]
    fake_providers.script("twilio", [201, 500])  # the second send is ambiguous
    await rig.dispatcher.on_incidents(batch)
    await rig.dispatcher.on_incidents(batch)  # the whole batch redelivered
    assert sorted(r.form["To"] for r in fake_providers.sends("twilio")) == ["+14155550301", "+14155550302"]
    states = {iid: (await rig.ledger.find_any(incident_id=iid, customer_id=cid)) for iid, cid in
              (("inc-b1", "cus_b1"), ("inc-b2", "cus_b2"), ("inc-b3", "cus_b1"), ("inc-b4", "cus_b4"))}
    found = {k: v.state for k, v in states.items() if v is not None}
    assert sorted([found.pop("inc-b1"), found.pop("inc-b2")]) == ["ambiguous", "sent"]  # whichever went second
    assert found == {"inc-b3": "suppressed", "inc-b4": "deferred"}  # coalesced after the first went out
    await rig.dispatcher.send_due()  # reconciles the ambiguous one: found at the provider, not resent
    assert len(fake_providers.sends("twilio")) == 2
    assert len(rig.outcomes("notification.sent")) == 2
    assert [e.data.reason for e in rig.outcomes("notification.deferred")] == ["quiet_hours"]


async def test_a_free_text_reply_reaches_the_store_as_customer_replied(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    await rig.dispatcher.on_incident(incident_event("inc-reply", at=NOON_NY))
    reply = make_event("provider.sms_inbound", {"message_sid": "SMr1", "from": "+14155550123", "to": "+15005550006",
                                                "body": "Can you send it to my office instead?",
                                                "received_at": NOON_NY},
                       source="twilio", subject="SMr1", time=NOON_NY)
    await rig.inbound.on_provider_event(reply)
    replied = rig.outcomes("customer.replied")
    assert len(replied) == 1
    assert replied[0].data.customer_id == "cus_1" and replied[0].data.channel == "sms"
    unknown = make_event("provider.sms_inbound", {"message_sid": "SMr2", "from": "+14155559999", "to": "+15005550006",
                                                  "body": "who is this", "received_at": NOON_NY},
                         source="twilio", subject="SMr2", time=NOON_NY)
    await rig.inbound.on_provider_event(unknown)
    assert len(rig.outcomes("customer.replied")) == 1  # a number we never texted is not anybody's reply


async def test_a_rider_is_not_lost_when_the_message_it_joined_is_withdrawn(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    rig.clock.set(ELEVEN_PM_NY)
    await rig.dispatcher.on_incident(incident_event("inc-lead", at=ELEVEN_PM_NY))  # deferred to 08:00
    rig.clock.set(ELEVEN_PM_NY + timedelta(minutes=2))
    await rig.dispatcher.on_incident(incident_event("inc-rider", at=ELEVEN_PM_NY + timedelta(minutes=2),
                                                    kind="eta_slipped"))
    rider = await rig.ledger.find_any(incident_id="inc-rider", customer_id="cus_1")
    assert rider is not None and rider.state == "joined"
    await rig.dispatcher.on_resolved("inc-lead", "shipped")  # the lead cleared; the slipped ETA did not
    rider = await rig.ledger.find_any(incident_id="inc-rider", customer_id="cus_1")
    assert rider is not None and rider.state == "deferred" and rider.due_at == EIGHT_AM_NY
    rig.clock.set(EIGHT_AM_NY)
    await rig.dispatcher.send_due()
    sends = fake_providers.sends("twilio")
    assert len(sends) == 1


async def test_an_exception_and_its_eta_slip_from_two_hours_ago_give_one_message(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    # Both raised by one carrier event two hours old; the less severe reaches the notifier first.
    then = NOON_NY - timedelta(hours=2)
    await rig.dispatcher.on_incident(incident_event("inc-slip", at=then, kind="eta_slipped"))
    rig.clock.set(NOON_NY + timedelta(seconds=20))
    await rig.dispatcher.on_incidents([incident_event("inc-exc", at=then, kind="delivery_exception",
                                                      severity="high")])
    await rig.dispatcher.on_incident(incident_event("inc-exc", at=then, kind="delivery_exception", severity="high"))
    assert len(fake_providers.sends("twilio")) == 1
    assert [e.data.reason for e in rig.outcomes("notification.suppressed")] == ["coalesced"]
    row = await rig.ledger.find_any(incident_id="inc-slip", customer_id="cus_1")
    assert row is not None and row.incident_at == then  # the event time is kept beside the wall-clock times


async def test_a_deferred_message_covered_meanwhile_is_not_sent(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    for i in range(3):  # the cap is full for the next hours
        rig.clock.set(NOON_NY - timedelta(hours=3 - i))
        await rig.dispatcher.on_incident(incident_event(f"inc-full-{i}", at=rig.clock.now(), order_id=f"ord-f{i}"))
    rig.clock.set(NOON_NY)
    await rig.dispatcher.on_incident(incident_event("inc-late", at=NOON_NY, order_id="ord-lost"))
    assert [e.data.reason for e in rig.outcomes("notification.deferred")] == ["frequency_cap"]
    # The parcel is lost minutes later: critical, past the cap, it does not wait behind the deferred message.
    await rig.dispatcher.on_incident(incident_event("inc-lost", at=NOON_NY + timedelta(minutes=4),
                                                    order_id="ord-lost", kind="delivery_exception",
                                                    severity="critical"))
    assert len(fake_providers.sends("twilio")) == 4
    # Past the cap's retry time (21 h), before the sent messages' promised updates (22 h: 10:00 in New York).
    rig.clock.set(NOON_NY + timedelta(hours=21, minutes=30))
    await rig.dispatcher.send_due()
    assert len(fake_providers.sends("twilio")) == 4  # the deferred one was covered by the critical message
    row = await rig.ledger.find_any(incident_id="inc-late", customer_id="cus_1")
    assert row is not None and (row.state, row.reason) == ("suppressed", "coalesced")


async def test_a_detection_withdrawn_later_in_its_batch_is_never_sent(
    rig: NotifierRig, fake_providers: FakeProviders
) -> None:
    """A receipt and its refund read together: the receipt's incident and its withdrawal share one batch."""
    gone = incident_event("inc-batch-gone", at=NOON_NY, order_id="ord-gone")
    withdrawn = make_event("incident.resolved", {
        "incident_id": "inc-batch-gone", "kind": "not_shipped", "order_id": "ord-gone", "customer_id": "cus_1",
        "reason": "shipped", "resolved_at": NOON_NY}, source="forewarn/order-watcher", subject="cus_1", time=NOON_NY)
    kept = incident_event("inc-batch-kept", at=NOON_NY, order_id="ord-kept", customer_id="cus_2",
                          phone="+14155550124")
    await rig.dispatcher.on_incident_batch([gone, kept, withdrawn])
    sends = fake_providers.sends("twilio")
    assert [s.form["To"] for s in sends] == ["+14155550124"]  # only the one still true
    row = await rig.ledger.find_any(incident_id="inc-batch-gone", customer_id="cus_1")
    assert row is not None and row.state == "suppressed"
