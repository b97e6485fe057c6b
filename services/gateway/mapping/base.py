"""What a mapping returns, and the small readers every mapping uses to pull typed fields out of JSON.

Readers raise MappingError naming the field and what is wrong with it, never its value: the
value may be an address or a phone number, and the reason goes into a response, a log line
and a dead-letter header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from schemas import CloudEvent, ContractError, make_event, topic_for_event_type
from schemas.values import E164_PATTERN, EMAIL_PATTERN, LOCALE_PATTERN

__all__ = [
    "EARLIEST",
    "LATEST",
    "Ignored",
    "MappingError",
    "Publish",
    "Result",
    "Version",
    "ascii_digits",
    "aware_time",
    "build_event",
    "decimal",
    "email_or_none",
    "in_range",
    "json_body",
    "locale_or_default",
    "mapping",
    "nested",
    "optional_text",
    "phone_or_none",
    "required",
    "text",
    "unix_time",
]

_E164 = re.compile(E164_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_LOCALE = re.compile(LOCALE_PATTERN)
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Times outside these are refused: no order, payment or parcel is from before 2000 or after 2100, and
a date near `datetime.max` overflows the first time anyone adds a promise or a deadline to it."""
MAX_NUMBER_CHARS = 40


def ascii_digits(value: str) -> bool:
    """`0-9` only, at least one: `str.isdigit()` and `\\d` also accept '٣' and '²', which `int()` may refuse."""
    return value.isascii() and value.isdigit()


class MappingError(ValueError):
    """A signed payload that does not fit the contract; `reason` names the field, never its value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Version:
    """Which state of which provider resource a body describes, by the provider's own signed time.

    A body older than the newest one already accepted for its `resource` is stale (a late retry
    or a replay) and is not published.
    """

    resource: str
    at: datetime


@dataclass(frozen=True)
class Publish:
    """One event to publish, once: `delivery_id` is the provider's id for what it told us (the dedupe key)."""

    delivery_id: str
    event: CloudEvent
    version: Version | None = None

    @property
    def topic(self) -> str:
        """The registry topic the event belongs to (base name, no prefix)."""
        return topic_for_event_type(self.event.type)


@dataclass(frozen=True)
class Ignored:
    """A genuine delivery we have no use for (an unmapped topic or event type): accepted and counted."""

    reason: str
    kind: str


Result = list[Publish] | Ignored


def json_body(body: bytes) -> Any:
    """The parsed body. Deep nesting (RecursionError) and integers past Python's digit limit (ValueError) are
    refused like any other JSON that does not parse."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MappingError("body is not valid JSON") from None


def mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MappingError(f"{path} must be a JSON object")
    return value


def nested(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An optional object field; absent or not an object reads as empty."""
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    value = obj.get(key)
    if value is None or value == "":
        raise MappingError(f"{path}.{key} is missing")
    return value


def text(obj: Mapping[str, Any], key: str, path: str) -> str:
    """A required string; integers (Shopify and AfterShip ids) are taken as their decimal text."""
    value = required(obj, key, path)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(f"{path}.{key} must be a string")
    return str(value)


def optional_text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def aware_time(value: Any, path: str) -> datetime:
    """An ISO 8601 time that names its offset (naive times are ambiguous and refused)."""
    if not isinstance(value, str):
        raise MappingError(f"{path} must be an ISO 8601 time")
    if not value.isascii() or len(value) > 64:
        raise MappingError(f"{path} is not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{path} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise MappingError(f"{path} has no UTC offset")
    return in_range(parsed, path)


def in_range(value: datetime, path: str) -> datetime:
    """`value` if it lies between EARLIEST and LATEST; a MappingError otherwise."""
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:  # an offset that pushes it past datetime's own range
        inside = False
    if not inside:
        raise MappingError(f"{path} is out of range")
    return value


def unix_time(value: Any, path: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MappingError(f"{path} must be a unix time")
    try:
        return in_range(datetime.fromtimestamp(value, UTC), path)
    except (OverflowError, OSError, ValueError):
        raise MappingError(f"{path} is out of range") from None


def decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"{path} must be a number")
    written = str(value)
    if not written.isascii() or len(written) > MAX_NUMBER_CHARS:  # Decimal() reads '١٢٣' as 123
        raise MappingError(f"{path} is not a number")
    try:
        number = Decimal(written)
    except InvalidOperation:
        raise MappingError(f"{path} is not a number") from None
    if not number.is_finite() or abs(number.adjusted()) > MAX_NUMBER_CHARS:
        raise MappingError(f"{path} is not a finite number")
    return number


def phone_or_none(value: Any) -> str | None:
    """A phone number in E.164 if it can be read as one (`+1 (415) 555-0123` can); None otherwise."""
    if not isinstance(value, str) or not value.isascii():  # '+١٤١٥...' is not a number anyone can text
        return None
    candidate = _PHONE_PUNCTUATION.sub("", value)
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    return candidate if _E164.fullmatch(candidate) else None


def email_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    return candidate if len(candidate) <= 254 and _EMAIL.fullmatch(candidate) else None


def locale_or_default(value: Any, default: str = "en") -> str:
    if isinstance(value, str) and len(value) <= 35 and _LOCALE.fullmatch(value.strip()):
        return value.strip()
    return default


def build_event(
    type_: str, data: BaseModel | Mapping[str, Any], *, source: str, subject: str, time: datetime, id: str
) -> CloudEvent:
    """make_event, with a contract violation reported as a MappingError (its message never holds input values)."""
    try:
        return make_event(type_, data, source=source, subject=subject, time=time, id=id)
    except ContractError as exc:
        raise MappingError(f"does not fit {type_}: {exc}") from None
