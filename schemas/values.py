"""Value types shared by the event models: ids, contact fields, money, customer and order lines."""

from __future__ import annotations

import math
import re
import zoneinfo
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "Channel",
    "Choice",
    "ConsentRecord",
    "ContractModel",
    "Currency",
    "CustomerRef",
    "Email",
    "ExceptionReason",
    "Id",
    "IncidentKind",
    "JsonExtra",
    "Locale",
    "Money",
    "OrderLine",
    "Phone",
    "ReturnLine",
    "Severity",
    "Tier",
    "TimeZone",
]

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
LOCALE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
_TZ_KEY = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")
_E164 = re.compile(E164_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_LOCALE = re.compile(LOCALE_PATTERN)
_CURRENCY = re.compile(CURRENCY_PATTERN)


def _json_value(value: Any) -> Any:
    """Accept only what JSON can carry and give back unchanged: no NaN, no infinity, no other objects."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise ValueError("value is not a JSON value (object keys must be strings)")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("value is not a JSON value (number out of range)")
        elif item is not None and not isinstance(item, str | int):
            raise ValueError("value is not a JSON value")
    return value


JsonExtra = Annotated[Any, AfterValidator(_json_value)]
"""An unknown (extra) field's value: kept as is, provided JSON can carry it unchanged."""


class ContractModel(BaseModel):
    """Base of every data model: immutable, and unknown fields are kept (as JSON values), not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)

    __pydantic_extra__: dict[str, JsonExtra] = Field(init=False)


# Validators name what is wrong and never repeat the value: it may be a phone number or an email.


def _phone(value: str) -> str:
    if not _E164.fullmatch(value):
        raise ValueError("value is not a valid E.164 phone number")
    return value


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("value is not a valid email address")
    return value


def _locale(value: str) -> str:
    if len(value) > 35 or not _LOCALE.fullmatch(value):
        raise ValueError("value is not a valid BCP 47 language tag")
    return value


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value):
        raise ValueError("value is not an ISO 4217 currency code (3 upper-case letters)")
    return value


@lru_cache(maxsize=1024)
def _known_zone(key: str) -> bool:
    if len(key) > 64 or not _TZ_KEY.fullmatch(key):
        return False
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _timezone(value: str) -> str:
    if not _known_zone(value):
        raise ValueError("value is not a valid IANA time zone")
    return value


Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""An identifier: non-empty, at most 256 characters."""

Phone = Annotated[
    str,
    AfterValidator(_phone),
    WithJsonSchema({"type": "string", "pattern": E164_PATTERN, "description": "E.164 phone number"}),
]
Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN}),
]
Locale = Annotated[
    str,
    AfterValidator(_locale),
    WithJsonSchema({"type": "string", "pattern": LOCALE_PATTERN, "description": "BCP 47 language tag"}),
]
TimeZone = Annotated[
    str,
    AfterValidator(_timezone),
    WithJsonSchema({"type": "string", "description": "IANA time zone, e.g. Europe/Berlin"}),
]
Currency = Annotated[
    str,
    AfterValidator(_currency),
    WithJsonSchema({"type": "string", "pattern": CURRENCY_PATTERN, "description": "ISO 4217 currency code"}),
]

Channel = Literal["sms", "email"]
Choice = Literal["wait", "cancel", "refund", "substitute", "reship", "retry_payment", "new_date"]
"""What a customer may choose about an incident (see schemas/choices.py for what each means)."""
Severity = Literal["low", "normal", "high", "critical"]
Tier = Literal[1, 2, 3]
ExceptionReason = Literal["weather", "customs", "address", "damaged", "lost", "carrier_delay", "other"]
IncidentKind = Literal[
    "not_shipped",
    "tracking_stalled",
    "delivery_exception",
    "eta_slipped",
    "not_delivered",
    "stockout",
    "backordered",
    "false_decline",
    "refund_overdue",
    "return_received",
    "refund_issued",
    "return_rejected",
    "return_stalled",
    "return_window_exceeded",
]


class Money(ContractModel):
    """An amount in a currency; serialized as a decimal string (Shopify style), never a float."""

    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]
    currency: Currency


class CustomerRef(ContractModel):
    """The customer as an order or incident names them: who they are and how to reach them."""

    id: Id
    first_name: str
    last_name: str | None = None
    email: Email | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +14155550123")
    locale: Locale = "en"
    timezone: TimeZone | None = Field(default=None, description="IANA zone; None when the store does not know")


class OrderLine(ContractModel):
    """One line of an order (Shopify line item)."""

    sku: Id
    product_name: str
    quantity: PositiveInt
    unit_price: Money


class ReturnLine(ContractModel):
    """One line of a return: what goes back, and how many."""

    sku: Id
    product_name: str
    quantity: PositiveInt


class ConsentRecord(ContractModel):
    """Whether the customer agreed to be contacted on a channel, where that came from, and when."""

    granted: bool
    source: str = Field(description="where consent was given or withdrawn, e.g. checkout, sms_keyword, store")
    recorded_at: AwareDatetime
