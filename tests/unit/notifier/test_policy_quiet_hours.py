"""Quiet hours: local window, DST gaps and folds, unknown zones, email unrestricted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.policy import PolicySettings, quiet_hours
from services.notifier.policy.quiet_hours import in_window

pytestmark = pytest.mark.unit

SETTINGS = PolicySettings()
NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_inside_the_window_sends_now() -> None:
    assert quiet_hours("sms", NEW_YORK, utc(2026, 6, 1, 16, 0), SETTINGS) is None  # 12:00 EDT


def test_email_is_never_held() -> None:
    assert quiet_hours("email", NEW_YORK, utc(2026, 6, 1, 7, 0), SETTINGS) is None  # 03:00 EDT


def test_late_evening_waits_for_next_morning() -> None:
    # 22:30 EDT on June 1 -> 08:00 EDT on June 2 = 12:00 UTC
    assert quiet_hours("sms", NEW_YORK, utc(2026, 6, 2, 2, 30), SETTINGS) == utc(2026, 6, 2, 12, 0)


def test_early_morning_waits_for_the_same_morning() -> None:
    # 06:00 CEST -> 08:00 CEST = 06:00 UTC
    assert quiet_hours("sms", BERLIN, utc(2026, 6, 1, 4, 0), SETTINGS) == utc(2026, 6, 1, 6, 0)


def test_window_edges_start_inclusive_end_exclusive() -> None:
    berlin = ZoneInfo(BERLIN)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=berlin)
    end = datetime(2026, 6, 1, 21, 0, tzinfo=berlin)
    assert quiet_hours("sms", BERLIN, start, SETTINGS) is None
    assert quiet_hours("sms", BERLIN, start - timedelta(seconds=1), SETTINGS) == start.astimezone(UTC)
    assert quiet_hours("sms", BERLIN, end - timedelta(seconds=1), SETTINGS) is None
    assert quiet_hours("sms", BERLIN, end, SETTINGS) == datetime(2026, 6, 2, 8, 0, tzinfo=berlin).astimezone(UTC)


def test_spring_forward_new_york() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT. 22:00 EST on the 7th -> 08:00 EDT on the 8th (12:00 UTC).
    assert quiet_hours("sms", NEW_YORK, utc(2026, 3, 8, 3, 0), SETTINGS) == utc(2026, 3, 8, 12, 0)


def test_spring_forward_berlin() -> None:
    # 2026-03-29: 02:00 CET -> 03:00 CEST. 23:00 CET on the 28th -> 08:00 CEST (06:00 UTC).
    assert quiet_hours("sms", BERLIN, utc(2026, 3, 28, 22, 0), SETTINGS) == utc(2026, 3, 29, 6, 0)


def test_fall_back_new_york() -> None:
    # 2026-11-01: 02:00 EDT -> 01:00 EST. 00:00 EDT -> 08:00 EST (13:00 UTC), a 9-hour wait.
    now = utc(2026, 11, 1, 4, 0)
    assert quiet_hours("sms", NEW_YORK, now, SETTINGS) == utc(2026, 11, 1, 13, 0)


def test_fall_back_berlin() -> None:
    # 2026-10-25: 03:00 CEST -> 02:00 CET. 22:00 CEST on the 24th -> 08:00 CET (07:00 UTC).
    assert quiet_hours("sms", BERLIN, utc(2026, 10, 24, 20, 0), SETTINGS) == utc(2026, 10, 25, 7, 0)


def test_window_start_inside_the_spring_forward_gap_opens_when_clocks_jump() -> None:
    # 02:30 does not exist on 2026-03-08 in New York; the first instant past it is 03:00 EDT.
    settings = replace(SETTINGS, sms_window_start=time(2, 30))
    assert quiet_hours("sms", NEW_YORK, utc(2026, 3, 8, 5, 0), settings) == utc(2026, 3, 8, 7, 0)


def test_window_start_inside_the_fall_back_fold_is_its_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01 in New York; the first is 01:30 EDT (05:30 UTC).
    settings = replace(SETTINGS, sms_window_start=time(1, 30), sms_window_end=time(1, 45))
    assert quiet_hours("sms", NEW_YORK, utc(2026, 11, 1, 3, 0), settings) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    "zone", [None, "", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "America", "x" * 300]
)
def test_unknown_or_invalid_zone_uses_the_store_zone(zone: str | None) -> None:
    settings = replace(SETTINGS, store_timezone=BERLIN)
    # 05:00 UTC = 07:00 CEST: held until 08:00 CEST = 06:00 UTC (in UTC it would be 08:00 UTC).
    assert quiet_hours("sms", zone, utc(2026, 6, 1, 5, 0), settings) == utc(2026, 6, 1, 6, 0)


def test_invalid_store_zone_too_falls_back_to_utc() -> None:
    settings = replace(SETTINGS, store_timezone="Nowhere/Land")
    assert quiet_hours("sms", "Mars/Base", utc(2026, 6, 1, 5, 0), settings) == utc(2026, 6, 1, 8, 0)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        quiet_hours("sms", BERLIN, datetime(2026, 6, 1, 12, 0), SETTINGS)


def test_window_wrapping_midnight() -> None:
    assert in_window(time(23, 0), time(22, 0), time(6, 0))
    assert in_window(time(5, 59), time(22, 0), time(6, 0))
    assert not in_window(time(6, 0), time(22, 0), time(6, 0))
    settings = replace(SETTINGS, sms_window_start=time(22, 0), sms_window_end=time(6, 0))
    assert quiet_hours("sms", "UTC", utc(2026, 6, 1, 12, 0), settings) == utc(2026, 6, 1, 22, 0)


ZONES = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "UTC"]


@settings(deadline=None)  # a loaded machine is slow, not wrong
@given(
    zone=st.sampled_from(ZONES),
    now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
)
def test_the_next_allowed_instant_is_in_the_future_and_inside_the_window(zone: str, now: datetime) -> None:
    due = quiet_hours("sms", zone, now, SETTINGS)
    local_now = now.astimezone(ZoneInfo(zone)).time()
    if due is None:
        assert time(8, 0) <= local_now < time(21, 0)
        return
    assert due > now
    assert due.tzinfo == UTC
    assert due - now <= timedelta(hours=13)
    assert quiet_hours("sms", zone, due, SETTINGS) is None
    assert quiet_hours("sms", zone, due - timedelta(seconds=1), SETTINGS) is not None
