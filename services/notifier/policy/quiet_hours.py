"""Quiet hours: SMS only inside the customer's local window, DST-correct."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import PolicySettings, require_aware

__all__ = ["in_window", "next_window_start", "quiet_hours", "resolve_zone"]


def resolve_zone(name: str | None, fallback: str) -> ZoneInfo:
    """The customer's zone; an unknown or invalid name falls back to `fallback`, then UTC."""
    for candidate in (name, fallback):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return ZoneInfo("UTC")


def in_window(local: time, start: time, end: time) -> bool:
    """True when wall time `local` is in [start, end); a window may wrap past midnight."""
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


@lru_cache(maxsize=4096)
def _first_instant_at(day: date, start: time, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose wall time in `zone` reaches `day` at `start` (a pure function of the three,
    asked about the same few days and zones for every message: kept).

    In a fall-back fold that is the first of the two occurrences; in a spring-forward gap
    (the wall time never happens) it is the instant the clocks jump, when the wall time first
    passes `start`.
    """
    wall = datetime.combine(day, start)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first
    # A gap: fold=1 lands before the jump (wall time still earlier), fold=0 after it.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(first.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def next_window_start(now: datetime, zone: ZoneInfo, start: time) -> datetime:
    """The next instant after `now` at which the local window opens (aware UTC)."""
    today = now.astimezone(zone).date()
    for offset in range(0, 3):
        candidate = _first_instant_at(today + timedelta(days=offset), start, zone)
        if candidate > now:
            return candidate
    raise AssertionError("a window start exists within three days")  # pragma: no cover


def quiet_hours(channel: str, profile_tz: str | None, now: datetime, settings: PolicySettings) -> datetime | None:
    """None when `channel` may send at `now`; else the next allowed instant (aware UTC).

    Only channels in `settings.quiet_hours_channels` (SMS by default) are restricted. The
    window is read in the customer's zone, or the store's when that is unknown or invalid.
    `now` is the wall clock at send time, never an incident's event time: quiet hours protect
    the customer's night as it is when the message would arrive.
    """
    require_aware(now)
    if channel not in settings.quiet_hours_channels:
        return None
    zone = resolve_zone(profile_tz, settings.store_timezone)
    local = now.astimezone(zone)
    if in_window(local.time().replace(tzinfo=None), settings.sms_window_start, settings.sms_window_end):
        return None
    return next_window_start(now, zone, settings.sms_window_start).astimezone(UTC)
