"""Events on the `customers` topic (keyed by customer id): profile, consent and replies."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, field_validator, model_validator

from schemas.choices import Choice
from schemas.envelope import CloudEvent
from schemas.values import Channel, ConsentRecord, ContractModel, Email, Id, Locale, Phone, TimeZone

__all__ = [
    "CustomerChose",
    "CustomerChoseData",
    "CustomerOptedIn",
    "CustomerOptedInData",
    "CustomerOptedOut",
    "CustomerOptedOutData",
    "CustomerRated",
    "CustomerRatedData",
    "CustomerReplied",
    "CustomerRepliedData",
    "CustomerUpdated",
    "CustomerUpdatedData",
]


class CustomerUpdatedData(ContractModel):
    """The store's current profile of a customer: contact, language, zone, preferences, consent."""

    customer_id: Id
    store_id: Id
    first_name: str | None = None
    last_name: str | None = None
    email: Email | None = None
    phone: Phone | None = None
    locale: Locale = "en"
    timezone: TimeZone | None = None
    channel_preferences: list[Channel] = Field(default_factory=list, description="most preferred first")
    consent: dict[Channel, ConsentRecord] = Field(default_factory=dict)
    updated_at: AwareDatetime

    @field_validator("channel_preferences")
    @classmethod
    def _no_repeats(cls, value: list[Channel]) -> list[Channel]:
        if len(set(value)) != len(value):
            raise ValueError("a channel appears more than once")
        return value


class _ContactChoiceData(ContractModel):
    """A customer's choice about a channel, named by customer id, by the address it came from, or by the
    notification whose unsubscribe link was used (the notifier knows whom that notification went to)."""

    customer_id: Id | None = Field(default=None, description="None when only the address is known")
    channel: Channel
    phone: Phone | None = None
    email: Email | None = None
    notification_id: Id | None = Field(
        default=None, description="the notification whose link was used, when that is all the sender knows"
    )
    source: str = Field(description="sms_keyword, email_unsubscribe, store, ...")
    store_id: Id | None = None
    at: AwareDatetime

    @model_validator(mode="after")
    def _names_someone(self) -> Self:
        address = self.phone if self.channel == "sms" else self.email
        if self.customer_id is None and address is None and self.notification_id is None:
            raise ValueError(
                "needs customer_id, the channel's address (phone for sms, email for email) or notification_id"
            )
        return self


class CustomerOptedOutData(_ContactChoiceData):
    """The customer withdrew consent for a channel (STOP, unsubscribe, or at the store)."""


class CustomerOptedInData(_ContactChoiceData):
    """The customer gave (or gave back) consent for a channel (START, or at the store)."""


class CustomerRepliedData(ContractModel):
    """The customer answered one of our messages in free text."""

    customer_id: Id
    channel: Channel
    received_at: AwareDatetime
    body: str | None = Field(default=None, description="the reply text; personal data, never log it")
    in_reply_to: Id | None = Field(default=None, description="the notification_id answered, if known")


class CustomerChoseData(ContractModel):
    """A choice made through a signed link in one of our emails, as the gateway verified it.

    The gateway knows only the notification whose link was used; the notifier (whose ledger knows
    the incident, order and customer of every notification) turns it into `choice.made`."""

    notification_id: Id
    choice: Choice
    channel: Channel = "email"
    source: str = Field(default="email_link", description="how the choice reached us")
    at: AwareDatetime


class CustomerRatedData(ContractModel):
    """An answer to the feedback question through a signed link in one of our emails, as the gateway verified it.

    The gateway knows only the question's notification id, the score its link carries and the words the customer
    typed on the page; the notifier (whose ledger knows the incident, order and customer) turns it into
    `feedback.given`."""

    notification_id: Id = Field(description="the feedback question answered")
    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (great)")
    text: str | None = Field(default=None, max_length=2000, description="the customer's own words, if any")
    channel: Channel = "email"
    source: str = Field(default="email_link", description="how the answer reached us")
    at: AwareDatetime


class CustomerUpdated(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["customer.updated"] = "customer.updated"
    data: CustomerUpdatedData


class CustomerOptedOut(CloudEvent):
    """Subject: the customer id, or (when unknown) the phone number, email address or notification id."""

    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["customer.opted_out"] = "customer.opted_out"
    data: CustomerOptedOutData


class CustomerOptedIn(CloudEvent):
    """Subject: the customer id, or (when unknown) the phone number, email address or notification id."""

    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["customer.opted_in"] = "customer.opted_in"
    data: CustomerOptedInData


class CustomerChose(CloudEvent):
    """Subject: the notification id (the only id the link carries)."""

    subject_path: ClassVar[str | None] = "data.notification_id"
    type: Literal["customer.chose"] = "customer.chose"
    data: CustomerChoseData


class CustomerRated(CloudEvent):
    """Subject: the notification id of the question (the only id the link carries)."""

    subject_path: ClassVar[str | None] = "data.notification_id"
    type: Literal["customer.rated"] = "customer.rated"
    data: CustomerRatedData


class CustomerReplied(CloudEvent):
    subject_path: ClassVar[str | None] = "data.customer_id"
    type: Literal["customer.replied"] = "customer.replied"
    data: CustomerRepliedData
