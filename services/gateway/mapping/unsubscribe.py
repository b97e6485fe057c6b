"""A one-click unsubscribe (RFC 8058) -> `customer.opted_out` naming the notification whose link was used.

The gateway does not know who received a notification; the notifier does (its ledger holds
the customer and the address of every notification id), so the opt-out names the
notification and the notifier resolves it. The unsubscribe link is only in emails.
"""

from __future__ import annotations

import re
from datetime import datetime

from services.common.ids import stable_id
from services.gateway.mapping.base import MappingError, Publish, build_event

__all__ = ["NOTIFICATION_ID", "map_unsubscribe"]

SOURCE = "forewarn/gateway"
NOTIFICATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


def map_unsubscribe(notification_id: str, *, at: datetime) -> list[Publish]:
    """Dedupe on the notification id: one opt-out per link, however often it is clicked."""
    if not NOTIFICATION_ID.fullmatch(notification_id):
        raise MappingError("not a notification id")
    data = {"channel": "email", "notification_id": notification_id, "source": "email_unsubscribe", "at": at}
    event = build_event("customer.opted_out", data, source=SOURCE, subject=notification_id, time=at,
                        id=stable_id("unsubscribe", notification_id))
    return [Publish(notification_id, event)]
