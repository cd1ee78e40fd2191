"""The backlog KPIs, computed per scope (the values of a rule's ``group_by`` labels).

open_tickets counts the backlog as the seeds define it: new + open + pending + on_hold. Ages are
calendar hours since creation, measured at ``now`` (passed in, never read from a clock).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from backlog_watch.models import Status, Ticket

Scope = tuple[tuple[str, str], ...]

NO_GROUP = "(none)"
UNASSIGNED = "(unassigned)"
NO_TAG = "(no tag)"


def label_values(ticket: Ticket, label: str) -> tuple[str, ...]:
    """The value(s) of one grouping label for a ticket; a ticket has one value per label but many tags."""
    if label == "helpdesk":
        return (ticket.helpdesk,)
    if label == "group":
        return (ticket.group or NO_GROUP,)
    if label == "priority":
        return (ticket.priority.value,)
    if label == "status":
        return (ticket.status.value,)
    if label == "channel":
        return (ticket.channel.value,)
    if label == "assignee":
        return (ticket.assignee or UNASSIGNED,)
    if label == "tag":
        return ticket.tags or (NO_TAG,)
    raise ValueError(f"unknown label {label!r}")


def scopes_of(ticket: Ticket, group_by: Sequence[str]) -> list[Scope]:
    scopes: list[Scope] = [()]
    for label in group_by:
        scopes = [s + ((label, v),) for s in scopes for v in label_values(ticket, label)]
    return scopes


def group_tickets(tickets: Iterable[Ticket], group_by: Sequence[str]) -> dict[Scope, list[Ticket]]:
    grouped: dict[Scope, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        for scope in scopes_of(ticket, group_by):
            grouped[scope].append(ticket)
    return grouped


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


MetricFn = Callable[[Sequence[Ticket], datetime], float]

METRICS: dict[str, MetricFn] = {
    "open_tickets": lambda ts, now: float(len(_open(ts))),
    "unassigned_tickets": lambda ts, now: float(sum(1 for t in _open(ts) if not t.is_assigned)),
    "pending_tickets": lambda ts, now: float(sum(1 for t in ts if t.status is Status.PENDING)),
    "on_hold_tickets": lambda ts, now: float(sum(1 for t in ts if t.status is Status.ON_HOLD)),
    "age_avg_hours": lambda ts, now: statistics.fmean(_ages(ts, now)) if _open(ts) else 0.0,
    "age_p50_hours": lambda ts, now: _quantile(_ages(ts, now), 0.5),
    "age_p90_hours": lambda ts, now: _quantile(_ages(ts, now), 0.9),
    "age_max_hours": lambda ts, now: max(_ages(ts, now), default=0.0),
    "sla_breached": lambda ts, now: float(sum(1 for t in _open(ts) if _breached(t, now))),
    "sla_due_1h": lambda ts, now: float(sum(1 for t in _open(ts) if _due_within(t, now, timedelta(hours=1)))),
}

SUPPORTED_METRICS = frozenset(METRICS)


def _breached(ticket: Ticket, now: datetime) -> bool:
    due = ticket.sla.earliest_due
    return ticket.sla.breached or (due is not None and due <= now and not ticket.sla.paused)


def _due_within(ticket: Ticket, now: datetime, within: timedelta) -> bool:
    due = ticket.sla.earliest_due
    return due is not None and not ticket.sla.paused and now < due <= now + within


def compute(metric: str, tickets: Sequence[Ticket], now: datetime) -> float:
    """One KPI over these tickets at ``now``."""
    return METRICS[metric](tickets, now)
