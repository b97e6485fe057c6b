"""The store's support hours, and by when a person gets in touch with a customer whose case just opened.

A person answers within `answer_within_hours` of *support* time: only the hours between `opens` and
`closes` on the support `days`, in the store's `timezone`, count. With the defaults (Monday to Friday,
09:00-17:00, 8 hours) that is "by the same time the next business day": a case opened on Tuesday at
15:00 is answered by Wednesday 15:00, one opened on Saturday by Monday 17:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["SupportHours", "contact_by"]

MAX_DAYS = 400


class SupportHours(BaseModel):
    """When the store's people answer (wall-clock times in `timezone`; days 0 = Monday .. 6 = Sunday)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "UTC"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    answer_within_hours: float = Field(default=8.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:  # refuse to start, not at the first case
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _a_window(self) -> SupportHours:
        if not self.days or any(not 0 <= day <= 6 for day in self.days):
            raise ValueError("support days are 0 (Monday) .. 6 (Sunday), at least one")
        if self.opens >= self.closes:
            raise ValueError("support hours must open before they close")
        return self


def contact_by(opened_at: datetime, hours: SupportHours) -> datetime:
    """When a person will have got in touch with a customer whose case opened at `opened_at` (aware), in UTC."""
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be timezone-aware")
    zone = ZoneInfo(hours.timezone)
    remaining = timedelta(hours=hours.answer_within_hours)
    cursor = opened_at.astimezone(zone)
    for _ in range(MAX_DAYS):
        day = cursor.date()
        if day.weekday() in hours.days:
            start = max(cursor, datetime.combine(day, hours.opens, zone))
            end = datetime.combine(day, hours.closes, zone)
            if start < end:
                if end - start >= remaining:
                    return (start + remaining).astimezone(UTC)
                remaining -= end - start
        cursor = datetime.combine(day + timedelta(days=1), time(0), zone)
    raise AssertionError("support hours never open")  # pragma: no cover - the validators forbid it
