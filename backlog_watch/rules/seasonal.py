"""Seasonal baselines: ``baseline: hour_of_week`` on spike and flatline rules.

Monday 09:00 is busy every week and Sunday 03:00 is quiet every week: a rule comparing the last hour
with the hours just before it fires on that rhythm. A seasonal rule compares a stretch of time (spike:
the last ``window``; flatline: from the last ticket to now) with the same stretch of the same weekday in
each of the last ``weeks`` weeks, and takes their ``usual`` (median or mean) as what to expect.

Weeks are shifted on the local wall clock of the rule's time zone (its business calendar's, else the
config's ``timezone``): Monday 09:00-10:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer, and
the first Monday after a DST change is still compared with Monday 09:00, not with 08:00 or 10:00.

A week counts only where the store knew the helpdesk: its stretch must start at or after the store's
first ticket of that helpdesk (for a scope across helpdesks, of the one whose tickets begin last), so a
store two weeks old compares with two weeks, not with two weeks and two empty ones. A week whose stretch
falls on a holiday of the rule's calendar is left out as well. The text says how many weeks it took and
why others were left out; with none left, the rule stays quiet and its dry-run line says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer, ValidationInfo
from pydantic_core import PydanticCustomError

from backlog_watch.business_hours import BusinessCalendar
from backlog_watch.durations import format_duration, parse_duration
from backlog_watch.kpis import Scope, format_value
from backlog_watch.models import Snapshot, TicketFilter

HOUR_OF_WEEK = "hour_of_week"
DEFAULT_WEEKS = 4
MAX_WEEKS = 52
WEEK = timedelta(days=7)
Statistic = Literal["median", "mean"]


def parse_baseline(value: Any) -> Any:
    """``hour_of_week``, or a duration ("7d"): the same-length windows just before the current one."""
    if value == HOUR_OF_WEEK:
        return HOUR_OF_WEEK
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except PydanticCustomError:
            raise PydanticCustomError(
                "baseline", '"{value}" is neither a duration (7d) nor hour_of_week', {"value": value}
            ) from None
    return value


def _format_baseline(value: timedelta | str) -> str:
    return value if isinstance(value, str) else format_duration(value)


Baseline = Annotated[
    timedelta | Literal["hour_of_week"],
    BeforeValidator(parse_baseline),
    PlainSerializer(_format_baseline, return_type=str),
]


def seasonal_only(value: Any, info: ValidationInfo) -> Any:
    """A seasonal key given on a rule whose baseline is not ``hour_of_week`` is a mistake: say so at the key."""
    if "baseline" in info.data and info.data["baseline"] != HOUR_OF_WEEK:
        raise PydanticCustomError(
            "seasonal_only", "{key} applies to baseline: hour_of_week only", {"key": info.field_name}
        )
    return value


def seasonal_schema(*keys: str) -> dict[str, Any]:
    """The JSON Schema's word for ``seasonal_only``: without ``baseline: hour_of_week``, none of ``keys``."""
    seasonal = {"properties": {"baseline": {"const": HOUR_OF_WEEK}}, "required": ["baseline"]}
    return {"if": {"not": seasonal}, "then": {"properties": dict.fromkeys(keys, False)}}


def weeks_back(moment: datetime, weeks: int, tz: tzinfo) -> datetime:
    """The same wall-clock time of the same weekday ``weeks`` weeks before, in ``tz`` (as UTC)."""
    # Aware datetimes sharing a tzinfo add by wall clock: across a DST change 09:00 stays 09:00.
    return (moment.astimezone(tz) - weeks * WEEK).astimezone(UTC)


