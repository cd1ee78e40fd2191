"""Rules that read the KPI history (history.py): trend and forecast.

The history is kept per helpdesk and per (helpdesk, group), unfiltered, so these rules group by
those labels only and take no ``where``. The current value is computed from the snapshot; past values
are the history's values whole days before now (``HistoryView.daily``).

The forecast method: the daily values of the metric over ``lookback`` (one per day, at this time of
day) and the current value are fitted with a least-squares line; its slope is the rate per day (for
open_tickets, the average daily net flow: inflow - outflow). From the current value at that rate,
the crossing comes after (threshold - current) / slope days. It needs two past days at least.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import model_validator

from backlog_watch.durations import Duration, format_duration, human_duration
from backlog_watch.kpis import PERCENTILE_METRICS, Scope, format_value, kpis, metric_words
from backlog_watch.models import ALL_TICKETS, Snapshot
from backlog_watch.rules.base import Firing, Level, Measure, MetricName, RuleBase

_HISTORY_SCOPES = ({"helpdesk"}, {"helpdesk", "group"})


class HistoryRule(RuleBase):
    """A rule on a metric's history per helpdesk (or per helpdesk and group)."""

    metric: MetricName
    level: Level = "warn"

    def unsupported_reason(self) -> str | None:
        if not self.where.is_empty:
            return f"{self.type} rules read the history, kept per helpdesk and group: `where` cannot be used"
        if set(self.scope_labels) not in _HISTORY_SCOPES or len(self.scope_labels) != len(set(self.scope_labels)):
            return (
                f"{self.type} rules read the history, kept per helpdesk and group: group_by must be "
                "[helpdesk] or [helpdesk, group]"
            )
        return None

    def current(self, snapshot: Snapshot, now: datetime) -> Iterator[tuple[Scope, float]]:
        percentiles = self.metric in PERCENTILE_METRICS
        found = snapshot.query.kpis(ALL_TICKETS, self.scope_labels, snapshot.handle_hours, percentiles)
        for scope, values in self.scoped(snapshot, found, kpis([], now)).items():
            yield scope, values[self.metric]

    def _tz(self, snapshot: Snapshot) -> object:
        calendar = snapshot.calendar(self.business_hours)
        return calendar.tz if calendar is not None else UTC


class TrendRule(HistoryRule):
    """A metric higher every day than the day before, for ``growing_for``, by daily snapshots."""

    type: Literal["trend"]
    growing_for: Duration

    @property
    def days(self) -> int:
        return max(1, math.ceil(self.growing_for / timedelta(days=1)))

    def history_days(self) -> int:
        return self.days

    def headline(self, alert: Firing) -> str:
        return f"{metric_words(self.metric)} growing for {human_duration(self.growing_for)}"

    def terms(self, alert: Firing) -> str:
        return self.headline(alert)

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        for scope, value in self.current(snapshot, now):
            past = snapshot.history.daily(self.metric, scope, now, self.days) if snapshot.history else []
            known = [v for v in past if v is not None]
            if len(known) < self.days:
                yield Measure(
                    scope,
                    value,
                    None,
                    None,
                    f"{metric_words(self.metric)} is {format_value(value)}; needs "
                    f"{self.days} day(s) of history, has {len(known)}",
                )
                continue
            series = [*known, value]
            path = " -> ".join(format_value(v) for v in series)
            growing = all(b > a for a, b in zip(series, series[1:], strict=False))
            words = "grew every day" if growing else "did not grow every day"
            summary = f"{metric_words(self.metric)} {words} for {format_duration(self.growing_for)}: {path}"
            yield Measure(scope, value, self.level if growing else None, known[0], summary)


def slope_per_day(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (day, value) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def days_until(current: float, rate: float, threshold: float, above: bool) -> float:
    """Days until ``current`` moving at ``rate`` per day crosses ``threshold``: 0 if past, inf if never."""
    if (current > threshold) if above else (current < threshold):
        return 0.0
    toward = rate > 0 if above else rate < 0
    return (threshold - current) / rate if toward else math.inf


class ForecastRule(HistoryRule):
    """The metric will cross ``above`` (or ``below``) within ``horizon`` at the current rate.

    ``when: does_not_cross`` turns it round: fires when the crossing will NOT come within the horizon
    ("Friday's backlog will not clear before Monday": metric open_tickets, below 1, horizon 3d).
    """

    type: Literal["forecast"]
    above: float | None = None
    below: float | None = None
    horizon: Duration
    lookback: Duration = timedelta(days=7)
    when: Literal["crosses", "does_not_cross"] = "crosses"

    @model_validator(mode="after")
    def _one_side(self) -> ForecastRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("needs exactly one of above, below")
        return self

    def history_days(self) -> int:
        return max(2, math.ceil(self.lookback / timedelta(days=1)))

    def headline(self, alert: Firing) -> str:
        return alert.summary  # the forecast's own sentence says the date and the rate

    def predict(self, snapshot: Snapshot, scope: Scope, value: float, now: datetime) -> tuple[float, float] | None:
        """(rate per day, days until the crossing), or None without two days of history."""
        days = self.history_days()
        past = snapshot.history.daily(self.metric, scope, now, days) if snapshot.history else []
        points = [(float(i - days), v) for i, v in enumerate(past) if v is not None and math.isfinite(v)]
        if len(points) < 2:
            return None
        rate = slope_per_day([*points, (0.0, value)])
        return rate, days_until(value, rate, self.threshold, self.above is not None)

    @property
    def threshold(self) -> float:
        """The one of ``above``/``below`` that is set (the model's validator makes sure exactly one is)."""
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        threshold = self.threshold
        verb = "passes" if self.above is not None else "falls below"
        horizon_days = self.horizon / timedelta(days=1)
        for scope, value in self.current(snapshot, now):
            predicted = self.predict(snapshot, scope, value, now) if math.isfinite(value) else None
            if predicted is None:
                yield Measure(
                    scope,
                    value,
                    None,
                    threshold,
                    f"{metric_words(self.metric)} is {format_value(value)}; needs two days of history to forecast",
                )
                continue
            rate, days = predicted
            within = days <= horizon_days
            fires = within if self.when == "crosses" else not within
            trend = f"{rate:+.1f}/day"
            if math.isinf(days):
                summary = f"at this rate ({trend}) {metric_words(self.metric)} never {verb} {format_value(threshold)}"
            elif days == 0:
                summary = (
                    f"{metric_words(self.metric)} is {format_value(value)}, "
                    f"already past {format_value(threshold)} ({trend})"
                )
            else:
                moment = (now + timedelta(days=days)).astimezone(self._tz(snapshot))  # type: ignore[arg-type]
                summary = (
                    f"at this rate ({trend}) {metric_words(self.metric)} {verb} {format_value(threshold)} on "
                    f"{moment:%a %d %b %H:%M} {moment.tzname()} (in {human_duration(timedelta(days=days))})"
                )
            if self.when == "does_not_cross":
                summary += f"; {'not ' if fires else ''}within {format_duration(self.horizon)}"
            yield Measure(scope, value, self.level if fires else None, threshold, summary)
