"""Events on the `notifications` topic (keyed by customer id): what became of each message."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import CloudEvent
from schemas.values import Channel, ContractModel, Id

__all__ = [
    "NotificationBounced",
    "NotificationBouncedData",
    "NotificationDeferred",
    "NotificationDeferredData",
    "NotificationDelivered",
    "NotificationDeliveredData",
    "NotificationFailed",
    "NotificationFailedData",
    "NotificationSent",
    "NotificationSentData",
    "NotificationSuppressed",
    "NotificationSuppressedData",
]


class _NotificationOutcomeData(ContractModel):
    """The outcome of one notification about one or more incidents (coalesced)."""

    notification_id: Id
    incident_ids: list[Id] = Field(min_length=1)
    customer_id: Id
    order_id: Id | None = None
    channel: Channel | None = None
    status: str
    reason: str | None = None
    due_at: AwareDatetime | None = None
    provider: str | None = Field(default=None, description="twilio, sendgrid, console")
    provider_message_id: str | None = Field(default=None, description="Twilio MessageSid or SendGrid message id")
    at: AwareDatetime


class NotificationSentData(_NotificationOutcomeData):
    """The provider accepted the message."""

    channel: Channel
    status: Literal["sent"] = "sent"
    provider: str


class NotificationSuppressedData(_NotificationOutcomeData):
    """No message went out, on purpose: no consent, resolved meanwhile, capped, duplicate, ..."""

    status: Literal["suppressed"] = "suppressed"
    reason: str = Field(description="no_consent, resolved, frequency_cap, no_contact, duplicate, ...")


class NotificationDeferredData(_NotificationOutcomeData):
    """Held back until `due_at` (quiet hours, coalescing window)."""

    status: Literal["deferred"] = "deferred"
    due_at: AwareDatetime
    reason: str = Field(description="quiet_hours, coalescing, rate_limited, ...")


class NotificationFailedData(_NotificationOutcomeData):
    """Sending failed for good."""

    status: Literal["failed"] = "failed"
    reason: str = Field(description="the provider's error code or our reason; never message content")


class NotificationDeliveredData(_NotificationOutcomeData):
    """The provider reports the message reached the customer."""

    channel: Channel
    status: Literal["delivered"] = "delivered"


class NotificationBouncedData(_NotificationOutcomeData):
    """The provider reports the message did not reach the customer (undelivered, bounce, dropped)."""

    channel: Channel
    status: Literal["bounced"] = "bounced"


class NotificationSent(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["notification.sent"] = "notification.sent"
    data: NotificationSentData


class NotificationSuppressed(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["notification.suppressed"] = "notification.suppressed"
    data: NotificationSuppressedData


class NotificationDeferred(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["notification.deferred"] = "notification.deferred"
    data: NotificationDeferredData


class NotificationFailed(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["notification.failed"] = "notification.failed"
    data: NotificationFailedData


class NotificationDelivered(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["notification.delivered"] = "notification.delivered"
    data: NotificationDeliveredData


class NotificationBounced(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["notification.bounced"] = "notification.bounced"
    data: NotificationBouncedData
