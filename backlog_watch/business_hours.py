"""Business hours: which moments count as working time, and how much of it lies between two moments.

A calendar's open windows are built per local day from wall-clock hours ("09:00-18:00") in its time
zone, then compared as absolute instants, so a DST change is counted as the clock on the wall says:
a day of 00:00-24:00 lasts 23 hours on the last Sunday of March in Europe/Paris. Work is per day, never
per minute, so a span of years costs a few thousand steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from difflib import get_close_matches
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_DAY_NAMES: dict[str, str] = {d: d for d in WEEKDAYS} | {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; a config error (with a suggestion) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: names like "../etc/passwd"
        close = get_close_matches(name, sorted(available_timezones()), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else " (use an IANA name: Europe/Paris, UTC...)"
        raise PydanticCustomError(
            "timezone", '"{name}" is not a time zone{hint}', {"name": name, "hint": hint}
        ) from None


def _check_zone(name: str) -> str:
    zone(name)
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
"""An IANA time zone name, checked when the config is loaded."""


def parse_hours(text: str) -> tuple[int, int]:
    """ "09:00-18:00" as minutes since midnight (540, 1080); "24:00" may end a range."""
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f'"{text}" is not a range of hours (use "09:00-18:00")')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > DAY_MINUTES:
        raise ValueError(f'"{text}" is not a range of hours (use "09:00-18:00")')
    if start >= end:
        raise ValueError(f'"{text}" ends before it starts (a range cannot cross midnight)')
    return start, end


class CalendarSettings(BaseModel):
    """A named business-hours calendar from the config's ``business_hours:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName | None = None
    """None: the config's top-level ``timezone``."""
    days: tuple[Weekday, ...] = Field(default=("mon", "tue", "wed", "thu", "fri"), min_length=1)
    hours: tuple[str, ...] = Field(default=("09:00-18:00",), min_length=1)
    holidays: tuple[date, ...] = ()

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            return [_DAY_NAMES.get(v.strip().lower(), v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _hours_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("hours")
    @classmethod
    def _hours_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ranges = sorted(parse_hours(text) for text in value)
        for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
            if start < end:
                raise ValueError(f"the ranges {', '.join(value)} overlap")
        return value

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The opening hours as sorted (start, end) minutes since midnight."""
        return tuple(sorted(parse_hours(text) for text in self.hours))


class BusinessCalendar:
    """Working time by a calendar: open on ``days`` during ``ranges``, closed on ``holidays``."""

    def __init__(
        self,
        tz: tzinfo,
        days: frozenset[int],
        ranges: tuple[tuple[int, int], ...],
        holidays: frozenset[date] = frozenset(),
        *,
        always_open: bool = False,
    ) -> None:
        if not always_open and (not days or not ranges):
            raise ValueError("a business calendar needs at least one day and one range of hours")
        self.tz = tz
        self.days = days
        self.ranges = ranges
        self.holidays = holidays
        self.always_open = always_open

    @classmethod
    def from_settings(cls, settings: CalendarSettings, default_timezone: str = "UTC") -> BusinessCalendar:
        return cls(
            zone(settings.timezone or default_timezone),
            frozenset(WEEKDAYS.index(d) for d in settings.days),
            settings.ranges,
            frozenset(settings.holidays),
        )

    @classmethod
    def always(cls) -> BusinessCalendar:
        """Open 24/7: working time is elapsed time."""
        return cls(UTC, frozenset(range(7)), ((0, DAY_MINUTES),), always_open=True)

    def __repr__(self) -> str:
        if self.always_open:
            return "BusinessCalendar.always()"
        days = ",".join(WEEKDAYS[d] for d in sorted(self.days))
        return f"BusinessCalendar({self.tz}, {days}, {self.ranges}, {len(self.holidays)} holidays)"

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in working time."""
        _require_aware(at)
        if self.always_open:
            return True
        return any(start <= at < end for start, end in self._day_windows(at.astimezone(self.tz).date()))

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two moments; zero when ``end`` is not after ``start``."""
        _require_aware(start)
        _require_aware(end)
        # Aware datetimes sharing a tzinfo subtract by wall clock in Python: count in UTC instead.
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        return sum((w_end - w_start for w_start, w_end in self.windows(start, end)), timedelta(0))

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        """The moment when ``delta`` of working time has passed since ``start`` (in start's time zone)."""
        _require_aware(start)
        if delta <= timedelta(0):
            return start
        origin = start.astimezone(UTC)
        if self.always_open:
            return (origin + delta).astimezone(start.tzinfo)
        remaining = delta
        day = start.astimezone(self.tz).date()
        while True:
            for w_start, w_end in self._day_windows(day):
                w_start = max(w_start, origin)
                if w_end <= w_start:
                    continue
                if remaining <= w_end - w_start:
                    return (w_start + remaining).astimezone(start.tzinfo)
                remaining -= w_end - w_start
            day += timedelta(days=1)

    def windows(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open windows within [start, end], clipped to it, as UTC instants."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if self.always_open:
            if start < end:
                yield start, end
            return
        day, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        while day <= last:
            for w_start, w_end in self._day_windows(day):
                w_start, w_end = max(w_start, start), min(w_end, end)
                if w_start < w_end:
                    yield w_start, w_end
            day += timedelta(days=1)

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """This local day's open windows as UTC instants (empty on closed days and holidays)."""
        if day.weekday() not in self.days or day in self.holidays:
            return []
        found = []
        for start, end in self.ranges:
            w_start, w_end = self._instant(day, start), self._instant(day, end)
            if w_start < w_end:  # a range made empty by a DST gap counts for nothing
                found.append((w_start, w_end))
        return found

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes >= DAY_MINUTES:
            day, minutes = day + timedelta(days=1), minutes - DAY_MINUTES
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.tz)
        return local.astimezone(UTC)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone: business hours need aware datetimes")
