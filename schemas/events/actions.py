"""Events on the `customer-actions` topic (keyed by order id, else customer id): what customers asked for and
what they told us of how we handled it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from schemas.choices import Choice
from schemas.envelope import CloudEvent
from schemas.values import Channel, ContractModel, Id, IncidentKind, Locale

__all__ = ["ChoiceMade", "ChoiceMadeData", "FeedbackGiven", "FeedbackGivenData"]


class ChoiceMadeData(ContractModel):
    """The customer chose what should happen about an incident (by SMS reply or signed email link).

    The store acts on it: `cancel` cancels the order, `refund` refunds the affected item, `wait`
    needs nothing. The same choice made twice (a repeated POST, a redelivered reply) has the same
    event id; a later different choice is a new event and the latest `made_at` stands.
    """

    incident_id: Id
    kind: IncidentKind
    order_id: Id | None = Field(default=None, description="None when the incident names no order")
    order_number: str | None = Field(default=None, description="the store's own order number, e.g. #1001")
    customer_id: Id
    store_id: Id
    choice: Choice
    channel: Channel
    notification_id: Id | None = Field(default=None, description="the message whose offer was answered")
    locale: Locale = Field(default="en", description="the customer's language, for anything the store sends back")
    made_at: AwareDatetime


class ChoiceMade(CloudEvent):
    """Subject: the order id, else the customer id."""

    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["choice.made"] = "choice.made"
    data: ChoiceMadeData


class FeedbackGivenData(ContractModel):
    """The customer's answer to "How did we handle this?", asked once after a resolved incident.

    `score` is 1 (bad) to 5 (good); `text` is what they wrote after the score, if anything. A 1 or a 2
    goes to a person (care opens or notes the customer's case). The same answer redelivered has the same
    event id; a second answer to the same question is a new event and the latest `given_at` stands.
    """

    feedback_id: Id = Field(description="deterministic: the question asked (its notification id)")
    incident_id: Id = Field(description="the resolved incident the question was about")
    kind: IncidentKind
    order_id: Id | None = None
    order_number: str | None = Field(default=None, description="the store's own order number, e.g. #1001")
    customer_id: Id
    store_id: Id
    score: Annotated[int, Field(ge=1, le=5, strict=True)]
    text: str | None = Field(default=None, max_length=2000, description="the words after the score, as written")
    channel: Channel
    notification_id: Id = Field(description="the question answered")
    locale: Locale = "en"
    given_at: AwareDatetime


class FeedbackGiven(CloudEvent):
    """Subject: the order id, else the customer id."""

    subject_path: ClassVar[str | None] = "data.order_id"
    type: Literal["feedback.given"] = "feedback.given"
    data: FeedbackGivenData
