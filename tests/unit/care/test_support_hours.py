"""By when a person gets in touch, from the store's support hours: only support time counts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.care.support_hours import SupportHours, contact_by

pytestmark = pytest.mark.unit

DEFAULT = SupportHours()


@pytest.mark.parametrize(("opened", "expected"), [
    (datetime(2026, 12, 1, 15, 0, tzinfo=UTC), datetime(2026, 12, 2, 15, 0, tzinfo=UTC)),  # Tue -> Wed, same time
    (datetime(2026, 12, 1, 7, 0, tzinfo=UTC), datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),  # before opening: that day
    (datetime(2026, 12, 4, 16, 0, tzinfo=UTC), datetime(2026, 12, 7, 16, 0, tzinfo=UTC)),  # Fri -> Mon
    (datetime(2026, 12, 5, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 17, 0, tzinfo=UTC)),  # Sat -> Mon evening
])
def test_one_business_day_by_default(opened: datetime, expected: datetime) -> None:
    assert contact_by(opened, DEFAULT) == expected


def test_the_stores_timezone_and_hours() -> None:
    berlin = SupportHours(timezone="Europe/Berlin", opens=time(8), closes=time(12), answer_within_hours=2)
    opened = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)  # 11:30 in Berlin: 30 minutes left that day
    assert contact_by(opened, berlin) == datetime(2026, 12, 2, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))


def test_bad_hours_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="open before"):
        SupportHours(opens=time(17), closes=time(9))
    with pytest.raises(ValueError):
        SupportHours(days=(7,))
    with pytest.raises(ValueError):
        SupportHours(timezone="Mars/Olympus")


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["UTC", "America/New_York", "Europe/Madrid"]), st.floats(0.5, 40))
def test_the_promise_ends_inside_support_hours_and_never_before_the_work_can_be_done(
    opened: datetime, zone: str, within: float,
) -> None:
    hours = SupportHours(timezone=zone, answer_within_hours=within)
    by = contact_by(opened, hours)
    local = by.astimezone(ZoneInfo(zone))
    assert by >= opened + timedelta(hours=within) - timedelta(hours=1)  # DST may shorten a wall-clock hour
    assert local.weekday() in hours.days and hours.opens <= local.time() <= hours.closes
