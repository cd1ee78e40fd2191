"""Rules on the flow of tickets rather than the backlog's size: spike, flatline, fifo.

They count tickets created or solved in a window, so the snapshot must hold the tickets solved that
far back: each rule says how far with ``needs_solved`` and the daemon asks the store for that much.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from backlog_watch.durations import Duration, format_duration, human_duration
from backlog_watch.kpis import Scope, format_value
from backlog_watch.models import Listing, Medians, Snapshot, TicketFilter
from backlog_watch.rules.base import MAX_LISTED, Firing, Level, Measure, RuleBase, plural


class SpikeRule(RuleBase):
    """Inflow in ``window`` against the same-length windows of ``baseline``, per scope (e.g. per tag)."""

    type: Literal["spike"]
    window: Duration
    baseline: Duration
    factor: float = Field(gt=1)
    min_count: int = Field(default=1, ge=1)
    level: Level = "warn"

    @model_validator(mode="after")
    def _baseline_holds_windows(self) -> SpikeRule:
        if self.window <= timedelta(0) or self.baseline < self.window:
            raise ValueError("baseline must be at least one window long")
        return self

    def needs_solved(self) -> timedelta:
        return self.window + self.baseline  # tickets created then and solved since still count

    def headline(self, alert: Firing) -> str:
        return f"{plural(alert.ticket_count, 'new ticket')} in {human_duration(self.window)}"

    def terms(self, alert: Firing) -> str:
        return f"{format_value(self.factor)}x the usual rate in {human_duration(self.window)}"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        start = now - self.window
        where = self.where.filter
        found = snapshot.query.inflow(where, self.scope_labels, start - self.baseline, start)
        windows = self.baseline / self.window
        for scope, (before, recent) in self.scoped(snapshot, found, (0, 0)).items():
            usual = before / windows
            limit = max(self.factor * usual, float(self.min_count))
            usually = f"{recent / usual:.1f}x the usual {usual:.1f}" if usual else "none usually"
            summary = (
                f"{plural(recent, 'new ticket')} in {format_duration(self.window)}, {usually} "
                f"per {format_duration(self.window)} over {format_duration(self.baseline)} "
                f"(fires at {limit:g})"
            )
            if not (recent and recent >= limit):
                yield Measure(scope, float(recent), None, limit, summary)
                continue
            listing = Listing("newest", open_only=False, created_after=start)
            listed = snapshot.query.listed(where, scope, listing, MAX_LISTED)
            yield Measure(scope, float(recent), self.level, limit, summary, listed, recent)


class FlatlineRule(RuleBase):
    """No new ticket at all in ``window`` (of business time when business_hours is set)."""

    type: Literal["flatline"]
    window: Duration
    level: Level = "warn"

    def headline(self, alert: Firing) -> str:
        return f"no new ticket for {format_value(alert.value)}h"

    def terms(self, alert: Firing) -> str:
        return f"no new ticket for {human_duration(self.window)}"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        elapsed = self.elapsed(snapshot, now)
        time = " of working time" if self.business_hours else ""
        found: dict[Scope, datetime | None] = dict(snapshot.query.last_created(self.where.filter, self.scope_labels))
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
            yield Measure(scope, hours, level, self.window.total_seconds() / 3600, summary)


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
