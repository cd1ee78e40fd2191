"""The backlog KPIs, computed per scope (the values of a rule's ``group_by`` labels).

open_tickets counts the backlog as the seeds define it: new + open + pending + on_hold. Ages are
calendar hours since creation, measured at ``now`` (passed in, never read from a clock). Flow metrics
(created_24h, resolved_24h, resolved_per_day_7d...) count the tickets of the snapshot, which holds the
open tickets and those solved in the last days, so every ticket created or solved in those windows is
there. The formulas are in the README's rule reference.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from backlog_watch.models import ALL_TICKETS, Snapshot, Status, Ticket
from backlog_watch.models import Scope as Scope  # defined low, where the store's query speaks it

NO_GROUP = "(none)"
UNASSIGNED = "(unassigned)"
NO_TAG = "(no tag)"
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
DEFAULT_HANDLE_HOURS = 0.5
"""workload_hours counts this per open ticket of a helpdesk that sets no ``handle_time``."""
INFINITE = math.inf
"""days_to_clear when nothing was resolved in 7 days: the backlog never clears at the current rate."""

_SOLVED = frozenset({Status.SOLVED, Status.CLOSED})


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _ages(tickets: Sequence[Ticket], now: datetime) -> list[float]:
    return [_hours(now - t.created_at) for t in tickets if t.is_open]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    cut = statistics.quantiles(values, n=100, method="inclusive")
    return cut[round(q * 100) - 1]


def _open(tickets: Sequence[Ticket]) -> list[Ticket]:
    return [t for t in tickets if t.is_open]


def is_solved(ticket: Ticket) -> bool:
    return ticket.status in _SOLVED and ticket.solved_at is not None


def _solved_times(tickets: Iterable[Ticket]) -> list[datetime]:
    """When each solved (or closed) ticket was solved: what the outflow metrics count."""
    return [at for t in tickets if t.status in _SOLVED and (at := t.solved_at) is not None]


def created_in(tickets: Iterable[Ticket], start: datetime, end: datetime) -> int:
    """Tickets created in (start, end], whatever their status now."""
    return sum(1 for t in tickets if start < t.created_at <= end)


def resolved_in(tickets: Iterable[Ticket], start: datetime, end: datetime) -> int:
    """Tickets solved (or closed) in (start, end]."""
    return sum(1 for at in _solved_times(tickets) if start < at <= end)


def resolved_per_day(tickets: Sequence[Ticket], now: datetime) -> float:
    return resolved_in(tickets, now - WEEK, now) / 7


def days_to_clear(open_count: float, resolved_7d: float) -> float:
    """open / (resolved in the last 7 days / 7): 0 with no backlog, infinite when nothing was resolved.

    The one formula: the days_to_clear KPI, the reports and the wallboard all call it, so they agree.
    """
    if open_count == 0:
        return 0.0
    per_day = resolved_7d / 7
    return open_count / per_day if per_day > 0 else INFINITE


def days_to_clear_shown(open_count: float, resolved_7d: float) -> float | None:
    """days_to_clear to a tenth, for reports and the wallboard; None when it never clears (JSON has no
    infinity, and a person reads "n/a" better than a huge number)."""
    days = days_to_clear(open_count, resolved_7d)
    return None if math.isinf(days) else round(days, 1)


def workload_hours(tickets: Sequence[Ticket], handle_hours: Mapping[str, float]) -> float:
    return sum(handle_hours.get(t.helpdesk, DEFAULT_HANDLE_HOURS) for t in _open(tickets))


MetricFn = Callable[[Sequence[Ticket], datetime, Mapping[str, float]], float]

METRICS: dict[str, MetricFn] = {
    "open_tickets": lambda ts, now, h: float(len(_open(ts))),
    "unassigned_tickets": lambda ts, now, h: float(sum(1 for t in _open(ts) if not t.is_assigned)),
    "pending_tickets": lambda ts, now, h: float(sum(1 for t in ts if t.status is Status.PENDING)),
    "on_hold_tickets": lambda ts, now, h: float(sum(1 for t in ts if t.status is Status.ON_HOLD)),
    "age_avg_hours": lambda ts, now, h: statistics.fmean(_ages(ts, now)) if _open(ts) else 0.0,
    "age_p50_hours": lambda ts, now, h: _quantile(_ages(ts, now), 0.5),
    "age_p90_hours": lambda ts, now, h: _quantile(_ages(ts, now), 0.9),
    "age_max_hours": lambda ts, now, h: max(_ages(ts, now), default=0.0),
    "created_24h": lambda ts, now, h: float(created_in(ts, now - DAY, now)),
    "resolved_24h": lambda ts, now, h: float(resolved_in(ts, now - DAY, now)),
    "net_flow_24h": lambda ts, now, h: float(created_in(ts, now - DAY, now) - resolved_in(ts, now - DAY, now)),
    "resolved_per_day_7d": lambda ts, now, h: resolved_per_day(ts, now),
    "days_to_clear": lambda ts, now, h: days_to_clear(len(_open(ts)), resolved_in(ts, now - WEEK, now)),
    "workload_hours": lambda ts, now, h: workload_hours(ts, h),
    "sla_breached": lambda ts, now, h: float(sum(1 for t in _open(ts) if sla_breached(t, now))),
    "sla_due_1h": lambda ts, now, h: float(sum(1 for t in _open(ts) if _due_within(t, now, timedelta(hours=1)))),
}

SUPPORTED_METRICS = frozenset(METRICS)
PERCENTILE_METRICS = frozenset({"age_p50_hours", "age_p90_hours"})
"""The metrics that rank a scope's tickets: the store computes them only for a rule that reads one."""

