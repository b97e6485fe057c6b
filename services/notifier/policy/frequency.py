"""Frequency cap: at most N non-exempt messages per customer in a rolling window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .model import CapDecision, PolicySettings, Reason, require_aware

__all__ = ["frequency_cap"]


def frequency_cap(sent_at: Sequence[datetime], severity: str, now: datetime, settings: PolicySettings) -> CapDecision:
    """Allow a message unless `cap_per_24h` were sent within `cap_window` before `now`.

    `sent_at` holds the send times of the customer's messages that count against the cap
    (the caller leaves out exempt ones). Exempt severities always pass. When capped,
    `retry_at` is the instant enough of those messages have left the window (None if the
    cap is zero and nothing ever passes).

    The window is on the wall clock: `sent_at` are the instants messages went out and `now`
    is the instant this one would, because the cap is about how often the customer's phone or
    inbox hears from us, not about when the troubles happened.
    """
    require_aware(now)
    if str(getattr(severity, "value", severity)) in settings.cap_exempt_severities:
        return CapDecision(allowed=True)
    window_start = now - settings.cap_window
    recent = sorted(at for at in sent_at if require_aware(at, "sent_at") > window_start)
    if len(recent) < settings.cap_per_24h:
        return CapDecision(allowed=True)
    if settings.cap_per_24h == 0:
        return CapDecision(allowed=False, reason=Reason.FREQUENCY_CAP)
    leaving = recent[len(recent) - settings.cap_per_24h]
    return CapDecision(allowed=False, reason=Reason.FREQUENCY_CAP, retry_at=leaving + settings.cap_window)
