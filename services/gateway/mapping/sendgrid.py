"""SendGrid event webhook -> one `provider.email_event` per array item.

SendGrid posts a JSON array and delivers the same event more than once: each item is deduped
on its `sg_event_id`. Our `notification_id` custom argument arrives as a top-level field of the
item. Items that cannot be mapped are reported together, so the good ones still go through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.ids import stable_id
from services.gateway.mapping.base import (
    MappingError,
    Publish,
    build_event,
    email_or_none,
    json_body,
    mapping,
    optional_text,
    required,
    text,
    unix_time,
)

__all__ = ["map_sendgrid", "map_sendgrid_item"]

SOURCE = "sendgrid"


def map_sendgrid(body: bytes) -> tuple[list[Publish], list[str]]:
    """Every item mapped, plus a reason for each item that could not be (empty when all went well)."""
    items = json_body(body)
    if not isinstance(items, list) or not items:
        raise MappingError("body must be a non-empty JSON array of events")
    published: list[Publish] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            published.append(map_sendgrid_item(item, f"[{index}]"))
        except MappingError as exc:
            problems.append(exc.reason)
    return published, problems


def map_sendgrid_item(raw: Any, path: str = "event") -> Publish:
    item = mapping(raw, path)
    event_id = text(item, "sg_event_id", path)
    email = email_or_none(item.get("email"))
    if email is None:
        raise MappingError(f"{path}.email is not an email address")
    occurred_at = unix_time(required(item, "timestamp", path), f"{path}.timestamp")
    message_id = optional_text(item, "sg_message_id")
    data = {
        "sg_event_id": event_id,
        "sg_message_id": message_id,
        "event": text(item, "event", path),
        "email": email,
        "notification_id": optional_text(item, "notification_id"),
        "reason": optional_text(item, "reason") or optional_text(item, "response"),
        "bounce_type": optional_text(item, "type") if item.get("event") == "bounce" else None,
        "occurred_at": occurred_at,
    }
    subject = message_id or event_id
    event = build_event("provider.email_event", _drop_none(data), source=SOURCE, subject=subject,
                        time=occurred_at, id=stable_id("sendgrid", event_id))
    return Publish(event_id, event)


def _drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}
