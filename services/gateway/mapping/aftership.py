"""AfterShip tracking webhooks -> `shipment.updated`.

AfterShip's tag (and, for exceptions, its subtag) becomes the contract's status and exception
reason. `Pending` (nothing from the carrier yet) and `Expired` (nothing for 30 days; the
order watcher notices a stall by itself) say nothing new and are ignored. The order id is the
tracking's `order_id`, which the store sets to the id its orders carry. The webhook's signed
`ts` is its `Version` (per tracking): the gateway refuses webhooks older than its replay window
and ones older than the newest already accepted for the same tracking.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from services.common.ids import stable_id
from services.gateway.mapping.base import (
    Ignored,
    MappingError,
    Publish,
    Result,
    Version,
    aware_time,
    build_event,
    in_range,
    json_body,
    mapping,
    optional_text,
    required,
    text,
    unix_time,
)

__all__ = ["EXCEPTION_SUBTAGS", "TAG_STATUS", "map_aftership", "shipment_status"]

SOURCE = "aftership"
TAG_STATUS: dict[str, str] = {
    "InfoReceived": "label_created",
    "InTransit": "in_transit",
    "OutForDelivery": "out_for_delivery",
    "AvailableForPickup": "out_for_delivery",  # waiting at a pickup point: one step from the customer's hands
    "AttemptFail": "attempt_failed",
    "Delivered": "delivered",
    "Exception": "exception",
}
IGNORED_TAGS = frozenset({"Pending", "Expired"})
# Exception subtags -> (status, exception reason). Unlisted exception subtags are ("exception", "other").
EXCEPTION_SUBTAGS: dict[str, tuple[str, str | None]] = {
    "Exception_002": ("exception", "address"),  # customer moved
    "Exception_004": ("exception", "customs"),  # delayed in customs clearance
    "Exception_005": ("exception", "carrier_delay"),  # delayed by external factors
    "Exception_006": ("exception", "customs"),  # held for payment of duties
    "Exception_007": ("exception", "address"),  # incorrect address
    "Exception_010": ("returned_to_sender", None),  # on its way back to the sender
    "Exception_011": ("returned_to_sender", None),  # back with the sender
    "Exception_012": ("exception", "damaged"),
    "Exception_013": ("exception", "lost"),
    "Exception_016": ("exception", "carrier_delay"),  # delayed by a processing issue
    "Exception_017": ("exception", "weather"),
    "Exception_018": ("exception", "customs"),  # documents missing or wrong
}


def shipment_status(tag: str, subtag: str | None) -> tuple[str, str | None] | None:
    """(status, exception reason) for an AfterShip tag and subtag; None for a tag that says nothing new."""
    if tag in IGNORED_TAGS:
        return None
    status = TAG_STATUS.get(tag)
    if status is None:
        raise MappingError("msg.tag is not an AfterShip delivery status")
    if status != "exception":
        return status, None
    return EXCEPTION_SUBTAGS.get(subtag or "", ("exception", "other"))


def map_aftership(body: bytes) -> Result:
    """One tracking update -> `shipment.updated`; dedupe on `event_id`, else on the tracking's state."""
    payload = mapping(json_body(body), "webhook")
    msg = mapping(required(payload, "msg", "webhook"), "msg")
    tag = text(msg, "tag", "msg")
    subtag = optional_text(msg, "subtag")
    mapped = shipment_status(tag, subtag)
    if mapped is None:
        return Ignored("AfterShip tag carries no news", kind="aftership_tag")
    status, reason = mapped
    order_id = text(msg, "order_id", "msg")
    tracking_id = text(msg, "id", "msg")
    sent_at = unix_time(required(payload, "ts", "webhook"), "webhook.ts")
    estimate, estimate_date = _estimated_delivery(msg)
    checkpoint = _last_checkpoint(msg)
    checkpoint_time = _checkpoint_time(checkpoint, msg, payload)
    delivery_id = optional_text(payload, "event_id") or stable_id(
        "aftership", tracking_id, tag, subtag or "", checkpoint_time.isoformat())
    data = {
        "order_id": order_id,
        "shipment_id": tracking_id,
        "carrier": text(msg, "slug", "msg"),
        "tracking_number": text(msg, "tracking_number", "msg"),
        "tracking_url": optional_text(msg, "courier_tracking_link") or optional_text(msg, "aftership_tracking_url"),
        "status": status,
        "exception_reason": reason,
        "estimated_delivery": estimate,
        "estimated_delivery_date": estimate_date,
        "checkpoint_time": checkpoint_time,
        "checkpoint_location": _location(checkpoint),
    }
    event = build_event("shipment.updated", data, source=SOURCE, subject=order_id, time=checkpoint_time,
                        id=stable_id("aftership", delivery_id))
    return [Publish(delivery_id, event, Version(f"tracking:{tracking_id}", sent_at))]


def _last_checkpoint(msg: Mapping[str, Any]) -> Mapping[str, Any]:
    checkpoints = msg.get("checkpoints")
    if isinstance(checkpoints, list) and checkpoints and isinstance(checkpoints[-1], Mapping):
        return checkpoints[-1]  # AfterShip lists them oldest first
    return {}


def _checkpoint_time(checkpoint: Mapping[str, Any], msg: Mapping[str, Any], payload: Mapping[str, Any]) -> datetime:
    """The checkpoint's own time when it names an offset; else when AfterShip updated the tracking; else `ts`."""
    for value, path in ((checkpoint.get("checkpoint_time"), "msg.checkpoints.checkpoint_time"),
                        (msg.get("updated_at"), "msg.updated_at")):
        if isinstance(value, str) and value:
            try:
                return aware_time(value, path)
            except MappingError:
                continue  # carriers often give local times without an offset
    return unix_time(required(payload, "ts", "webhook"), "webhook.ts")


def _estimated_delivery(msg: Mapping[str, Any]) -> tuple[datetime | None, date | None]:
    """The carrier's estimate, else AfterShip's, and its calendar date when the estimate is a date alone.

    A bare date is that date wherever the customer is: it is kept as the date (messages say it as
    it is) and, for ordering estimates, as the end of that day in UTC (the zone is unknown here).
    """
    candidates: list[Any] = [msg.get("expected_delivery")]
    for key in ("courier_estimated_delivery_date", "aftership_estimated_delivery_date"):
        nested = msg.get(key)
        if isinstance(nested, Mapping):
            candidates += [nested.get("estimated_delivery_date"), nested.get("estimated_delivery_date_max")]
    for value in candidates:
        if not isinstance(value, str) or not value:
            continue
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        date_only = parsed.date() if len(value) <= 10 else None
        if date_only is not None:
            parsed = datetime.combine(date_only, time(23, 59, 59), UTC)
        elif parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return in_range(parsed, "msg.estimated_delivery"), date_only
        except MappingError:
            continue  # an estimate in year 9999 is no estimate
    return None, None


def _location(checkpoint: Mapping[str, Any]) -> str | None:
    location = optional_text(checkpoint, "location")
    if location:
        return location
    parts = [optional_text(checkpoint, key) for key in ("city", "state", "country_name")]
    joined = ", ".join(p for p in parts if p)
    return joined or None
