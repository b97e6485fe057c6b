"""The topic registry: names, keys, event types and settings of every Forewarn topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CASES",
    "CUSTOMERS",
    "CUSTOMER_ACTIONS",
    "ESCALATIONS",
    "INCIDENTS",
    "INCIDENT_CANDIDATES",
    "INVENTORY",
    "NOTIFICATIONS",
    "ORDERS",
    "PAYMENTS",
    "PROVIDER_EVENTS",
    "RETURNS",
    "SHIPMENTS",
    "TICKS",
    "TOPICS",
    "Topic",
    "dlq_topic",
    "topic_for_event_type",
]

ORDERS = "orders"
SHIPMENTS = "shipments"
PAYMENTS = "payments"
INVENTORY = "inventory"
RETURNS = "returns"
CUSTOMERS = "customers"
INCIDENTS = "incidents"
INCIDENT_CANDIDATES = "incident-candidates"
NOTIFICATIONS = "notifications"
ESCALATIONS = "escalations"
CASES = "cases"
PROVIDER_EVENTS = "provider-events"
CUSTOMER_ACTIONS = "customer-actions"
TICKS = "ticks"

DLQ_SUFFIX = ".dlq"
_WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    """A topic of the contract. `key_field` is the dotted path of the event field used as the Kafka key."""

    name: str
    key: str
    key_field: str
    event_types: tuple[str, ...]
    partitions: int = 4
    cleanup_policy: Literal["delete", "compact"] = "delete"
    retention_ms: int | None = None
    description: str = ""
    internal: bool = False

    def full_name(self, prefix: str = "") -> str:
        return prefix + self.name


TOPICS: dict[str, Topic] = {
    topic.name: topic
    for topic in (
        Topic(
            ORDERS, "order id", "subject",
            ("order.placed", "order.cancelled", "order.line_backordered", "order.fulfilled"),
            description="Orders as the store reports them",
        ),
        Topic(SHIPMENTS, "order id", "subject", ("shipment.updated",), description="Carrier tracking checkpoints"),
        Topic(
            PAYMENTS, "order id", "subject", ("payment.succeeded", "payment.declined"),
            description="Payment outcomes",
        ),
        Topic(INVENTORY, "SKU", "subject", ("stock.changed",), description="Stock levels per SKU"),
        Topic(
            RETURNS, "order id", "subject",
            ("return.requested", "return.label_scanned", "return.received", "refund.issued", "return.rejected"),
            description="The return and refund lifecycle",
        ),
        Topic(
            CUSTOMERS, "customer id (else the phone, email address or notification id an opt-out names)", "subject",
            ("customer.updated", "customer.opted_out", "customer.opted_in", "customer.replied", "customer.chose",
             "customer.rated"),
            description="Customer profiles, consent changes, replies, and choices and feedback given by email link",
        ),
        Topic(
            INCIDENTS, "customer id", "subject", ("incident.detected", "incident.resolved"),
            description="Problems detected by the watchers, and their resolution",
        ),
        Topic(
            INCIDENT_CANDIDATES, "customer id", "subject",
            ("incident.detected", "incident.resolved", "escalation.opened"),
            description="What every detector found, withdrew or wants a person for, before the one per-customer "
            "repeated-trouble step publishes it to incidents and escalations",
            internal=True,
        ),
        Topic(
            NOTIFICATIONS, "customer id", "subject",
            (
                "notification.sent", "notification.suppressed", "notification.deferred",
                "notification.failed", "notification.delivered", "notification.bounced",
            ),
            description="What became of each notification",
        ),
        Topic(ESCALATIONS, "customer id", "subject", ("escalation.opened",), description="Cases for human agents"),
        Topic(
            CASES, "customer id", "subject", ("case.opened",),
            description="Cases care opened at the help desk, so the customer is told a person will get in touch, "
            "and by when",
        ),
        Topic(
            CUSTOMER_ACTIONS, "order id (customer id when there is no order)", "subject",
            ("choice.made", "feedback.given"),
            description="What customers asked the store to do (wait, cancel, refund, ...), for the store to act on, "
            "and how they rated the way a resolved problem was handled (1-5, with their words)",
        ),
        Topic(
            PROVIDER_EVENTS, "provider message id (Twilio MessageSid, SendGrid sg_message_id)", "subject",
            ("provider.sms_status", "provider.sms_inbound", "provider.email_event"),
            retention_ms=_WEEK_MS,
            description="Twilio and SendGrid callbacks and inbound SMS, as received by the gateway",
        ),
        Topic(
            TICKS, "the constant b'tick'; each tick is sent to every partition", "", ("tick",),
            retention_ms=3600 * 1000,
            description="Clock ticks that drive deadlines in stream context",
            internal=True,
        ),
    )
}



def _owners() -> dict[str, str]:
    """Each event type's topic: the public one that lists it (incident-candidates carries copies of others' types)."""
    owners: dict[str, str] = {}
    for topic in sorted(TOPICS.values(), key=lambda t: t.internal):  # public topics first
        for type_ in topic.event_types:
            owners.setdefault(type_, topic.name)
    return owners


_TOPIC_OF_TYPE = _owners()


def dlq_topic(name: str) -> str:
    """The dead-letter topic of `name` (prefixed or not)."""
    return name + DLQ_SUFFIX


def topic_for_event_type(type_: str) -> str:
    """The base name of the topic an event type belongs to; KeyError for an unknown type."""
    try:
        return _TOPIC_OF_TYPE[type_]
    except KeyError:
        raise KeyError(f"unknown event type {type_!r}") from None