def stretch_words(start: datetime, end: datetime, tz: tzinfo) -> str:
    """(start, end] as a time of the week: "Monday 09:00-10:00", "Sunday 22:00-Monday 02:00"."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    if end - start >= WEEK:
        return f"the week to {b:%A %H:%M}"
    if a.date() == b.date():
        return f"{a:%A %H:%M}-{b:%H:%M}"
    return f"{a:%A %H:%M}-{b:%A %H:%M}"


@dataclass(frozen=True)
class Usual:
    """What the past weeks say about one stretch of one scope: the counts of the weeks that count, and
    how many were left out (before the store's first ticket, on a holiday)."""

    stretch: str
    samples: tuple[int, ...]
    statistic: Statistic
    early: int = 0
    holidays: int = 0

    @property
    def value(self) -> float | None:
        """The usual count (median or mean of the weeks); None with no week to go by."""
        if not self.samples:
            return None
        return float(statistics.median(self.samples) if self.statistic == "median" else statistics.fmean(self.samples))

    @property
    def left_out(self) -> str:
        why = []
        if self.early:
            why.append(f"{self.early} before the store's first ticket")
        if self.holidays:
            why.append(f"{self.holidays} on {'a holiday' if self.holidays == 1 else 'holidays'}")
        return ", ".join(why)

    def words(self) -> str:
        """ "usual for Monday 09:00-10:00 is 8 (median of 4 weeks)", or why there is nothing to compare with."""
        if self.value is None:
            return f"no earlier {self.stretch} to compare with ({self.left_out or 'no week back'})"
        weeks = f"{len(self.samples)} week{'s' if len(self.samples) != 1 else ''}"
        left_out = f"; {self.left_out}" if self.left_out else ""
        return f"usual for {self.stretch} is {format_value(self.value)} ({self.statistic} of {weeks}{left_out})"


class WeeklyBaseline:
    """The same stretch in past weeks, for one rule and one snapshot: windows, and which of them count."""

    def __init__(
        self,
        snapshot: Snapshot,
        calendar: BusinessCalendar | None,
        where: TicketFilter,
        group_by: Sequence[str],
        weeks: int,
        statistic: Statistic,
    ) -> None:
        self.snapshot = snapshot
        self.tz = calendar.tz if calendar is not None and not calendar.always_open else snapshot.timezone
        self.holidays = calendar.holidays if calendar is not None else frozenset()
        self.where = where
        self.group_by = tuple(group_by)
        self.weeks = weeks
        self.statistic = statistic

    def windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """(start, end] shifted back 1, 2, ... ``weeks`` weeks on the local wall clock."""
        return [(weeks_back(start, k, self.tz), weeks_back(end, k, self.tz)) for k in range(1, self.weeks + 1)]

    def judge(self, scope: Scope, start: datetime, end: datetime, counts: Sequence[int]) -> Usual:
        """The usual of ``counts`` (one per week back, as ``windows`` gives them) for ``scope``."""
        begins = self._begins(scope)
        samples: list[int] = []
        early = holidays = 0
        for (w_start, w_end), counted in zip(self.windows(start, end), counts, strict=True):
            if begins is None or w_start < begins:
                early += 1
            elif self._on_holiday(w_start, w_end):
                holidays += 1
            else:
                samples.append(counted)
        return Usual(stretch_words(start, end, self.tz), tuple(samples), self.statistic, early, holidays)

    def counts(self, start: datetime, end: datetime) -> dict[Scope, tuple[int, ...]]:
        """Per scope, tickets created in the stretch now, then in the same stretch of each week back."""
        windows = [(start, end), *self.windows(start, end)]
        return self.snapshot.query.created_in(self.where, self.group_by, windows)

    def past_counts(self, scope: Scope, start: datetime, end: datetime) -> tuple[int, ...]:
        """The tickets of one scope created in the same stretch of each week back (its own stretch: a
        flatline's runs from the scope's last ticket)."""
        found = self.snapshot.query.created_in(self.where, self.group_by, self.windows(start, end), scope)
        return found.get(scope, (0,) * self.weeks)

    def _begins(self, scope: Scope) -> datetime | None:
        """When the store's tickets of the scope's helpdesk begin (across helpdesks: the latest beginning)."""
        first = self.snapshot.query.first_created()
        labels = dict(scope)
        if "helpdesk" in labels:
            return first.get(labels["helpdesk"])
        names = [h for h in self.snapshot.helpdesks if self.where.helpdesk is None or h in self.where.helpdesk]
        known = [first[h] for h in names if h in first]
        return max(known) if known else None

    def _on_holiday(self, start: datetime, end: datetime) -> bool:
        if not self.holidays:
            return False
        day, last = start.astimezone(self.tz).date(), (end - timedelta(microseconds=1)).astimezone(self.tz).date()
        while day <= last:
            if day in self.holidays:
                return True
            day += timedelta(days=1)
        return False
