"""Rules on the flow of tickets rather than the backlog's size: spike, flatline, fifo.

They count tickets created or solved in a window, so the snapshot must hold the tickets solved that
far back: each rule says how far with ``needs_solved`` and the daemon asks the store for that much.
Spike and flatline take ``baseline: hour_of_week`` (rules/seasonal.py): the same time of the week in
past weeks is what is usual, counted over every stored ticket (``created_in``), whatever the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from backlog_watch.durations import Duration, format_duration, human_duration
from backlog_watch.kpis import Scope, format_value
from backlog_watch.models import Listing, Medians, Snapshot, TicketFilter
from backlog_watch.rules.base import MAX_LISTED, Firing, Level, Measure, RuleBase, plural
from backlog_watch.rules.seasonal import (
    DEFAULT_WEEKS,
    HOUR_OF_WEEK,
    MAX_WEEKS,
    WEEK,
    Baseline,
    Statistic,
    WeeklyBaseline,
    seasonal_only,
    seasonal_schema,
)


class SpikeRule(RuleBase):
    """Inflow in ``window`` against the same-length windows of ``baseline``, per scope (e.g. per tag);
    with ``baseline: hour_of_week``, against the same window of the week in the last ``weeks`` weeks."""

    model_config = ConfigDict(json_schema_extra=seasonal_schema("weeks", "usual"))

    type: Literal["spike"]
    window: Duration
    baseline: Baseline
    """A duration (the windows just before this one), or ``hour_of_week``."""
    weeks: int = Field(default=DEFAULT_WEEKS, ge=1, le=MAX_WEEKS)
    """With ``hour_of_week``: how many past weeks give the usual inflow."""
    usual: Statistic = "median"
    """With ``hour_of_week``: the median or the mean of those weeks."""
    factor: float = Field(gt=1)
    min_count: int = Field(default=1, ge=1)
    level: Level = "warn"

    _seasonal_only = field_validator("weeks", "usual")(seasonal_only)

    @model_validator(mode="after")
    def _baseline_holds_windows(self) -> SpikeRule:
        if isinstance(self.baseline, timedelta):
            if self.window <= timedelta(0) or self.baseline < self.window:
                raise ValueError("baseline must be at least one window long")
        elif self.window <= timedelta(0) or self.window > WEEK:
            raise ValueError("window must be longer than 0s and at most 7d with baseline: hour_of_week")
        return self

    @property
    def seasonal(self) -> bool:
        return self.baseline == HOUR_OF_WEEK

    def needs_solved(self) -> timedelta:
        if isinstance(self.baseline, timedelta):
            return self.window + self.baseline  # tickets created then and solved since still count
        return self.window  # the past weeks are counted over every stored ticket (created_in)

    def headline(self, alert: Firing) -> str:
        return f"{plural(alert.ticket_count, 'new ticket')} in {human_duration(self.window)}"

    def terms(self, alert: Firing) -> str:
        if self.seasonal:
            return f"{format_value(self.factor)}x the usual for this time of the week"
        return f"{format_value(self.factor)}x the usual rate in {human_duration(self.window)}"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        start = now - self.window
        where = self.where.filter
        if isinstance(self.baseline, timedelta):
            found = snapshot.query.inflow(where, self.scope_labels, start - self.baseline, start)
            rated = self._rated(snapshot, found, self.baseline)
        else:
            rated = self._seasonal(snapshot, start, now)
        measures = (
            Measure(scope, float(recent), None, limit, summary)
            if limit is None or not (recent and recent >= limit)
            else Measure(scope, float(recent), self.level, limit, summary, (), recent)
            for scope, recent, limit, summary in rated
        )
        yield from self.with_listed(snapshot, where, measures, Listing("newest", open_only=False, created_after=start))

    def _rated(
        self, snapshot: Snapshot, found: dict[Scope, tuple[int, int]], baseline: timedelta
    ) -> Iterator[tuple[Scope, int, float | None, str]]:
        """Per scope: the inflow now, the count it fires at, and the words (the calendar-time baseline)."""
        windows = baseline / self.window
        for scope, (before, recent) in self.scoped(snapshot, found, (0, 0)).items():
            usual = before / windows
            limit = max(self.factor * usual, float(self.min_count))
            usually = f"{recent / usual:.1f}x the usual {usual:.1f}" if usual else "none usually"
            yield (
                scope,
                recent,
                limit,
                f"{plural(recent, 'new ticket')} in {format_duration(self.window)}, {usually} "
                f"per {format_duration(self.window)} over {format_duration(baseline)} (fires at {limit:g})",
            )

    def _seasonal(
        self, snapshot: Snapshot, start: datetime, now: datetime
    ) -> Iterator[tuple[Scope, int, float | None, str]]:
        """Per scope: the inflow now against the same window of the week in past weeks; no limit (quiet)
        when the store holds no such week yet."""
        calendar = snapshot.calendar(self.business_hours)
        weekly = WeeklyBaseline(snapshot, calendar, self.where.filter, self.scope_labels, self.weeks, self.usual)
        found = weekly.counts(start, now)
        for scope, (recent, *past) in self.scoped(snapshot, found, (0,) * (self.weeks + 1)).items():
            usual = weekly.judge(scope, start, now, past)
            now_words = f"{plural(recent, 'new ticket')} in {format_duration(self.window)}"
            if usual.value is None:
                yield scope, recent, None, f"{now_words}; {usual.words()}"
                continue
            limit = max(self.factor * usual.value, float(self.min_count))
            yield scope, recent, limit, f"{now_words}, {usual.words()}; fires at {limit:g}"


class FlatlineRule(RuleBase):
    """No new ticket at all in ``window`` (of business time when business_hours is set); with
    ``baseline: hour_of_week``, only when the same time of the week usually brings tickets."""

    model_config = ConfigDict(json_schema_extra=seasonal_schema("weeks", "usual", "min_usual"))

    type: Literal["flatline"]
    window: Duration
    baseline: Literal["hour_of_week"] | None = None
    """``hour_of_week``: fire only when the time since the last ticket usually brings ``min_usual``."""
    weeks: int = Field(default=DEFAULT_WEEKS, ge=1, le=MAX_WEEKS)
    usual: Statistic = "median"
    min_usual: float = Field(default=1, gt=0)
    """With ``hour_of_week``: how many tickets the same stretch of past weeks usually brings, at least."""
    level: Level = "warn"

    _seasonal_only = field_validator("weeks", "usual", "min_usual")(seasonal_only)

    def headline(self, alert: Firing) -> str:
        return f"no new ticket for {format_value(alert.value)}h"

    def terms(self, alert: Firing) -> str:
        usually = " when the same time of the week usually brings some" if self.baseline else ""
        return f"no new ticket for {human_duration(self.window)}{usually}"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        elapsed = self.elapsed(snapshot, now)
        time = " of working time" if self.business_hours else ""
        found: dict[Scope, datetime | None] = dict(snapshot.query.last_created(self.where.filter, self.scope_labels))
        weekly = self._weekly(snapshot)
        for scope, last in self.scoped(snapshot, found, None).items():
            if last is None:
                yield Measure(scope, 0.0, None, None, "no ticket known yet")
                continue
            silent = elapsed.since(last)
            hours = silent.total_seconds() / 3600
            summary = (
                f"no new ticket for {human_duration(silent)}{time} "
                f"(last at {last:%Y-%m-%d %H:%M} UTC; fires at {format_duration(self.window)})"
            )
            level = self.level if silent >= self.window else None
            if level is not None and weekly is not None:
                level, summary = self._as_usual(weekly, scope, max(last, now - WEEK), now, summary)
            yield Measure(scope, hours, level, self.window.total_seconds() / 3600, summary)

    def _weekly(self, snapshot: Snapshot) -> WeeklyBaseline | None:
        if self.baseline is None:
            return None
        calendar = snapshot.calendar(self.business_hours)
        return WeeklyBaseline(snapshot, calendar, self.where.filter, self.scope_labels, self.weeks, self.usual)

    def _as_usual(
        self, weekly: WeeklyBaseline, scope: Scope, start: datetime, now: datetime, summary: str
    ) -> tuple[Level | None, str]:
        """A silence long enough fires only if the same stretch of past weeks (from the last ticket to
        now, a week at most) usually brought ``min_usual`` tickets."""
        usual = weekly.judge(scope, start, now, weekly.past_counts(scope, start, now))
        if usual.value is None:
            return None, f"{summary}; {usual.words()}"
        if usual.value < self.min_usual:
            return None, f"{summary}; as usual: {usual.words()} (fires from {format_value(self.min_usual)})"
        return self.level, f"{summary}; {usual.words()}"


class FifoRule(RuleBase):
    """Solved tickets much younger than the ones still waiting at the same priority: old ones skipped.

    Per scope and priority: over ``window``, the median age of the tickets solved (age when solved)
    against the median age of the open ones now. Fires when solved / waiting < ``ratio`` and both sides
    have ``min_count`` tickets; lists the waiting tickets older than the solved ones' median, oldest first.
    """

    type: Literal["fifo"]
    window: Duration
    ratio: float = Field(gt=0, lt=1)
    min_count: int = Field(default=5, ge=1)
    level: Level = "warn"

    def needs_solved(self) -> timedelta:
        return self.window

    def headline(self, alert: Firing) -> str:
        return f"{plural(alert.ticket_count, 'old ticket')} skipped"

    def terms(self, alert: Firing) -> str:
        return f"oldest-first ratio below {format_value(self.ratio)} in {human_duration(self.window)}"

    @property
    def scope_labels(self) -> tuple[str, ...]:
        labels = super().scope_labels
        return labels if "priority" in labels else (*labels, "priority")

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        where = self.where.filter
        found = snapshot.query.medians(where, self.scope_labels, now - self.window)
        for scope, medians in self.scoped(snapshot, found, Medians(0, None, 0, None)).items():
            yield self._measure_scope(snapshot, where, scope, medians, now)

    def _measure_scope(
        self, snapshot: Snapshot, where: TicketFilter, scope: Scope, medians: Medians, now: datetime
    ) -> Measure:
        solved_age, waiting_created = medians.solved_age, medians.waiting_created
        if medians.solved < self.min_count or medians.waiting < self.min_count or not solved_age or not waiting_created:
            return Measure(
                scope,
                1.0,
                None,
                self.ratio,
                f"{plural(medians.solved, 'ticket')} solved in "
                f"{format_duration(self.window)}, {medians.waiting} waiting: too few to compare "
                f"(min_count {self.min_count})",
            )
        waiting_age = now - waiting_created
        observed = solved_age / waiting_age if waiting_age > timedelta(0) else 1.0
        summary = (
            f"tickets solved in {format_duration(self.window)} were {human_duration(solved_age)} old "
            f"(median of {medians.solved}), the {medians.waiting} waiting are {human_duration(waiting_age)} "
            f"(ratio {observed:.2f}, fires below {self.ratio:g})"
        )
        if observed >= self.ratio:
            return Measure(scope, observed, None, self.ratio, summary)
        # waiting longer than the solved ones' median: created before now minus it
        older = Listing("created_at", before=now - solved_age)
        skipped = snapshot.query.count(where, scope, older)
        listed = snapshot.query.listed(where, scope, older, MAX_LISTED)
        summary += f"; {plural(skipped, 'older ticket')} skipped"
        return Measure(scope, observed, self.level, self.ratio, summary, listed, skipped)
