"""Backlog history reconstructed from the stored tickets, for the reports and the wallboard.

The store keeps created_at and solved_at of every ticket, so the open backlog at any past moment is
``created_at <= t`` and (still open, or solved after t), and the inflow and outflow of any day are
counts over the same table. Each function here is one scan of the tickets table in SQL, whatever the
number of moments asked for. This is the narrow interface reports and the wallboard read history
through; when KPI snapshots are stored (history.py), these functions can read them instead.

Approximation to know of: a ticket's priority, group and tags are today's, not those it had then.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from backlog_watch.kpis import Scope
from backlog_watch.models import OPEN_STATUSES, Sla
from backlog_watch.store import Store
from backlog_watch.store.history import History

OPEN_SQL = "(" + ",".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)) + ")"
_OPEN_AT = (
    f"(created_at <= ? AND (status IN {OPEN_SQL} "
    "OR (status IN ('solved','closed') AND solved_at IS NOT NULL AND solved_at > ?)))"
)
_SOLVED = "status IN ('solved','closed') AND solved_at IS NOT NULL"

Label = Literal["priority", "grp", "helpdesk"]


class TicketTable(Protocol):
    """What these functions need of the store: read-only SQL over its tickets table."""

    def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]: ...


@dataclass(frozen=True)
class DayFlow:
    """One local calendar day: tickets created, tickets solved, and the open backlog at its end."""

    day: date
    created: int
    solved: int
    open_at_end: int


KPI_FRESHNESS = timedelta(hours=1)
"""The KPIs of the last evaluation count as current when they are at most this old."""


def latest_kpis(store: Store, now: datetime) -> dict[Scope, tuple[datetime, dict[str, float]]]:
    """Per scope (helpdesk, or helpdesk and group), the KPIs the last evaluation stored in the history,
    and when: what /metrics and the wallboard show, without loading every ticket."""
    found = {}
    for key, points in History(store).rows(now - KPI_FRESHNESS, now).items():
        at, values = points[-1]
        scope = tuple((label, value) for label, value in json.loads(key))
        found[scope] = (datetime.fromtimestamp(at, UTC), values)
    return found


def _scope(helpdesk: str | None) -> tuple[str, list[object]]:
    return ("AND helpdesk = ?", [helpdesk]) if helpdesk is not None else ("", [])


def open_counts(store: TicketTable, moments: Sequence[datetime], helpdesk: str | None = None) -> list[int]:
    """The open backlog at each moment, in one scan."""
    if not moments:
        return []
    columns = ", ".join(f"SUM(CASE WHEN {_OPEN_AT} THEN 1 ELSE 0 END)" for _ in moments)
    args: list[object] = [x for m in moments for x in (m.timestamp(), m.timestamp())]
    where, extra = _scope(helpdesk)
    row = store.query(f"SELECT {columns} FROM tickets WHERE 1=1 {where}", args + extra)[0]
    return [int(v or 0) for v in row]  # type: ignore[call-overload]


def open_by(store: TicketTable, label: Label, moment: datetime, helpdesk: str | None = None) -> dict[str, int]:
    """The open backlog at ``moment`` split by priority, group or helpdesk."""
    where, extra = _scope(helpdesk)
    rows = store.query(
        f"SELECT COALESCE({label}, '(none)'), count(*) FROM tickets WHERE {_OPEN_AT} {where} GROUP BY 1",
        [moment.timestamp(), moment.timestamp(), *extra],
    )
    return {str(k): int(v) for k, v in rows}  # type: ignore[call-overload]


def flow_between(store: TicketTable, start: datetime, end: datetime, helpdesk: str | None = None) -> tuple[int, int]:
    """(created, solved) in [start, end)."""
    where, extra = _scope(helpdesk)
    a, b = start.timestamp(), end.timestamp()
    row = store.query(
        "SELECT SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {_SOLVED} AND solved_at >= ? AND solved_at < ? THEN 1 ELSE 0 END) "
        f"FROM tickets WHERE 1=1 {where}",
        [a, b, a, b, *extra],
    )[0]
    return int(row[0] or 0), int(row[1] or 0)  # type: ignore[call-overload]


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def days(
    store: TicketTable,
    last_day: date,
    count: int,
    tz: ZoneInfo,
    helpdesk: str | None = None,
    now: datetime | None = None,
) -> list[DayFlow]:
    """``count`` local days ending with ``last_day``; a day not over yet at ``now`` ends at ``now``."""
    first = last_day - timedelta(days=count - 1)
    bounds = [local_midnight(first + timedelta(days=i), tz) for i in range(count + 1)]
    if now is not None:
        bounds = [min(b, now) for b in bounds]
    where, extra = _scope(helpdesk)
    columns, args = [], []
    for start, end in zip(bounds, bounds[1:], strict=False):
        columns.append("SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END)")
        columns.append(f"SUM(CASE WHEN {_SOLVED} AND solved_at >= ? AND solved_at < ? THEN 1 ELSE 0 END)")
        args += [start.timestamp(), end.timestamp(), start.timestamp(), end.timestamp()]
    row = store.query(f"SELECT {', '.join(columns)} FROM tickets WHERE 1=1 {where}", args + extra)[0]
    ends = open_counts(store, bounds[1:], helpdesk)
    return [
        DayFlow(
            first + timedelta(days=i),
            int(row[2 * i] or 0),
            int(row[2 * i + 1] or 0),  # type: ignore[call-overload]
            ends[i],
        )
        for i in range(count)
    ]


def busiest(
    store: TicketTable, label: Literal["tag", "grp"], start: datetime, end: datetime, limit: int = 5
) -> list[tuple[str, int]]:
    """The tags or groups with the most tickets created in [start, end), most first."""
    if label == "tag":
        sql = (
            "SELECT j.value, count(*) FROM tickets, json_each(tickets.tags) AS j "
            "WHERE created_at >= ? AND created_at < ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
        )
    else:
        sql = (
            "SELECT COALESCE(grp, '(none)'), count(*) FROM tickets "
            "WHERE created_at >= ? AND created_at < ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
        )
    return [(str(k), int(v)) for k, v in store.query(sql, [start.timestamp(), end.timestamp(), limit])]  # type: ignore[call-overload]


def created_times(store: TicketTable, start: datetime, end: datetime) -> list[float]:
    """Creation times (epoch seconds) in [start, end): the raw material of recurring spikes."""
    rows = store.query(
        "SELECT created_at FROM tickets WHERE created_at >= ? AND created_at < ?", [start.timestamp(), end.timestamp()]
    )
    return [float(r[0]) for r in rows]  # type: ignore[arg-type]


@dataclass(frozen=True)
class SolvedSla:
    """A ticket solved in the period and how its SLA ended: True met, False breached, None no SLA data."""

    helpdesk: str
    priority: str
    met: bool | None


def solved_with_sla(store: TicketTable, start: datetime, end: datetime) -> list[SolvedSla]:
    """Every ticket solved in [start, end), with its SLA outcome (for SLA attainment)."""
    rows = store.query(
        f"SELECT helpdesk, priority, solved_at, sla FROM tickets WHERE {_SOLVED} AND solved_at >= ? AND solved_at < ?",
        [start.timestamp(), end.timestamp()],
    )
    return [
        SolvedSla(str(helpdesk), str(priority), _outcome(sla_json, float(solved_at)))  # type: ignore[arg-type]
        for helpdesk, priority, solved_at, sla_json in rows
    ]


def _outcome(sla_json: object, solved_at: float) -> bool | None:
    """The stored SLA's outcome. A row written before targets were kept falls back to what it had: the
    breached flag, else the resolution due against the solve time, else met if it had any due."""
    if not sla_json:
        return None
    sla = Sla.model_validate_json(str(sla_json))
    if sla.targets:
        return sla.outcome
    if sla.breached:
        return False
    if sla.resolution_due is not None:
        return solved_at <= sla.resolution_due.timestamp()
    return True if sla.earliest_due is not None else None
