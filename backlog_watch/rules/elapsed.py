"""Elapsed time as a rule counts it: calendar time, or working time by a business calendar.

Aging, SLA, flatline and FIFO rules measure many tickets against one ``now``. Working time since a
moment is the part of its own local day plus the whole days after it, and the whole days are summed
once per evaluation (walking back from now), so 100k tickets that are years old cost one pass over
the days, not one per ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from backlog_watch.business_hours import BusinessCalendar

_TICK = timedelta(microseconds=1)
_FURTHEST = timedelta(days=3650)


def _first(low: datetime, high: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The first moment in (low, high] where ``reached`` holds, given that it holds at high, not at low,
    and keeps holding once it does: bisection to the microsecond."""
    while high - low > _TICK:
        middle = low + (high - low) // 2
        if reached(middle):
            high = middle
        else:
            low = middle
    return high


class Elapsed:
    """Time between moments and ``now``, by ``calendar`` (None: calendar time)."""

    def __init__(self, calendar: BusinessCalendar | None, now: datetime) -> None:
        self.calendar = calendar if calendar is not None and not calendar.always_open else None
        self.now = now
        self._after: dict[date, timedelta] = {}
        """Working time from the end of a local day to now, per day before now's."""

    def since(self, moment: datetime) -> timedelta:
        """Time from ``moment`` to now (zero when moment is not before now)."""
        if self.calendar is None:
            return max(self.now - moment, timedelta(0))
        if moment >= self.now:
            return timedelta(0)
        day = moment.astimezone(self.calendar.tz).date()
        today = self.now.astimezone(self.calendar.tz).date()
        if day >= today:
            return self.calendar.working_time(moment, self.now)
        return self.calendar.working_time(moment, self._midnight_after(day)) + self._after_day(day, today)

    def until(self, moment: datetime) -> timedelta:
        """Time from now to ``moment``; negative when it has passed (then in calendar time)."""
        if moment <= self.now:
            return moment - self.now
        if self.calendar is None:
            return moment - self.now
        return self.calendar.working_time(self.now, moment)

    def since_cutoff(self, span: timedelta) -> datetime | None:
        """The moment T such that ``since(m) > span`` exactly when m < T (to the microsecond), so a rule
        asks the store for ``created_at < T`` instead of measuring each ticket; None when no moment of the
        last ten years is that far back in working time."""
        latest = self.now - span  # working time never exceeds calendar time
        if self.calendar is None:
            return latest
        step = timedelta(days=7)
        while self.since(latest - step) <= span:
            if step > _FURTHEST:
                return None
            step *= 2
        # since() falls as the moment rises: the first moment at which it is span or less
        return _first(latest - step, latest, lambda m: self.since(m) <= span)

    def until_cutoff(self, span: timedelta) -> datetime:
        """The moment T such that ``until(d) <= span`` exactly when now < d <= T (to the microsecond)."""
        earliest = self.now + span
        if self.calendar is None:
            return earliest
        step = timedelta(days=7)
        while self.until(earliest + step) <= span and step <= _FURTHEST:
            step *= 2
        return _first(earliest, earliest + step, lambda d: self.until(d) > span) - _TICK

    def _midnight_after(self, day: date) -> datetime:
        assert self.calendar is not None
        local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.calendar.tz)
        return local.astimezone(UTC)

    def _after_day(self, day: date, today: date) -> timedelta:
        cached = self._after.get(day)
        if cached is not None:
            return cached
        assert self.calendar is not None
        # Fill the cache from the most recent day back, so each day's work is counted once.
        known = min(self._after) if self._after else today
        total = self._after.get(known, timedelta(0))
        if known == today:
            total = self.calendar.working_time(self._midnight_after(today - timedelta(days=1)), self.now)
            known = today - timedelta(days=1)
            self._after[known] = total
        while known > day:
            previous = known - timedelta(days=1)
            total += self.calendar.working_time(self._midnight_after(previous), self._midnight_after(known))
            self._after[previous] = total
            known = previous
        return self._after[day]
