"""The event registry: every event type string, its class, and the union of them all."""

from __future__ import annotations

from typing import Annotated, TypeAlias

from pydantic import Field

from schemas.envelope import CloudEvent
from schemas.events import (
    CaseOpened,
    ChoiceMade,
    CustomerChose,
    CustomerOptedIn,
    CustomerOptedOut,
    CustomerRated,
    CustomerReplied,
    CustomerUpdated,
    EscalationOpened,
    FeedbackGiven,
    IncidentDetected,
    IncidentResolved,
    NotificationBounced,
    NotificationDeferred,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    OrderCancelled,
    OrderFulfilled,
    OrderLineBackordered,
    OrderPlaced,
    PaymentDeclined,
    PaymentSucceeded,
    ProviderEmailEvent,
    ProviderSmsInbound,
    ProviderSmsStatus,
    RefundIssued,
    ReturnLabelScanned,
    ReturnReceived,
    ReturnRejected,
    ReturnRequested,
    ShipmentUpdated,
    StockChanged,
)

__all__ = ["EVENT_TYPES", "AnyEvent", "event_type_of"]

AnyEvent: TypeAlias = Annotated[
    OrderPlaced
    | OrderCancelled
    | OrderLineBackordered
    | OrderFulfilled
    | ShipmentUpdated
    | PaymentSucceeded
    | PaymentDeclined
    | StockChanged
    | ReturnRequested
    | ReturnLabelScanned
    | ReturnReceived
    | RefundIssued
    | ReturnRejected
    | CustomerUpdated
    | CustomerOptedOut
    | CustomerOptedIn
    | CustomerReplied
    | CustomerChose
    | CustomerRated
    | ChoiceMade
    | FeedbackGiven
    | IncidentDetected
    | IncidentResolved
    | NotificationSent
    | NotificationSuppressed
    | NotificationDeferred
    | NotificationFailed
    | NotificationDelivered
    | NotificationBounced
    | EscalationOpened
    | CaseOpened
    | ProviderSmsStatus
    | ProviderSmsInbound
    | ProviderEmailEvent,
    Field(discriminator="type"),
]
"""Any contract event, discriminated by `type`."""


def event_type_of(cls: type[CloudEvent]) -> str:
    """The `type` string an event class is fixed to."""
    default = cls.model_fields["type"].default
    if not isinstance(default, str):  # pragma: no cover - every event class defaults its type
        raise TypeError(f"{cls.__name__} does not fix its type")
    return default


_CLASSES: tuple[type[CloudEvent], ...] = (
    OrderPlaced,
    OrderCancelled,
    OrderLineBackordered,
    OrderFulfilled,
    ShipmentUpdated,
    PaymentSucceeded,
    PaymentDeclined,
    StockChanged,
    ReturnRequested,
    ReturnLabelScanned,
    ReturnReceived,
    RefundIssued,
    ReturnRejected,
    CustomerUpdated,
    CustomerOptedOut,
    CustomerOptedIn,
    CustomerReplied,
    CustomerChose,
    CustomerRated,
    ChoiceMade,
    FeedbackGiven,
    IncidentDetected,
    IncidentResolved,
    NotificationSent,
    NotificationSuppressed,
    NotificationDeferred,
    NotificationFailed,
    NotificationDelivered,
    NotificationBounced,
    EscalationOpened,
    CaseOpened,
    ProviderSmsStatus,
    ProviderSmsInbound,
    ProviderEmailEvent,
)

EVENT_TYPES: dict[str, type[CloudEvent]] = {event_type_of(cls): cls for cls in _CLASSES}
