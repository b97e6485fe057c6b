"""Turning bytes into validated events and back: `parse_event` and `make_event`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.envelope import CloudEvent, ContractError
from schemas.registry import EVENT_TYPES, AnyEvent
from schemas.topics import TOPICS

__all__ = ["MAX_EVENT_BYTES", "make_event", "parse_event"]

MAX_EVENT_BYTES = 1024 * 1024
"""Larger values are rejected before they are parsed."""

_ANY_EVENT: TypeAdapter[Any] = TypeAdapter(AnyEvent)
_TAGS = frozenset(EVENT_TYPES)
_TOO_LARGE = f"value is larger than the {MAX_EVENT_BYTES} bytes an event may have"


def parse_event(raw: bytes | str | Mapping[str, Any], *, topic: str | None = None) -> CloudEvent:
    """Decode and validate one event; any problem raises ContractError (never with input values in it).

    `raw` is the message value (UTF-8 JSON) or an already decoded mapping. With `topic` (a
    registry base name), an event type that does not belong to that topic is rejected too.
    """
    allowed = _allowed_types(topic)
    if isinstance(raw, Mapping):
        event = _validate(lambda: _ANY_EVENT.validate_python(dict(raw)))
    else:
        data = _utf8_bytes(raw)
        event = _validate(lambda: _ANY_EVENT.validate_json(data))
    if not isinstance(event, CloudEvent):  # pragma: no cover - the union holds only events
        raise ContractError(None, "not an event")
    if "specversion" not in event.model_fields_set:
        raise ContractError("specversion", "Field required", [("specversion", "missing", "Field required")])
    if allowed is not None and event.type not in allowed:
        reason = f"event type does not belong to topic {topic}"
        raise ContractError("type", reason, [("type", "wrong_topic", reason)])
    return event


def make_event(
    type_: str,
    data: BaseModel | Mapping[str, Any],
    *,
    source: str,
    subject: str,
    time: datetime,
    id: str | None = None,
    **extensions: Any,
) -> CloudEvent:
    """Build a validated event of the class registered for `type_`; without `id`, a random one is made.

    Keyword arguments beyond the core attributes become CloudEvents extension attributes.
    """
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        raise ContractError("type", "unknown event type", [("type", "unknown_type", "unknown event type")])
    attributes: dict[str, Any] = {
        **extensions,
        "specversion": "1.0",
        "id": uuid.uuid4().hex if id is None else id,
        "source": source,
        "type": type_,
        "time": time,
        "subject": subject,
        "data": data if isinstance(data, BaseModel) else dict(data),
    }
    return _validate(lambda: cls.model_validate(attributes))


def _allowed_types(topic: str | None) -> tuple[str, ...] | None:
    if topic is None:
        return None
    entry = TOPICS.get(topic)
    if entry is None:
        raise ContractError(None, f"topic {topic} is not in the registry")
    return entry.event_types


def _utf8_bytes(raw: bytes | bytearray | memoryview | str) -> bytes:
    """The value as UTF-8 bytes, refusing oversize and non-UTF-8 values before any JSON parsing."""
    if isinstance(raw, str):
        if len(raw) > MAX_EVENT_BYTES:
            raise ContractError(None, _TOO_LARGE)
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ContractError(None, "value is not valid UTF-8 (lone surrogate)") from None
    elif isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
    else:
        raise ContractError(None, "value must be bytes, str or a mapping")
    if len(data) > MAX_EVENT_BYTES:
        raise ContractError(None, _TOO_LARGE)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError(None, "value is not valid UTF-8") from None
    return data


def _validate(run: Callable[[], Any]) -> CloudEvent:
    try:
        event: CloudEvent = run()
    except ValidationError as exc:
        raise ContractError.from_validation_error(exc, tags=_TAGS) from None
    return event
