"""The read model: the queries that reports, the wallboard (and /api/backlog) and /metrics share.

Those three read the same few things: the KPIs the last evaluation stored in the history, the open
backlog at past moments (sparklines, day-by-day charts), inflow and outflow over periods, the oldest
open ticket, and how the polls went (freshness). They read them here, so web/ and reports/ speak no
SQL and a second store (PostgreSQL) has one narrow read surface to provide.

Backlog history is reconstructed from the stored tickets: the store keeps created_at and solved_at of
every ticket, so the open backlog at any past moment is ``created_at <= t`` and (still open, or
solved after t), and the inflow and outflow of any day are counts over the same table. They read the
evaluation's covering indexes, not the table: the open backlog at past moments is the open tickets
created by then (tickets_open) plus those solved since (tickets_solved, a range of solve times), the
outflow a range of solve times, the inflow (and the busiest tags and groups) a range of (helpdesk,
created_at) per helpdesk; whatever the number of moments or days asked for, one statement per index.
The reports' counts of the open backlog are one GROUP BY over tickets_open, and only the tickets a
report lists become objects. The SQL runs on SQLite and PostgreSQL alike (``?`` placeholders, which the
PostgreSQL store translates; tags are rows of ``ticket_tags``, not JSON to expand). Approximation to
know of: a ticket's priority, group and tags are today's, not those it had then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, cast

from backlog_watch.kpis import Scope
from backlog_watch.models import OPEN_STATUSES, PollStatus, Sla, Ticket
from backlog_watch.store import SqlStore
from backlog_watch.store.codec import ticket_columns, ticket_from_row
from backlog_watch.store.history import History, Step, scope_of

OPEN_SQL = "(" + ",".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)) + ")"
_SOLVED = "status IN ('solved','closed') AND solved_at IS NOT NULL"
_SOLVED_STATUS = "status IN ('solved','closed')"
"""Tested in a CASE (or in Python) beside a ``solved_at`` range in the WHERE: a status test in the WHERE
leads SQLite's planner (no statistics) to the status index, a scan of every solved ticket, where the
range alone reads the solved tickets' covering index (tickets_solved) from the range's first entry."""
_TICKET = ticket_columns()
"""The columns codec.ticket_from_row reads, in its order."""
_BREACHED = "(sla_breached = 1 OR (sla_due <= ? AND sla_paused = 0))"
"""kpis.sla_breached over the stored columns (codec.evaluation_values): flagged, or a running target past."""
_LISTED_ORDER = {"created": "created_at, helpdesk, id", "due": "sla_due, helpdesk, id"}
_STORED_HELPDESKS = (
    "WITH RECURSIVE stored(helpdesk) AS (SELECT MIN(helpdesk) FROM tickets UNION ALL "
    "SELECT (SELECT MIN(n.helpdesk) FROM tickets n WHERE n.helpdesk > stored.helpdesk) FROM stored "
    "WHERE stored.helpdesk IS NOT NULL) SELECT helpdesk FROM stored WHERE helpdesk IS NOT NULL"
)
"""Every helpdesk that has a ticket, one index probe each (a loose index scan, which neither engine does by
itself; SELECT DISTINCT would read the whole index)."""
_TAGS_JOIN = " JOIN ticket_tags g ON g.helpdesk = t.helpdesk AND g.id = t.id"

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
class OpenBacklog:
    """The open backlog now, counted in the store (one GROUP BY over the open tickets' index): what the
    briefing staffs by, without an object per open ticket."""

    total: int
    by_status: dict[str, int]
    by_helpdesk: dict[str, int]
    unassigned: int
    sla_breached: int
    """Breached as kpis.sla_breached says: the helpdesk flagged it, or a running target is past."""
    younger: dict[float, int]
    """hours -> open tickets created less than that many hours before now (the age buckets' bounds)."""


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


def _of(helpdesk: str | None) -> tuple[str, list[object]]:
    """The helpdesk tested in a CASE beside a range of solve times, not in the WHERE: there it leads
    SQLite's planner (no statistics) to the (helpdesk, created_at) index, a table row per ticket of the
    helpdesk, where the range alone reads the solved tickets' covering index from its first entry."""
    return ("helpdesk = ? AND ", [helpdesk]) if helpdesk is not None else ("", [])


def _count(value: object) -> int:
    """A SUM or COUNT cell: SQLite gives NULL for a SUM over no row."""
    return int(cast(int, value or 0))


class ReadModel:
    """Read-only views over one store, in the terms its readers use (backlog, flow, KPIs, freshness)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.history = History(store)

    def _created(
        self, start: datetime, end: datetime, helpdesk: str | None = None, join: str = ""
    ) -> tuple[str, list[object]]:
        """FROM ... WHERE: the tickets (``t``, with ``join``) of ``helpdesk``, or of every helpdesk stored,
        created in [start, end), and its arguments. The helpdesks are named, so each engine reads a range of
        the (helpdesk, created_at) index per helpdesk: no index leads with created_at, and the range alone
        read every ticket (SQLite; PostgreSQL's planner did too with the helpdesks joined from a query)."""
        names = [helpdesk] if helpdesk is not None else [str(h) for (h,) in self.store.query(_STORED_HELPDESKS, [])]
        listed = f"t.helpdesk IN ({', '.join('?' * len(names))})" if names else "1 = 0"
        where = f"FROM tickets t{join} WHERE {listed} AND t.created_at >= ? AND t.created_at < ?"
        return where, [*names, start.timestamp(), end.timestamp()]

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

    def open_backlog(self, now: datetime, ages: Iterable[float] = ()) -> OpenBacklog:
        """The open backlog counted per helpdesk and status, with the tickets younger than each of ``ages``
        (hours): the reports' counts, one row per (helpdesk, status) leaving the store."""
        limits = sorted(set(ages))
        young = "".join(", SUM(CASE WHEN created_at > ? THEN 1 ELSE 0 END)" for _ in limits)
        at = now.timestamp()
        rows = self.store.query(
            "SELECT helpdesk, status, count(*), SUM(CASE WHEN assignee IS NULL THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {_BREACHED} THEN 1 ELSE 0 END){young} FROM tickets WHERE is_open = 1 "
            "GROUP BY helpdesk, status",
            [at, *(at - hours * 3600 for hours in limits)],
        )
        by_status: dict[str, int] = {}
        by_helpdesk: dict[str, int] = {}
        unassigned = breached = 0
        younger = dict.fromkeys(limits, 0)
        for helpdesk, status, count, no_one, late, *young_counts in rows:
            by_status[str(status)] = by_status.get(str(status), 0) + _count(count)
            by_helpdesk[str(helpdesk)] = by_helpdesk.get(str(helpdesk), 0) + _count(count)
            unassigned += _count(no_one)
            breached += _count(late)
            for hours, counted in zip(limits, young_counts, strict=True):
                younger[hours] += _count(counted)
        return OpenBacklog(sum(by_status.values()), by_status, by_helpdesk, unassigned, breached, younger)

    def oldest_tickets(self, limit: int) -> list[Ticket]:
        """The ``limit`` oldest open tickets, oldest first."""
        return self._listed("1 = 1", [], "created", limit)[1]

    def sla_due(
        self, now: datetime, until: datetime, *, inclusive: bool, limit: int | None
    ) -> tuple[int, list[Ticket]]:
        """Open tickets not breached (kpis.sla_breached) whose running SLA target falls due after now and
        before ``until`` (``inclusive``: at it too): how many, and the first ``limit`` of them, soonest first."""
        at = now.timestamp()
        condition = (
            f"sla_due IS NOT NULL AND sla_paused = 0 AND NOT {_BREACHED} AND sla_due > ? "
            f"AND sla_due {'<=' if inclusive else '<'} ?"
        )
        return self._listed(condition, [at, at, until.timestamp()], "due", limit)

    def waiting_past(
        self, now: datetime, hours: float | Mapping[tuple[str, str], float], limit: int
    ) -> tuple[int, list[Ticket]]:
        """Open tickets older than ``hours``, or than the hours given for their (helpdesk, priority) (those
        of a pair not given are not counted): how many, and the ``limit`` oldest, oldest first."""
        at = now.timestamp()
        if not isinstance(hours, Mapping):
            return self._listed("created_at < ?", [at - hours * 3600], "created", limit)
        if not hours:
            return 0, []
        condition = " OR ".join(["(helpdesk = ? AND priority = ? AND created_at < ?)"] * len(hours))
        args = [x for (helpdesk, priority), h in hours.items() for x in (helpdesk, priority, at - h * 3600)]
        return self._listed(f"({condition})", args, "created", limit)

    def _listed(
        self, condition: str, args: Sequence[object], order: Literal["created", "due"], limit: int | None
    ) -> tuple[int, list[Ticket]]:
        """(how many open tickets meet ``condition``, the first ``limit`` of them in ``order``): the count in
        the store, and Python objects only for the tickets listed."""
        where = f"FROM tickets WHERE is_open = 1 AND {condition}"
        count = _count(self.store.query(f"SELECT count(*) {where}", args)[0][0])
        if limit == 0 or count == 0:
            return count, []
        top = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = self.store.query(f"SELECT {_TICKET} {where} ORDER BY {_LISTED_ORDER[order]}{top}", args)
        return count, [ticket_from_row(row) for row in rows]

    def open_counts(self, moments: Sequence[datetime], helpdesk: str | None = None) -> list[int]:
        """The open backlog at each moment (the wallboard's sparkline, the reports' chart): those created by
        then and open now (the open tickets' index), and those created by then and solved after it (the
        solved tickets' index, from the earliest moment on); never a scan of every ticket."""
        if not moments:
            return []
        where, extra = _scope(helpdesk)
        of, of_args = _of(helpdesk)
        times = [m.timestamp() for m in moments]
        still = ", ".join("SUM(CASE WHEN created_at <= ? THEN 1 ELSE 0 END)" for _ in times)
        opened = self.store.query(f"SELECT {still} FROM tickets WHERE is_open = 1 {where}", [*times, *extra])[0]
        since = ", ".join(
            f"SUM(CASE WHEN {of}{_SOLVED_STATUS} AND created_at <= ? AND solved_at > ? THEN 1 ELSE 0 END)"
            for _ in times
        )
        solved = self.store.query(
            f"SELECT {since} FROM tickets WHERE solved_at > ?",
            [*(x for t in times for x in (*of_args, t, t)), min(times)],
        )[0]
        return [_count(a) + _count(b) for a, b in zip(opened, solved, strict=True)]

    def open_by(self, label: Label, moment: datetime, helpdesk: str | None = None) -> dict[str, int]:
        """The open backlog at ``moment`` split by priority, group or helpdesk (as ``open_counts`` reads it)."""
        where, extra = _scope(helpdesk)
        of, of_args = _of(helpdesk)
        at = moment.timestamp()
        name = f"COALESCE({label}, '{'no group' if label == 'grp' else 'none'}')"
        found: dict[str, int] = {}
        for sql, args in (
            # created_at in the CASE too: in the WHERE beside the helpdesk, SQLite read the (helpdesk,
            # created_at) index and a table row per ticket instead of the open tickets' covering index
            (
                f"SELECT {name}, SUM(CASE WHEN created_at <= ? THEN 1 ELSE 0 END) FROM tickets "
                f"WHERE is_open = 1 {where} GROUP BY 1",
                [at, *extra],
            ),
            (
                f"SELECT {name}, SUM(CASE WHEN {of}{_SOLVED_STATUS} AND created_at <= ? THEN 1 ELSE 0 END) "
                "FROM tickets WHERE solved_at > ? GROUP BY 1",
                [*of_args, at, at],
            ),
        ):
            for key, count in self.store.query(sql, args):
                found[str(key)] = found.get(str(key), 0) + _count(count)
        return {key: count for key, count in found.items() if count}

    def oldest_open(self, helpdesk: str) -> OldestTicket | None:
        # the first creation time from the open tickets' covering index, then that row: ordered by created_at
        # (or a bare MIN, which "+ 0" keeps off the index order), SQLite walked the (helpdesk, created_at)
        # index through every solved ticket older than it, a table row each
        rows = self.store.query(
            "SELECT id, subject, priority, created_at, url FROM tickets WHERE helpdesk = ? AND is_open = 1 "
            "AND created_at = (SELECT MIN(created_at + 0) FROM tickets WHERE is_open = 1 AND helpdesk = ?) "
            "ORDER BY id LIMIT 1",
            (helpdesk, helpdesk),
        )
        if not rows:
            return None
        ticket_id, subject, priority, created_at, url = rows[0]
        created = datetime.fromtimestamp(float(created_at), UTC)  # type: ignore[arg-type]
        return OldestTicket(str(ticket_id), str(subject), str(priority), created, str(url))

    # -- flow: created and solved --------------------------------------------------------------------------

    def flow_between(self, start: datetime, end: datetime, helpdesk: str | None = None) -> tuple[int, int]:
        """(created, solved) in [start, end): each a range of its own index (creation, solve time)."""
        return self.created_between(start, end, helpdesk), self.solved_between(start, end, helpdesk)

    def created_between(self, start: datetime, end: datetime, helpdesk: str | None = None) -> int:
        where, args = self._created(start, end, helpdesk)
        return _count(self.store.query(f"SELECT count(*) {where}", args)[0][0])

    def solved_between(self, start: datetime, end: datetime, helpdesk: str | None = None) -> int:
        of, of_args = _of(helpdesk)
        sql = (
            f"SELECT SUM(CASE WHEN {of}{_SOLVED_STATUS} THEN 1 ELSE 0 END) FROM tickets "
            "WHERE solved_at >= ? AND solved_at < ?"
        )
        return _count(self.store.query(sql, [*of_args, start.timestamp(), end.timestamp()])[0][0])

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
        spans = [(start.timestamp(), end.timestamp()) for start, end in zip(bounds, bounds[1:], strict=False)]
        first_at, last_at = bounds[0].timestamp(), bounds[-1].timestamp()
        created_days = ", ".join(
            "SUM(CASE WHEN t.created_at >= ? AND t.created_at < ? THEN 1 ELSE 0 END)" for _ in spans
        )
        created_where, created_args = self._created(bounds[0], bounds[-1], helpdesk)
        created = self.store.query(
            f"SELECT {created_days} {created_where}", [*(x for span in spans for x in span), *created_args]
        )[0]
        of, of_args = _of(helpdesk)
        solved_days = ", ".join(
            f"SUM(CASE WHEN {of}{_SOLVED_STATUS} AND solved_at >= ? AND solved_at < ? THEN 1 ELSE 0 END)" for _ in spans
        )
        solved = self.store.query(
            f"SELECT {solved_days} FROM tickets WHERE solved_at >= ? AND solved_at < ?",
            [*(x for span in spans for x in (*of_args, *span)), first_at, last_at],
        )[0]
        ends = self.open_counts(bounds[1:], helpdesk)
        day_ends = [local_midnight(first + timedelta(days=i + 1), tz) for i in range(count)]
        return [
            DayFlow(
                first + timedelta(days=i),
                _count(created[i]),
                _count(solved[i]),
                ends[i],
                partial=now is not None and now < day_ends[i],
            )
            for i in range(count)
        ]

    def busiest(
        self, label: Literal["tag", "grp"], start: datetime, end: datetime, limit: int = 5
    ) -> list[tuple[str, int]]:
        """The tags or groups with the most tickets created in [start, end), most first: the tickets from the
        (helpdesk, created_at) index, then their tag rows by key (from the tag rows, it read every ticket)."""
        name = "g.tag" if label == "tag" else "COALESCE(t.grp, '(none)')"
        where, args = self._created(start, end, join=_TAGS_JOIN if label == "tag" else "")
        sql = f"SELECT {name}, count(*) {where} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
        return [(str(k), _count(v)) for k, v in self.store.query(sql, [*args, limit])]

    def created_times(self, start: datetime, end: datetime) -> list[float]:
        """Creation times (epoch seconds) in [start, end): the raw material of recurring spikes."""
        where, args = self._created(start, end)
        return [float(r[0]) for r in self.store.query(f"SELECT t.created_at {where}", args)]  # type: ignore[arg-type]

    def created_with_tags(self, start: datetime, end: datetime) -> list[tuple[float, tuple[str, ...]]]:
        """(creation time in epoch seconds, tags) of each ticket created in [start, end): spikes and their cause."""
        where, args = self._created(start, end)
        rows = self.store.query(f"SELECT t.created_at, t.tags {where}", args)
        return [(float(at), tuple(json.loads(str(tags)))) for at, tags in rows]  # type: ignore[arg-type]

    def solved_ages(self, start: datetime, end: datetime) -> list[tuple[str, str, float]]:
        """(helpdesk, priority, hours from creation to solve) of each ticket solved in [start, end): the
        pace the oldest-first (FIFO) check compares the waiting tickets with."""
        rows = self.store.query(
            "SELECT status, helpdesk, priority, solved_at - created_at FROM tickets "
            "WHERE solved_at >= ? AND solved_at < ?",
            [start.timestamp(), end.timestamp()],
        )
        return [(str(h), str(p), float(cast(float, age)) / 3600) for s, h, p, age in rows if s in ("solved", "closed")]

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
            "SELECT status, helpdesk, priority, solved_at, sla FROM tickets WHERE solved_at >= ? AND solved_at < ?",
            [start.timestamp(), end.timestamp()],
        )
        return [
            SolvedSla(str(helpdesk), str(priority), sla_outcome(sla_json, float(solved_at)))  # type: ignore[arg-type]
            for status, helpdesk, priority, solved_at, sla_json in rows
            if status in ("solved", "closed")
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