METRIC_WORDS = {
    "open_tickets": "open tickets",
    "unassigned_tickets": "unassigned tickets",
    "pending_tickets": "pending tickets",
    "on_hold_tickets": "tickets on hold",
    "age_avg_hours": "average age (hours)",
    "age_p50_hours": "median age (hours)",
    "age_p90_hours": "90th percentile age (hours)",
    "age_max_hours": "oldest ticket's age (hours)",
    "created_24h": "tickets created in 24h",
    "resolved_24h": "tickets solved in 24h",
    "net_flow_24h": "net inflow in 24h",
    "resolved_per_day_7d": "tickets solved per day (7d)",
    "days_to_clear": "days to clear",
    "workload_hours": "workload (hours)",
    "sla_breached": "SLAs breached",
    "sla_due_1h": "SLAs due within 1h",
}
"""What a support lead reads instead of the metric's identifier."""

NON_NEGATIVE = frozenset(METRICS) - {"net_flow_24h"}
"""Metrics that are counts, ages, rates or days: never below zero (net_flow_24h can be)."""


def metric_words(metric: str) -> str:
    return METRIC_WORDS.get(metric, metric.replace("_", " "))


def sla_breached(ticket: Ticket, now: datetime) -> bool:
    """Breached: the helpdesk says so, or a running target's due time has passed (the KPI's and the
    briefing's one definition)."""
    due = ticket.sla.earliest_due
    return ticket.sla.breached or (due is not None and due <= now and not ticket.sla.paused)


def _due_within(ticket: Ticket, now: datetime, within: timedelta) -> bool:
    due = ticket.sla.earliest_due
    return due is not None and not ticket.sla.paused and now < due <= now + within


def compute(
    metric: str, tickets: Sequence[Ticket], now: datetime, handle_hours: Mapping[str, float] | None = None
) -> float:
    """One KPI over these tickets at ``now``; ``handle_hours`` per helpdesk for workload_hours."""
    return METRICS[metric](tickets, now, handle_hours or {})


def kpis(tickets: Sequence[Ticket], now: datetime, handle_hours: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every KPI over these tickets (what the history stores per scope), in a few passes, not sixteen."""
    hours = handle_hours or {}
    backlog = [t for t in tickets if t.is_open]
    ages = [_hours(now - t.created_at) for t in backlog]
    created = created_in(tickets, now - DAY, now)
    solved_at = _solved_times(tickets)
    resolved = sum(1 for at in solved_at if now - DAY < at <= now)
    resolved_7d = sum(1 for at in solved_at if now - WEEK < at <= now)
    return {
        "open_tickets": float(len(backlog)),
        "unassigned_tickets": float(sum(1 for t in backlog if not t.is_assigned)),
        "pending_tickets": float(sum(1 for t in tickets if t.status is Status.PENDING)),
        "on_hold_tickets": float(sum(1 for t in tickets if t.status is Status.ON_HOLD)),
        "age_avg_hours": statistics.fmean(ages) if ages else 0.0,
        "age_p50_hours": _quantile(ages, 0.5),
        "age_p90_hours": _quantile(ages, 0.9),
        "age_max_hours": max(ages, default=0.0),
        "created_24h": float(created),
        "resolved_24h": float(resolved),
        "net_flow_24h": float(created - resolved),
        "resolved_per_day_7d": resolved_7d / 7,
        "days_to_clear": days_to_clear(len(backlog), resolved_7d),
        "workload_hours": sum(hours.get(t.helpdesk, DEFAULT_HANDLE_HOURS) for t in backlog),
        "sla_breached": float(sum(1 for t in backlog if sla_breached(t, now))),
        "sla_due_1h": float(sum(1 for t in backlog if _due_within(t, now, timedelta(hours=1)))),
    }


def kpis_by_scope(snapshot: Snapshot, now: datetime) -> dict[Scope, dict[str, float]]:
    """Every KPI per helpdesk and per (helpdesk, group) of the snapshot: what the history stores at each
    evaluation, two GROUP BY queries in the store (a helpdesk with no ticket reads zeros)."""
    empty = kpis([], now)
    found: dict[Scope, dict[str, float]] = {(("helpdesk", name),): empty for name in snapshot.helpdesks}
    for group_by in (("helpdesk",), ("group", "helpdesk")):
        found.update(snapshot.query.kpis(ALL_TICKETS, group_by, snapshot.handle_hours))
    return found


def format_value(value: float) -> str:
    """A KPI as a person reads it; an infinite days_to_clear says so."""
    if math.isinf(value):
        return "never at the current rate"
    return f"{round(value, 1):g}" if value != int(value) else f"{value:g}"
