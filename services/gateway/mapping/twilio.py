"""Twilio SMS callbacks -> `provider-events`, in the shape the notifier reads.

A status callback (`MessageSid`, `MessageStatus`, `To`, `ErrorCode`) becomes
`provider.sms_status`; an incoming SMS (`MessageSid`, `From`, `To`, `Body`) becomes
`provider.sms_inbound`. Both are keyed by the MessageSid. Twilio gives no time, so the
gateway's receipt time stands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.common.ids import stable_id
from services.gateway.mapping.base import MappingError, Publish, build_event, phone_or_none

__all__ = ["map_twilio_inbound", "map_twilio_status"]

SOURCE = "twilio"


def _param(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise MappingError(f"{name} is missing")
    return value


def map_twilio_status(params: Mapping[str, str], *, received_at: datetime) -> list[Publish]:
    """Dedupe on MessageSid + MessageStatus: Twilio sends one callback per status, and may repeat it."""
    sid = _param(params, "MessageSid")
    status = _param(params, "MessageStatus").lower()
    to = phone_or_none(params.get("To"))
    if to is None:
        raise MappingError("To is not an E.164 phone number")
    data = {"message_sid": sid, "status": status, "error_code": params.get("ErrorCode") or None, "to": to,
            "received_at": received_at}
    delivery_id = f"{sid}:{status}"
    event = build_event("provider.sms_status", data, source=SOURCE, subject=sid, time=received_at,
                        id=stable_id("twilio-status", sid, status))
    return [Publish(delivery_id, event)]


def map_twilio_inbound(params: Mapping[str, str], *, received_at: datetime) -> list[Publish]:
    """Dedupe on MessageSid. The body is kept as sent: STOP, START and HELP are the notifier's to read."""
    sid = _param(params, "MessageSid")
    sender = phone_or_none(params.get("From"))
    if sender is None:
        raise MappingError("From is not an E.164 phone number")
    data = {"message_sid": sid, "from": sender, "to": _param(params, "To"), "body": params.get("Body", ""),
            "received_at": received_at}
    event = build_event("provider.sms_inbound", data, source=SOURCE, subject=sid, time=received_at,
                        id=stable_id("twilio-inbound", sid))
    return [Publish(sid, event)]
