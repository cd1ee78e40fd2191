"""Recurring time intervals (Alertmanager's ``time_intervals``) and the mute windows made of them.

A named interval is a list of specs; a moment is in it when it matches any spec, and matches a spec
when it matches every field the spec gives (times, weekdays, days_of_month, months, years), read on the
wall clock of the spec's ``location``. ``mute_time_intervals`` on a notifier hold its notifications
while one of the intervals is on, in the outbox, and send them as one digest when it ends (the
quiet-hours machinery: ``quiet_hours`` is the same window, closed outside a business calendar); on a
rule they mute its alerts meanwhile. ``except_levels`` lets those levels through.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backlog_watch.business_hours import BusinessCalendar, TimeZoneName, zone

__all__ = ["IntervalSpec", "MuteWindow", "TimeInterval", "TimeRange"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DAY = "day of month"  # the one field counted from the end too: -1 is the month's last day
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _minutes(text: str) -> int:
    match = _CLOCK.match(text)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f'"{text}" is not a time of day (use HH:MM, 00:00 to 24:00)')
    return int(match.group(1)) * 60 + int(match.group(2))


def _bounds(text: str, names: tuple[str, ...], low: int, high: int, what: str, example: str) -> tuple[int, int]:
    """ "monday:friday", "1:5", "-1" as inclusive (first, last) numbers; names count from ``low``."""

    def one(part: str) -> int:
        part = part.strip().lower()
        if part in names:
            return names.index(part) + low
        number = int(part) if re.fullmatch(r"-?\d+", part) else None
        if number is not None and (low <= number <= high or (what == _DAY and -high <= number <= -1)):
            return number
        raise ValueError(f'"{text}" is not a {what} or a range of them (e.g. {example})')

    first, _, last = str(text).partition(":")
    start, end = one(first), one(last) if last else one(first)
    if (start > 0) == (end > 0) and start > end:
        raise ValueError(f'"{text}" ends before it starts')
    return start, end


class TimeRange(BaseModel):
    """A part of the day, ``start_time`` included, ``end_time`` excluded (HH:MM; 24:00 ends the day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _minutes(self.start_time) >= _minutes(self.end_time):
            raise ValueError(f"{self.start_time}-{self.end_time} ends before it starts (split a range over midnight)")
        return self

    def contains(self, minute: int) -> bool:
        return _minutes(self.start_time) <= minute < _minutes(self.end_time)


class IntervalSpec(BaseModel):
    """One of Alertmanager's time_interval specs; a field left out matches every moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[str, ...] = ()
    """"monday", "monday:friday"."""
    days_of_month: tuple[str, ...] = ()
    """"1", "1:7", "-1" (the last day), "-7:-1"."""
    months: tuple[str, ...] = ()
    """"january", "january:march", "1:3"."""
    years: tuple[str, ...] = ()
    """"2026", "2026:2027"."""
    location: TimeZoneName | None = None
    """An IANA time zone; default: the config's ``timezone``."""

    @field_validator("weekdays", "days_of_month", "months", "years", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, int)) else value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _bounds(text, _WEEKDAYS, 0, 6, "weekday", "monday:friday")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _bounds(text, (), 1, 31, _DAY, "1:7 or -1 for the last")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _bounds(text, _MONTHS, 1, 12, "month", "january:march")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _bounds(text, (), 1, 9999, "year", "2026:2027")
        return value

    def contains(self, moment: datetime, default_tz: tzinfo) -> bool:
        local = moment.astimezone(zone(self.location) if self.location else default_tz)
        minute = local.hour * 60 + local.minute
        if self.times and not any(r.contains(minute) for r in self.times):
            return False
        if self.weekdays and not _within(local.weekday(), self.weekdays, _WEEKDAYS, 0, 6, "weekday"):
            return False
        if self.months and not _within(local.month, self.months, _MONTHS, 1, 12, "month"):
            return False
        if self.years and not _within(local.year, self.years, (), 1, 9999, "year"):
            return False
        return not self.days_of_month or _day_of_month(local, self.days_of_month)


def _within(value: int, ranges: Iterable[str], names: tuple[str, ...], low: int, high: int, what: str) -> bool:
    return any(start <= value <= end for start, end in (_bounds(r, names, low, high, what, "") for r in ranges))


def _day_of_month(local: datetime, ranges: Iterable[str]) -> bool:
    """Negative days count from the month's end (-1: its last day), as in Alertmanager."""
    length = monthrange(local.year, local.month)[1]
    for text in ranges:
        start, end = _bounds(text, (), 1, 31, _DAY, "")
        start, end = (length + 1 + d if d < 0 else d for d in (start, end))
        if start <= local.day <= end:
            return True
    return False


class TimeInterval(BaseModel):
    """A named recurring interval of the ``time_intervals:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    time_intervals: tuple[IntervalSpec, ...] = Field(min_length=1)

    def contains(self, moment: datetime, default_tz: tzinfo) -> bool:
        return any(spec.contains(moment, default_tz) for spec in self.time_intervals)


@dataclass(frozen=True)
class MuteWindow:
    """When a notifier or a rule holds its notifications: outside its quiet-hours calendar, or inside
    one of its mute time intervals; ``except_levels`` pass all the same."""

    tz: tzinfo
    intervals: tuple[TimeInterval, ...] = ()
    calendar: BusinessCalendar | None = None
    except_levels: frozenset[str] = frozenset()

    def is_open(self, now: datetime) -> bool:
        """Whether notifications go out now (every level)."""
        if self.calendar is not None and not self.calendar.is_open(now):
            return False
        return not any(interval.contains(now, self.tz) for interval in self.intervals)

    def holds(self, level: str, now: datetime) -> bool:
        """Whether a notification at this level waits now."""
        return level not in self.except_levels and not self.is_open(now)

    def why(self, now: datetime) -> str:
        """What closes it now: the intervals on, or "quiet hours"."""
        names = [interval.name for interval in self.intervals if interval.contains(now, self.tz)]
        return ", ".join(names) or "quiet hours"
