"""Events on the `provider-events` topic: Twilio and SendGrid callbacks as the gateway received them."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field

from schemas.envelope import CloudEvent
from schemas.values import ContractModel, Email, Id, Phone

__all__ = [
    "ProviderEmailEvent",
    "ProviderEmailEventData",
    "ProviderSmsInbound",
    "ProviderSmsInboundData",
    "ProviderSmsStatus",
    "ProviderSmsStatusData",
]


class ProviderSmsStatusData(ContractModel):
    """A Twilio status callback for a message we sent."""

    message_sid: Id
    status: str = Field(description="Twilio MessageStatus: sent, delivered, undelivered, failed, ...")
    error_code: str | None = Field(default=None, description="Twilio ErrorCode, e.g. 30003")
    to: Phone
    notification_id: Id | None = Field(default=None, description="ours, when the callback carries it")
    received_at: AwareDatetime


class ProviderSmsInboundData(ContractModel):
    """An SMS a customer sent to one of our numbers (a reply, STOP, START, HELP, ...).

    The sender is `from` on the wire and `from_` in Python.
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    message_sid: Id
    from_: Phone = Field(alias="from")
    to: str = Field(description="our number or short code")
    body: str = Field(description="personal data: never log it")
    received_at: AwareDatetime


class ProviderEmailEventData(ContractModel):
    """One SendGrid event webhook entry."""

    sg_event_id: Id = Field(description="SendGrid's event id; the dedupe key")
    sg_message_id: str | None = None
    event: str = Field(description="processed, delivered, deferred, bounce, dropped, spamreport, unsubscribe, ...")
    email: Email
    notification_id: Id | None = Field(default=None, description="from our custom_args, when present")
    reason: str | None = Field(default=None, description="bounce or drop reason")
    bounce_type: str | None = Field(default=None, description="SendGrid type for bounces: bounce or blocked")
    occurred_at: AwareDatetime


class ProviderSmsStatus(CloudEvent):
    """Subject: the Twilio MessageSid, so the callbacks of one message stay in order."""

    type: Literal["provider.sms_status"] = "provider.sms_status"
    data: ProviderSmsStatusData


class ProviderSmsInbound(CloudEvent):
    """Subject: the Twilio MessageSid (phone numbers stay out of keys)."""

    type: Literal["provider.sms_inbound"] = "provider.sms_inbound"
    data: ProviderSmsInboundData


class ProviderEmailEvent(CloudEvent):
    """Subject: the SendGrid sg_message_id, or the sg_event_id when there is none."""

    type: Literal["provider.email_event"] = "provider.email_event"
    data: ProviderEmailEventData

