"""Rule types as pydantic models, a union keyed on ``type``, each with a pure ``measure``/``evaluate``.

Rules are level-triggered: ``evaluate(snapshot, now)`` looks at stored data and says what holds now.
They keep no state; the alert state machine (alerts.py) turns findings into pending/firing/resolved.
This module holds the rules on the current backlog (threshold, aging, sla); flow rules (spike,
flatline, fifo) are in flow.py, history rules (trend, forecast) in trend.py. Each is registered by
entry point (rules/__init__.py); ``Rule``, the type of a config's rule block, is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import ValidationInfo, field_validator, model_validator

from backlog_watch.durations import Duration, format_duration, human_duration
from backlog_watch.kpis import (
    NON_NEGATIVE,
    PERCENTILE_METRICS,
    SUPPORTED_METRICS,
    WEEK,
    Scope,
    format_value,
    kpis,
    metric_words,
)
from backlog_watch.models import Aged, Listing, SlaRisk, Snapshot, Status, TicketFilter
from backlog_watch.rules import Rule
from backlog_watch.rules.base import (
    MAX_LISTED,
    Firing,
    Label,
    Level,
    Measure,
    MetricName,
    RuleBase,
    Where,
    most_urgent_first,
    oldest_first,
    plural,
)
from backlog_watch.rules.elapsed import Elapsed
from backlog_watch.rules.flow import FifoRule, FlatlineRule, SpikeRule
from backlog_watch.rules.trend import ForecastRule, TrendRule

__all__ = [
    "MAX_LISTED",
    "AgingRule",
    "FifoRule",
    "FlatlineRule",
    "ForecastRule",
    "Label",
    "Level",
    "Measure",
    "MetricName",
    "Rule",
    "RuleBase",
    "SlaRule",
    "SpikeRule",
    "ThresholdRule",
    "TrendRule",
    "Where",
    "most_urgent_first",
    "oldest_first",
]


COUNT_WORDS = {
    "open_tickets": "open",
    "unassigned_tickets": "unassigned",
    "pending_tickets": "pending",
    "on_hold_tickets": "on hold",
    "sla_breached": "SLA breached",
    "sla_due_1h": "SLA due within 1h",
}
"""Count metrics read best after their value ("23 open"); the others as "days to clear 7.2"."""

_NEVER = datetime.min.replace(tzinfo=UTC)
"""A cutoff no ticket is before (no moment in reach is that far back in working time)."""


def listed_for(metric: str, where: TicketFilter, now: datetime) -> tuple[TicketFilter, Listing]:
    """The tickets a threshold alert on ``metric`` lists: those the metric counts, most telling first
    ("5 unassigned" lists unassigned tickets, "3 SLAs breached" the breached ones, an age the oldest);
    the open backlog by urgency for the metrics of the whole backlog (open, workload, days to clear)."""
    counted_status = {"pending_tickets": Status.PENDING.value, "on_hold_tickets": Status.ON_HOLD.value}
    if metric == "unassigned_tickets":
        nothing = where.assigned is True  # unassigned among the assigned: none to list
        return replace(where, assigned=False, status=() if nothing else where.status), Listing("urgent")
    if metric in counted_status:
        status = counted_status[metric]
        kept = (status,) if where.status is None or status in where.status else ()
        return replace(where, status=kept), Listing("urgent")
    if metric == "sla_breached":
        return where, Listing("due", at_risk_by=now)
    if metric == "sla_due_1h":
        return where, Listing("due", at_risk_by=now + timedelta(hours=1))
    if metric.startswith("age_"):
        return where, Listing("created_at")
    if metric in ("created_24h", "net_flow_24h"):
        return where, Listing("newest", open_only=False, created_after=now - timedelta(days=1))
    return where, Listing("urgent")


class ThresholdRule(RuleBase):
    """A metric above (or below) a warn and/or critical level, per scope."""

    type: Literal["threshold"]
    metric: MetricName
    warn_above: float | None = None
    critical_above: float | None = None
    warn_below: float | None = None
    critical_below: float | None = None

    @field_validator("warn_above", "critical_above", "warn_below", "critical_below")
    @classmethod
    def _in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        """A count, age or rate is never negative: a negative threshold is a typo, not a rule."""
        metric = info.data.get("metric")
        if value is not None and value < 0 and metric in NON_NEGATIVE:
            raise ValueError(f"{value:g} is out of range: {metric} ({metric_words(metric)}) is never negative")
        return value

    @model_validator(mode="after")
    def _has_a_level(self) -> ThresholdRule:
        if all(v is None for v in (self.warn_above, self.critical_above, self.warn_below, self.critical_below)):
            raise ValueError("needs at least one of warn_above, critical_above, warn_below, critical_below")
        # a warn level past the critical one can never be reached: the alert would go straight to critical
        if self.warn_above is not None and self.critical_above is not None and self.warn_above >= self.critical_above:
            raise ValueError(
                f"warn_above ({self.warn_above:g}) must be below critical_above ({self.critical_above:g}): "
                "otherwise the warn level is never reached"
            )
        if self.warn_below is not None and self.critical_below is not None and self.warn_below <= self.critical_below:
            raise ValueError(
                f"warn_below ({self.warn_below:g}) must be above critical_below ({self.critical_below:g}): "
                "otherwise the warn level is never reached"
            )
        return self

    def unsupported_reason(self) -> str | None:
        if self.metric not in SUPPORTED_METRICS:
            return f'metric "{self.metric}" is not yet supported'
        return None

    def needs_solved(self) -> timedelta:
        return WEEK  # resolved_per_day_7d and days_to_clear count a week of resolutions

    def headline(self, alert: Firing) -> str:
        words = COUNT_WORDS.get(self.metric)
        value = format_value(alert.value)
        return f"{value} {words}" if words else f"{metric_words(self.metric)} {value}"

    def terms(self, alert: Firing) -> str:
        below = (
            alert.threshold is not None
            and alert.threshold in (self.warn_below, self.critical_below)
            and alert.threshold not in (self.warn_above, self.critical_above)
        )
        limit = format_value(alert.threshold) if alert.threshold is not None else "?"
        return f"{metric_words(self.metric)} {'below' if below else 'above'} {limit}"

    def resolved(self, alert: Firing) -> str | None:
        limit = self.terms(alert).removeprefix(metric_words(self.metric)).strip()
        return f"{metric_words(self.metric)} is {format_value(alert.value)} now ({alert.level} {limit})"

    def level_for(self, value: float) -> tuple[str, float] | None:
        """The level this value reaches and the threshold it crossed, or None."""
        for level, above, below in (
            ("critical", self.critical_above, self.critical_below),
            ("warn", self.warn_above, self.warn_below),
        ):
            if above is not None and value > above:
                return level, above
            if below is not None and value < below:
                return level, below
        return None

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        where = self.where.filter
        found = snapshot.query.kpis(where, self.scope_labels, snapshot.handle_hours, self.metric in PERCENTILE_METRICS)
        listed_where, listing = listed_for(self.metric, where, now)
        yield from self.with_listed(snapshot, listed_where, self._measures(found, snapshot, now), listing)

    def _measures(self, found: dict[Scope, dict[str, float]], snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        for scope, values in self.scoped(snapshot, found, kpis([], now)).items():
            value = values[self.metric]
            shown = "infinite: never at the current rate" if math.isinf(value) else format_value(value)
            crossed = self.level_for(value)
            if crossed is None:
                yield Measure(scope, value, None, None, f"{metric_words(self.metric)} is {shown}")
                continue
            level, threshold = crossed
            direction = "above" if value > threshold else "below"
            summary = f"{metric_words(self.metric)} is {shown} ({level} {direction} {format_value(threshold)})"
            yield Measure(scope, value, level, threshold, summary, (), int(values["open_tickets"]))


class AgingRule(RuleBase):
    """Tickets older than ``older_than`` (by created_at or updated_at), listed oldest first."""

    type: Literal["aging"]
    older_than: Duration
    critical_older_than: Duration | None = None
    field: Literal["created_at", "updated_at"] = "created_at"
    level: Level = "warn"

    def headline(self, alert: Firing) -> str:
        what = "not updated for more than" if self.field == "updated_at" else "older than"
        return f"{plural(alert.ticket_count, 'ticket')} {what} {human_duration(self.older_than)}"

    def terms(self, alert: Firing) -> str:
        critical = alert.level == "critical"
        older = self.critical_older_than if critical and self.critical_older_than else self.older_than
        return f"{'not updated for more than' if self.field == 'updated_at' else 'older than'} {human_duration(older)}"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        elapsed = self.elapsed(snapshot, now)
        # the tickets past the cutoff are exactly those waiting longer than older_than (working time is monotonic)
        cutoff = elapsed.since_cutoff(self.older_than) or _NEVER
        where = self.where.filter
        found = snapshot.query.aged(where, self.scope_labels, self.field, cutoff)
        what = "open" if self.field == "created_at" else "not updated"
        span = f"for more than {format_duration(self.older_than)}" + (" of working time" if self.business_hours else "")
        threshold = self.older_than.total_seconds() / 3600
        measures = self._measures(snapshot, found, elapsed, f"{what} {span}", threshold)
        yield from self.with_listed(snapshot, where, measures, Listing(self.field, before=cutoff))

    def _measures(
        self, snapshot: Snapshot, found: dict[Scope, Aged], elapsed: Elapsed, words: str, threshold: float
    ) -> Iterator[Measure]:
        for scope, scope_aged in self.scoped(snapshot, found, Aged(0, 0, None)).items():
            if scope_aged.oldest is None:
                in_scope = plural(scope_aged.in_scope, "ticket")
                yield Measure(scope, 0.0, None, threshold, f"no ticket {words} ({in_scope} in scope)")
                continue
            oldest = elapsed.since(scope_aged.oldest)
            critical = self.critical_older_than is not None and oldest > self.critical_older_than
            summary = f"{plural(scope_aged.aged, 'ticket')} {words} (oldest {human_duration(oldest)})"
            level = "critical" if critical else self.level
            yield Measure(scope, float(scope_aged.aged), level, threshold, summary, (), scope_aged.aged)


class SlaRule(RuleBase):
    """SLA targets approaching (warn_within / critical_within) or breached (critical); paused ones ignored."""

    type: Literal["sla"]
    warn_within: Duration | None = None
    critical_within: Duration | None = None

    def headline(self, alert: Firing) -> str:
        return f"{plural(alert.ticket_count, 'SLA')} at risk"

    def terms(self, alert: Firing) -> str:
        within = self.critical_within if alert.level == "critical" and self.critical_within else self.warn_within
        return f"due within {human_duration(within)}" if within else "SLA breached"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        elapsed = self.elapsed(snapshot, now)
        # due cutoffs computed once, forward (working time to a due moment only grows with it)
        critical_by = elapsed.until_cutoff(self.critical_within) if self.critical_within is not None else None
        warn_by = elapsed.until_cutoff(self.warn_within) if self.warn_within is not None else None
        where = self.where.filter
        found = snapshot.query.sla_risk(where, self.scope_labels, critical_by, warn_by)
        threshold = self.warn_within.total_seconds() / 3600 if self.warn_within else None
        at_risk_by = max([now, *(c for c in (critical_by, warn_by) if c is not None)])
        measures = self._measures(snapshot, found, threshold)
        yield from self.with_listed(snapshot, where, measures, Listing("due", at_risk_by=at_risk_by))

    def _measures(self, snapshot: Snapshot, found: dict[Scope, SlaRisk], threshold: float | None) -> Iterator[Measure]:
        for scope, risk in self.scoped(snapshot, found, SlaRisk(0, 0, 0, 0)).items():
            at_risk = risk.breached + risk.critical + risk.warn
            if not at_risk:
                tracked = plural(risk.tracked, "ticket")
                yield Measure(scope, 0.0, None, threshold, f"no SLA at risk ({tracked} with a running SLA)")
                continue
            parts = [f"{risk.breached} breached"] if risk.breached else []
            if risk.critical and self.critical_within is not None:
                parts.append(f"{risk.critical} due within {format_duration(self.critical_within)}")
            if risk.warn and self.warn_within is not None:
                parts.append(f"{risk.warn} due within {format_duration(self.warn_within)}")
            level = "critical" if risk.breached or risk.critical else "warn"
            summary = f"{plural(at_risk, 'SLA')} at risk: " + ", ".join(parts)
            yield Measure(scope, float(at_risk), level, threshold, summary, (), at_risk)
