"""`python -m services.simulator.play`: the demo store and its customers, for as long as `make run` runs.

Reads   orders (what a refund needs), incidents (what each SMS offered), notifications (an SMS went
        out), customer-actions (what customers chose).
Writes  the demo customer's reply to an SMS that offered choices: through the gateway's Twilio
        inbound webhook, signed with FOREWARN_SIMULATOR_TWILIO_AUTH_TOKEN, or straight onto
        provider-events when the gateway has no Twilio token; the store's answer to a choice
        (orders: order.cancelled, returns: refund.issued).

It starts at the end of each topic: it plays this run's stories, not those of earlier runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from urllib.parse import urlencode

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from twilio.request_validator import RequestValidator

from schemas import (
    CUSTOMER_ACTIONS,
    INCIDENTS,
    NOTIFICATIONS,
    ORDERS,
    ChoiceMade,
    CloudEvent,
    ContractError,
    IncidentDetected,
    NotificationSent,
    OrderPlaced,
    make_event,
    parse_event,
)
from services.common.clock import utc_now
from services.common.ids import stable_id
from services.common.kafka import ensure_topics
from services.common.logging import configure_logging
from services.common.masking import mask_phone
from services.common.settings import CommonSettings
from services.simulator.store import OrderBook, customer_reply, store_actions

__all__ = ["Player"]

logger = logging.getLogger("services.simulator.play")

OUR_NUMBER = "+15005550006"
INBOUND_PATH = "/webhooks/twilio/inbound"


class Player:
    """Keeps what the store and the customers need to know, and answers each event as they would."""

    def __init__(self, settings: CommonSettings, producer: AIOKafkaProducer, *, gateway_url: str | None,
                 twilio_token: str | None) -> None:
        self.settings = settings
        self.producer = producer
        self.gateway_url = gateway_url.rstrip("/") if gateway_url else None
        self.twilio_token = twilio_token
        self.orders: dict[str, OrderBook] = {}
        self.incidents: dict[str, IncidentDetected] = {}
        self.answered: set[str] = set()

    async def on_event(self, event: CloudEvent) -> None:
        if isinstance(event, OrderPlaced):
            data = event.data
            self.orders[data.order_id] = OrderBook(data.order_id, data.customer.id, str(data.total.amount),
                                                   data.total.currency)
        elif isinstance(event, IncidentDetected):
            self.incidents[event.data.incident_id] = event
        elif isinstance(event, NotificationSent) and event.data.channel == "sms":
            for incident_id in event.data.incident_ids:
                await self._customer_answers(incident_id, event.data.notification_id)
        elif isinstance(event, ChoiceMade):
            await self._store_acts(event)

    async def _customer_answers(self, incident_id: str, notification_id: str) -> None:
        incident = self.incidents.get(incident_id)
        if incident is None or incident_id in self.answered:
            return
        data = incident.data
        body = customer_reply(data.kind, data.customer.locale, tuple(data.facts.choices or ()))
        if body is None or data.customer.phone is None:
            return
        self.answered.add(incident_id)
        await asyncio.sleep(3)  # people take a moment to answer
        sid = "SM" + stable_id("demo-reply", notification_id).split("-", 1)[1]
        await self._text_us(sid, data.customer.phone, body)
        logger.info("customer %s answered %r to the %s message", data.customer.id, body, data.kind)

    async def _text_us(self, sid: str, phone: str, body: str) -> None:
        """As Twilio would deliver it: through the gateway, signed, when it can check a signature."""
        params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": phone, "To": OUR_NUMBER, "Body": body}
        if self.gateway_url and self.twilio_token:
            url = self.gateway_url + INBOUND_PATH
            signature = RequestValidator(self.twilio_token).compute_signature(url, params)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session, session.post(
                    url, data=urlencode(params), headers={
                        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
                    }) as response:
                logger.info("reply from %s via the gateway: %s", mask_phone(phone), response.status)
            return
        now = utc_now()
        event = make_event("provider.sms_inbound", {"message_sid": sid, "from": phone, "to": OUR_NUMBER,
                                                    "body": body, "received_at": now},
                           source="twilio", subject=sid, time=now, id=stable_id("twilio-inbound", sid))
        await self._publish("provider-events", event)

    async def _store_acts(self, event: ChoiceMade) -> None:
        choice = event.data
        order = self.orders.get(choice.order_id or "")
        actions = store_actions(choice, order, utc_now())
        for topic, action in actions:
            await self._publish(topic, action)
        done = ", ".join(a.type for _, a in actions) or ("nothing to do" if choice.choice == "wait"
                                                          else "a person at the store follows up")
        logger.info("the store heard %s choose %s for order %s: %s", choice.customer_id, choice.choice,
                    choice.order_id, done)

    async def _publish(self, topic: str, event: CloudEvent) -> None:
        await self.producer.send_and_wait(self.settings.topic(topic), value=event.to_bytes(), key=event.key())


async def play(stop: asyncio.Event) -> None:
    settings = CommonSettings()
    await ensure_topics(settings)
    names = {settings.topic(t): t for t in (ORDERS, INCIDENTS, NOTIFICATIONS, CUSTOMER_ACTIONS)}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        # ensure_topics left every registry topic with settings.partitions partitions (or refused to go on).
        partitions = [TopicPartition(name, p) for name in names for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)  # fixed now: what is published from here on is this run's
        player = Player(settings, producer, gateway_url=os.environ.get("FOREWARN_SIMULATOR_GATEWAY_URL"),
                        twilio_token=os.environ.get("FOREWARN_SIMULATOR_TWILIO_AUTH_TOKEN"))
        logger.info("simulator store ready (reading %s)", ", ".join(names.values()))
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    try:
                        event = parse_event(message.value or b"", topic=names[message.topic])
                    except ContractError as error:
                        logger.warning("skipped a record of %s that is no contract event: %s", message.topic, error)
                        continue
                    try:
                        await player.on_event(event)
                    except Exception:  # a demo actor that fails one step keeps playing the others
                        logger.exception("the demo could not play %s", event.type)
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    configure_logging("INFO", service="simulator")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await play(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
