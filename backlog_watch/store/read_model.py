"""The read model: the queries that reports, the wallboard (and /api/backlog) and /metrics share.

Those three read the same few things: the KPIs the last evaluation stored in the history, the open
backlog at past moments (sparklines, day-by-day charts), inflow and outflow over periods, the oldest
open ticket, and how the polls went (freshness). They read them here, so web/ and reports/ speak no
SQL and a second store (PostgreSQL) has one narrow read surface to provide.

Backlog history is reconstructed from the stored tickets: the store keeps created_at and solved_at of
every ticket, so the open backlog at any past moment is ``created_at <= t`` and (still open, or
solved after t), and the inflow and outflow of any day are counts over the same table. Each query is
one scan of the tickets table, whatever the number of moments asked for. The SQL runs on SQLite and
PostgreSQL alike (``?`` placeholders, which the PostgreSQL store translates; tags are rows of
``ticket_tags``, not JSON to expand). Approximation to know of: a ticket's priority, group and tags
are today's, not those it had then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, cast

from backlog_watch.kpis import Scope
from backlog_watch.models import OPEN_STATUSES, PollStatus, Sla, Ticket
from backlog_watch.store import SqlStore
from backlog_watch.store.history import History, Step, scope_of

OPEN_SQL = "(" + ",".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)) + ")"
_OPEN_AT = (
    f"(created_at <= ? AND (status IN {OPEN_SQL} "
    "OR (status IN ('solved','closed') AND solved_at IS NOT NULL AND solved_at > ?)))"
)
_SOLVED = "status IN ('solved','closed') AND solved_at IS NOT NULL"

Label = Literal["priority", "grp", "helpdesk"]
KPI_FRESHNESS = timedelta(hours=1)
"""The KPIs of the last evaluation count as current when they are at most this old."""


@dataclass(frozen=True)
class DayFlow:
    """One local calendar day: tickets created, tickets solved, and the open backlog at its end
    (``partial``: the day is not over, its figures are "so far")."""

    day: date
    created: int
    solved: int
    open_at_end: int
    partial: bool = False


@dataclass(frozen=True)
class SolvedSla:
    """A ticket solved in the period and how its SLA ended: True met, False breached, None no SLA data."""

    helpdesk: str
    priority: str
    met: bool | None


@dataclass(frozen=True)
class OldestTicket:
    """The oldest open ticket of a helpdesk, as the wallboard links to it (no secret: the agent UI URL)."""

    id: str
    subject: str
    priority: str
    created_at: datetime
    url: str


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _scope(helpdesk: str | None) -> tuple[str, list[object]]:
    return ("AND helpdesk = ?", [helpdesk]) if helpdesk is not None else ("", [])


def _count(value: object) -> int:
    """A SUM or COUNT cell: SQLite gives NULL for a SUM over no row."""
    return int(cast(int, value or 0))


class ReadModel:
    """Read-only views over one store, in the terms its readers use (backlog, flow, KPIs, freshness)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.history = History(store)

    # -- the KPI history -------------------------------------------------------------------------------

    def latest_kpis(self, now: datetime) -> dict[Scope, tuple[datetime, dict[str, float]]]:
        """Per scope (helpdesk, or helpdesk and group), the KPIs the last evaluation stored in the
        history, and when: what /metrics and the wallboard show, without loading every ticket."""
        found: dict[Scope, tuple[datetime, dict[str, float]]] = {}
        for key, points in self.history.rows(now - KPI_FRESHNESS, now).items():
            at, values = points[-1]
            found[scope_of(key)] = (datetime.fromtimestamp(at, UTC), values)
        return found

    def kpi_series(
        self,
        metric: str,
        scope: Iterable[tuple[str, str]],
        since: datetime,
        until: datetime | None = None,
        step: Step = "day",
        tz: tzinfo = UTC,
    ) -> list[tuple[datetime, float]]:
        """The last stored value of ``metric`` in each step since ``since``, oldest first (trends)."""
        return self.history.series(metric, scope, since, until, step, tz)

    # -- the backlog, now and in the past ----------------------------------------------------------------

    def open_tickets(self, helpdesks: Iterable[str] | None = None) -> list[Ticket]:
        """The open tickets (of these helpdesks, or all): what reports list and KPIs fall back on."""
        return [t for t in self.store.tickets(helpdesks) if t.is_open]

    def open_counts(self, moments: Sequence[datetime], helpdesk: str | None = None) -> list[int]:
        """The open backlog at each moment, in one scan (the wallboard's sparkline, the reports' chart)."""
        if not moments:
            return []
        columns = ", ".join(f"SUM(CASE WHEN {_OPEN_AT} THEN 1 ELSE 0 END)" for _ in moments)
        args: list[object] = [x for m in moments for x in (m.timestamp(), m.timestamp())]
        where, extra = _scope(helpdesk)
        row = self.store.query(f"SELECT {columns} FROM tickets WHERE 1=1 {where}", args + extra)[0]
        return [_count(v) for v in row]

    def open_by(self, label: Label, moment: datetime, helpdesk: str | None = None) -> dict[str, int]:
        """The open backlog at ``moment`` split by priority, group or helpdesk."""
        where, extra = _scope(helpdesk)
        rows = self.store.query(
            f"SELECT COALESCE({label}, '{'no group' if label == 'grp' else 'none'}'), count(*) "
            f"FROM tickets WHERE {_OPEN_AT} {where} GROUP BY 1",
            [moment.timestamp(), moment.timestamp(), *extra],
        )
        return {str(k): _count(v) for k, v in rows}

    def oldest_open(self, helpdesk: str) -> OldestTicket | None:
        rows = self.store.query(
            "SELECT id, subject, priority, created_at, url FROM tickets "
            f"WHERE helpdesk = ? AND status IN {OPEN_SQL} ORDER BY created_at LIMIT 1",
            (helpdesk,),
        )
        if not rows:
            return None
        ticket_id, subject, priority, created_at, url = rows[0]
        created = datetime.fromtimestamp(float(created_at), UTC)  # type: ignore[arg-type]
        return OldestTicket(str(ticket_id), str(subject), str(priority), created, str(url))

    # -- flow: created and solved --------------------------------------------------------------------------

    def flow_between(self, start: datetime, end: datetime, helpdesk: str | None = None) -> tuple[int, int]:
        """(created, solved) in [start, end)."""
        where, extra = _scope(helpdesk)
        a, b = start.timestamp(), end.timestamp()
        row = self.store.query(
            "SELECT SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {_SOLVED} AND solved_at >= ? AND solved_at < ? THEN 1 ELSE 0 END) "
            f"FROM tickets WHERE 1=1 {where}",
            [a, b, a, b, *extra],
        )[0]
        return _count(row[0]), _count(row[1])

    def days(
        self,
        last_day: date,
        count: int,
        tz: tzinfo,
        helpdesk: str | None = None,
        now: datetime | None = None,
    ) -> list[DayFlow]:
        """``count`` local days ending with ``last_day``; a day not over yet at ``now`` ends at ``now``."""
        first = last_day - timedelta(days=count - 1)
        bounds = [local_midnight(first + timedelta(days=i), tz) for i in range(count + 1)]
        if now is not None:
            bounds = [min(b, now) for b in bounds]
        where, extra = _scope(helpdesk)
        columns: list[str] = []
        args: list[object] = []
        for start, end in zip(bounds, bounds[1:], strict=False):
            columns.append("SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END)")
            columns.append(f"SUM(CASE WHEN {_SOLVED} AND solved_at >= ? AND solved_at < ? THEN 1 ELSE 0 END)")
            args += [start.timestamp(), end.timestamp(), start.timestamp(), end.timestamp()]
        row = self.store.query(f"SELECT {', '.join(columns)} FROM tickets WHERE 1=1 {where}", args + extra)[0]
        ends = self.open_counts(bounds[1:], helpdesk)
        day_ends = [local_midnight(first + timedelta(days=i + 1), tz) for i in range(count)]
        return [
            DayFlow(
                first + timedelta(days=i),
                _count(row[2 * i]),
                _count(row[2 * i + 1]),
                ends[i],
                partial=now is not None and now < day_ends[i],
            )
            for i in range(count)
        ]

    def busiest(
        self, label: Literal["tag", "grp"], start: datetime, end: datetime, limit: int = 5
    ) -> list[tuple[str, int]]:
        """The tags or groups with the most tickets created in [start, end), most first."""
        if label == "tag":
            sql = (
                "SELECT g.tag, count(*) FROM tickets t JOIN ticket_tags g ON g.helpdesk = t.helpdesk AND g.id = t.id "
                "WHERE t.created_at >= ? AND t.created_at < ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
            )
        else:
            sql = (
                "SELECT COALESCE(grp, '(none)'), count(*) FROM tickets "
                "WHERE created_at >= ? AND created_at < ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
            )
        return [(str(k), _count(v)) for k, v in self.store.query(sql, [start.timestamp(), end.timestamp(), limit])]

    def created_times(self, start: datetime, end: datetime) -> list[float]:
        """Creation times (epoch seconds) in [start, end): the raw material of recurring spikes."""
        rows = self.store.query(
            "SELECT created_at FROM tickets WHERE created_at >= ? AND created_at < ?",
            [start.timestamp(), end.timestamp()],
        )
        return [float(r[0]) for r in rows]  # type: ignore[arg-type]

    def created_with_tags(self, start: datetime, end: datetime) -> list[tuple[float, tuple[str, ...]]]:
        """(creation time in epoch seconds, tags) of each ticket created in [start, end): spikes and their cause."""
        rows = self.store.query(
            "SELECT created_at, tags FROM tickets WHERE created_at >= ? AND created_at < ?",
            [start.timestamp(), end.timestamp()],
        )
        return [(float(at), tuple(json.loads(str(tags)))) for at, tags in rows]  # type: ignore[arg-type]

    def solved_ages(self, start: datetime, end: datetime) -> list[tuple[str, str, float]]:
        """(helpdesk, priority, hours from creation to solve) of each ticket solved in [start, end): the
        pace the oldest-first (FIFO) check compares the waiting tickets with."""
        rows = self.store.query(
            f"SELECT helpdesk, priority, solved_at - created_at FROM tickets WHERE {_SOLVED} "
            "AND solved_at >= ? AND solved_at < ?",
            [start.timestamp(), end.timestamp()],
        )
        return [(str(h), str(p), float(cast(float, age)) / 3600) for h, p, age in rows]

    def active_agents(self, since: datetime) -> int:
        """Agents on record: the distinct assignees of the open tickets and of those solved since ``since``
        (the team the workload is shared by, when the config does not say)."""
        row = self.store.query(
            "SELECT count(DISTINCT assignee) FROM tickets WHERE assignee IS NOT NULL AND "
            f"(status IN {OPEN_SQL} OR ({_SOLVED} AND solved_at >= ?))",
            [since.timestamp()],
        )[0]
        return _count(row[0])

    def solved_with_sla(self, start: datetime, end: datetime) -> list[SolvedSla]:
        """Every ticket solved in [start, end), with its SLA outcome (for SLA attainment)."""
        rows = self.store.query(
            "SELECT helpdesk, priority, solved_at, sla FROM tickets "
            f"WHERE {_SOLVED} AND solved_at >= ? AND solved_at < ?",
            [start.timestamp(), end.timestamp()],
        )
        return [
            SolvedSla(str(helpdesk), str(priority), sla_outcome(sla_json, float(solved_at)))  # type: ignore[arg-type]
            for helpdesk, priority, solved_at, sla_json in rows
        ]

    # -- freshness -----------------------------------------------------------------------------------------

    def poll_statuses(self, helpdesks: Iterable[str]) -> dict[str, PollStatus]:
        """How the last polls of each helpdesk went: /readyz, the board's "stale" and /metrics read it."""
        return self.store.poll_statuses(helpdesks)


def sla_outcome(sla_json: object, solved_at: float) -> bool | None:
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
