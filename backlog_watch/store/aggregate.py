"""The evaluation's queries: per-scope KPIs, ages, percentiles, SLA risk, inflow, in SQL over indexes.

``TicketAggregates`` answers ``models.TicketQuery`` for one snapshot (a moment, its helpdesks, how far
back solved tickets count), so rules never see one object per open ticket: only the few tickets an alert
lists are built (``listed``). Results are cached per question, so rules sharing a ``where`` and a
``group_by`` share one query.

The SQL is written once for any engine with window functions (SQLite >= 3.25, PostgreSQL): no JSON
functions (tags are rows of ``ticket_tags``), no engine-specific function, percentiles by
``ROW_NUMBER`` over a partition (the positions from a GROUP BY count), integer division of integers.
A store that can hand rows over as the engine yields them passes ``walk``: percentiles are then read
from one sorted scan instead (SQLite, whose window step costs more than the sort it needs).
Columns it reads beyond the original ones (``is_open``, ``sla_due``, ``sla_paused``, ``sla_breached``;
schema.py) are written by codec.ticket_row.

Dialect hook (``Dialect``): every statement is written with ``?`` placeholders and goes through
``_Statement.text``, the one place they become the engine's (``%s`` for psycopg); a store passes
``run(sql, args) -> rows`` and its dialect. The dialect may also name the index the open set and the
recently solved are read from (SQLite: ``INDEXED BY``, since its planner has no statistics on a store
nobody ANALYZEd and then prefers the primary key); PostgreSQL's planner needs no such hint, and its
store can create the same covering indexes (schema.py, migration 6) with ``INCLUDE`` columns.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar, cast

from backlog_watch.kpis import DAY, DEFAULT_HANDLE_HOURS, NO_GROUP, NO_TAG, UNASSIGNED, WEEK, Scope, days_to_clear
from backlog_watch.models import (
    Aged,
    Listing,
    Medians,
    Priority,
    SlaRisk,
    Ticket,
    TicketFilter,
)
from backlog_watch.store.codec import TicketCache, ticket_columns

R = TypeVar("R")
Run = Callable[[str, Sequence[object]], Sequence[Sequence[Any]]]
"""Execute one read statement and return its rows as sequences."""


class Walk(Protocol):
    """Execute one read statement and return ``visit`` of its rows, each handed over as the engine
    yields it (a scan of every open ticket, never a list of them)."""

    def __call__(self, sql: str, args: Sequence[object], visit: Callable[[Iterable[Sequence[Any]]], R]) -> R: ...


_LABELS = {
    "helpdesk": "t.helpdesk",
    "group": f"COALESCE(t.grp, '{NO_GROUP}')",
    "priority": "t.priority",
    "status": "t.status",
    "channel": "t.channel",
    "assignee": f"COALESCE(t.assignee, '{UNASSIGNED}')",
    "tag": f"COALESCE(g.tag, '{NO_TAG}')",
}
_COLUMNS = {
    "helpdesk": "t.helpdesk",
    "group": "t.grp",
    "priority": "t.priority",
    "status": "t.status",
    "channel": "t.channel",
    "assignee": "t.assignee",
    "tag": "g.tag",
}
"""The column under each label (``_LABELS`` names its NULL)."""
_INDEX_ORDER = ("t.helpdesk", "t.grp", "t.priority", "t.status", "t.assignee", "t.channel", "g.tag")
"""The order of the labels' columns in the open set's index (schema.py, tickets_open)."""
_FILTER_COLUMNS = {
    "helpdesk": "t.helpdesk",
    "status": "t.status",
    "priority": "t.priority",
    "channel": "t.channel",
    "group": "t.grp",
    "assignee": "t.assignee",
}
_INLINE = 16
"""Values of a long list (``any_of(many=True)``) written inline at most; more are one argument."""
_MANY = "IN (?many)"
"""Where a long list goes in a statement being built, until ``render`` spells it for the dialect."""
_TAG_JOIN = " LEFT JOIN ticket_tags g ON g.helpdesk = t.helpdesk AND g.id = t.id"
FEW_SCOPES = 8
"""Up to this many firing scopes, a rule's listing is one ORDER BY ... LIMIT query per scope, a top-N
that never sorts the whole scope; past it, ONE ranked statement (``listed_by_scope``): a rule firing in
a thousand helpdesks would otherwise take a thousand queries."""
_BATCH = 500
"""Ids per ``IN (...)`` when reading listed tickets (SQLite allows 32766 parameters, PostgreSQL 65535)."""
_TAGGED = "SELECT 1 FROM ticket_tags s WHERE s.helpdesk = t.helpdesk AND s.id = t.id"
_SOLVED = "t.status IN ('solved', 'closed')"
_RANK = "CASE t.priority " + " ".join(f"WHEN '{p.value}' THEN {p.rank}" for p in Priority) + " END"
_ORDER = {
    "urgent": f"{_RANK}, t.created_at",
    "created_at": f"t.created_at, {_RANK}",
    "updated_at": f"t.updated_at, {_RANK}",
    "due": "t.sla_due",
    "newest": "t.created_at DESC",
}
_TICKET = ticket_columns("t")


def _count(value: Any) -> int:
    """A SUM cell: NULL over no row."""
    return int(value or 0)


@dataclass
class _Statement:
    """One statement being built: its text with ``?`` placeholders and their arguments, in order."""

    parts: list[str] = field(default_factory=list)
    args: list[object] = field(default_factory=list)

    def add(self, sql: str, *args: object) -> _Statement:
        self.parts.append(sql)
        self.args.extend(args)
        return self

    def any_of(self, column: str, values: Iterable[object], *, many: bool = False) -> _Statement:
        """``column`` is one of ``values``. With ``many`` (a list that may run to thousands: the snapshot's
        helpdesks) and more than ``_INLINE`` of them, they are one argument the dialect spells
        (``Dialect.many``): a statement with a thousand placeholders costs the driver more to send
        than the engine to run (psycopg parses every statement longer than its cache takes)."""
        listed = list(values)
        if not listed:
            return self.add(" AND 1 = 0")
        if many and len(listed) > _INLINE:
            return self.add(f" AND {column} {_MANY}", _Many(tuple(listed)))
        return self.add(f" AND {column} IN ({', '.join('?' * len(listed))})", *listed)

    def extend(self, other: _Statement) -> _Statement:
        self.parts.extend(other.parts)
        self.args.extend(other.args)
        return self

    def render(self, dialect: Dialect) -> tuple[str, list[object]]:
        """The statement's text in the dialect's placeholders, and its arguments."""
        sql, args = "".join(self.parts), self.args
        if any(isinstance(a, _Many) for a in args):
            spelled: list[object] = []
            for arg in args:
                if isinstance(arg, _Many) and dialect.many is None:
                    sql = sql.replace(_MANY, f"IN ({', '.join('?' * len(arg.values))})", 1)
                    spelled.extend(arg.values)
                elif isinstance(arg, _Many):
                    sql = sql.replace(_MANY, str(dialect.many), 1)
                    spelled.append(json.dumps(arg.values) if dialect.many_as_json else list(arg.values))
                else:
                    spelled.append(arg)
            args = spelled
        return (sql if dialect.placeholder == "?" else sql.replace("?", dialect.placeholder)), args


@dataclass(frozen=True)
class _Many:
    """The values of a long ``any_of`` list, passed as one argument."""

    values: tuple[object, ...]


@dataclass(frozen=True)
class Dialect:
    """What differs between engines: the placeholder, and the index each part is read from where the
    planner cannot be trusted to find it (SQLite has no statistics on a store nobody ANALYZEd, and there
    prefers the primary key to a covering index when several helpdesks are asked for)."""

    placeholder: str = "?"
    open_index: str = ""
    solved_index: str = ""
    many: str | None = None
    """How ``column`` is one of a list given as one argument: None spells the list inline."""
    many_as_json: bool = False
    """Whether that argument is a JSON array (SQLite's json_each), else a list (a PostgreSQL array)."""


SQLITE = Dialect(
    "?", " INDEXED BY tickets_open", " INDEXED BY tickets_solved", "IN (SELECT value FROM json_each(?))", True
)
POSTGRESQL = Dialect(many="= ANY(?)")
Part = Literal["open", "solved", "universe", "created"]
"""The open tickets, those solved within the window, or both (what the snapshot holds); or every ticket
open or solved however long ago (``created_in``: the inflow of past weeks, whatever the solved window)."""
_PARTS: tuple[Part, Part] = ("open", "solved")
"""The snapshot in two parts, each read from its own covering index (one OR would read table rows)."""


class TicketAggregates:
    """``TicketQuery`` over the tickets table at ``now``: open tickets of ``helpdesks``, and those solved
    since ``solved_since``."""

    def __init__(
        self,
        run: Run,
        now: datetime,
        helpdesks: Sequence[str],
        solved_since: datetime,
        dialect: Dialect = Dialect(),
        tickets: TicketCache | None = None,
        walk: Walk | None = None,
    ) -> None:
        self._run_sql = run
        self._walk = walk
        """Given (SQLite), percentiles and many-scope listings are read from sorted scans: ``_walked``."""
        self._tickets = tickets or TicketCache()
        """The tickets built so far, from the rows listed (the store's, kept from one evaluation to the next)."""
        self.now = now
        self.helpdesks = tuple(helpdesks)
        self.solved_since = solved_since
        self.dialect = dialect
        self._cache: dict[tuple[object, ...], Any] = {}

    # -- the building blocks ---------------------------------------------------------------------------

    def _rows(self, statement: _Statement) -> Sequence[Sequence[Any]]:
        return self._run_sql(*statement.render(self.dialect))

    def _memo(self, key: tuple[object, ...], compute: Callable[[], R]) -> R:
        """One query per question and snapshot: rules asking the same share its answer."""
        if key not in self._cache:
            self._cache[key] = compute()
        return cast(R, self._cache[key])

    def _select(
        self,
        part: Part,
        where: TicketFilter,
        group_by: Sequence[str],
        columns: str,
        *args: object,
        helpdesks: Sequence[str] | None = None,
    ) -> _Statement:
        """SELECT the scope's labels and ``columns`` (their placeholders filled by ``args``) of ``part``."""
        labels = "".join(f"{_LABELS[label]}, " for label in group_by)
        found = self._where(part, where, group_by, helpdesks)
        return _Statement().add(f"SELECT {labels}{columns}", *args).extend(found)

    def _where(
        self, part: Part, where: TicketFilter, group_by: Sequence[str] = (), helpdesks: Sequence[str] | None = None
    ) -> _Statement:
        """FROM ... WHERE: the tickets of ``part`` that match ``where`` (joined to their tags to group by tag),
        of the snapshot's helpdesks, or of ``helpdesks`` (those of them one scope names)."""
        hint = {"open": self.dialect.open_index, "solved": self.dialect.solved_index}.get(part, "")
        statement = _Statement().add(f" FROM tickets t{hint}{_TAG_JOIN if 'tag' in group_by else ''} WHERE 1 = 1")
        since = self.solved_since.timestamp()
        if part == "open":
            statement.add(" AND t.is_open = 1")
        elif part == "solved":
            statement.add(f" AND {_SOLVED} AND t.solved_at >= ?", since)
        elif part == "created":
            statement.add(f" AND (t.is_open = 1 OR {_SOLVED})")
        else:
            statement.add(f" AND (t.is_open = 1 OR ({_SOLVED} AND t.solved_at >= ?))", since)
        helpdesks = self.helpdesks if helpdesks is None else helpdesks
        return self._filter(statement.any_of("t.helpdesk", helpdesks, many=True), where)

    @staticmethod
    def _filter(statement: _Statement, where: TicketFilter) -> _Statement:
        for name, column in _FILTER_COLUMNS.items():
            values = getattr(where, name)
            if values is not None:
                statement.any_of(column, values)
        if where.tags is not None:
            statement.add(" AND EXISTS (SELECT 1 FROM ticket_tags w WHERE w.helpdesk = t.helpdesk AND w.id = t.id")
            statement.any_of("w.tag", where.tags).add(")")
        if where.assigned is not None:
            statement.add(f" AND t.assignee IS {'NOT ' if where.assigned else ''}NULL")
        return statement

    @staticmethod
    def _grouped(statement: _Statement, group_by: Sequence[str]) -> _Statement:
        """GROUP BY the plain columns (a NULL group is one group), in the open index's order where it has them,
        so the engine aggregates as it reads instead of sorting."""
        columns = sorted((_COLUMNS[label] for label in group_by), key=_INDEX_ORDER.index)
        return statement.add(f" GROUP BY {', '.join(columns)}") if columns else statement

    def _by_scope(self, statement: _Statement, group_by: Sequence[str]) -> Iterable[tuple[Scope, Sequence[Any]]]:
        width = len(group_by)
        for row in self._rows(statement):
            yield tuple(zip(group_by, (str(v) for v in row[:width]), strict=True)), row[width:]

    def _ranks(
        self,
        part: _Statement,
        group_by: Sequence[str],
        value: str,
        quantiles: Sequence[int],
        counts: Mapping[Scope, int] | None = None,
    ) -> dict[Scope, tuple[int, dict[int, float]]]:
        """Per scope of ``part`` (the FROM ... WHERE of the tickets to rank), their count and the inclusive
        quantiles (statistics.quantiles' method) of ``value``. With a ``walk`` (SQLite): ``_walked``.
        Else a GROUP BY counts each scope (unless ``counts`` already says), which gives the positions each
        quantile lies between; ROW_NUMBER over the partition numbers the rows, and only those at a wanted
        position leave the database."""
        if self._walk is not None:
            return self._walked(part, group_by, value, quantiles)
        labels = [_LABELS[label] for label in group_by]
        if counts is None:
            counting = _Statement().add(f"SELECT {''.join(f'{c}, ' for c in labels)}COUNT(*)").extend(part)
            counts = {scope: int(n) for scope, (n,) in self._by_scope(self._grouped(counting, group_by), group_by)}
        wanted = {scope: _positions(n, quantiles) for scope, n in counts.items()}
        positions = sorted(set().union(*wanted.values()))
        if not positions:
            return {}
        partition = f"PARTITION BY {', '.join(_COLUMNS[label] for label in group_by)} " if labels else ""
        columns = "".join(f"{c} AS l{i}, " for i, c in enumerate(labels))
        aliases = "".join(f"l{i}, " for i in range(len(labels)))
        statement = _Statement().add(
            f"SELECT {aliases}rn, v FROM (SELECT {columns}{value} AS v, "
            f"ROW_NUMBER() OVER ({partition}ORDER BY {value}) AS rn"
        )
        statement.extend(part).add(") ranked WHERE 1 = 1").any_of("rn", positions)
        picked: dict[Scope, dict[int, float]] = {}
        for scope, (rn, v) in self._by_scope(statement, group_by):
            if int(rn) in wanted[scope]:
                picked.setdefault(scope, {})[int(rn)] = float(v)
        return {
            scope: (counts[scope], {q: _quantile(rows, counts[scope], q) for q in quantiles})
            for scope, rows in picked.items()
        }

    def _walked(
        self, part: _Statement, group_by: Sequence[str], value: str, quantiles: Sequence[int]
    ) -> dict[Scope, tuple[int, dict[int, float]]]:
        """``_ranks`` from ONE scan sorted by scope and value, with no count before it: each scope's values
        arrive in order and only the scope being read is held (a float a ticket), its quantiles taken when
        the next begins. On SQLite the window step and its filter cost twice the sort they need (100k open
        tickets: 0.30-0.38 s a ranking, 0.15-0.20 s so, the GROUP BY count saved besides)."""
        labels = "".join(f"{_LABELS[label]}, " for label in group_by)
        columns = ", ".join(_COLUMNS[label] for label in group_by)
        statement = _Statement().add(f"SELECT {labels}{value} AS v").extend(part)
        statement.add(f" ORDER BY {columns + ', ' if columns else ''}v")
        width = len(group_by)

        def visit(rows: Iterable[Sequence[Any]]) -> dict[Scope, tuple[int, dict[int, float]]]:
            found: dict[Scope, tuple[int, dict[int, float]]] = {}
            for scope, run in _scopes(rows, group_by):
                values = [row[width] for row in run]
                n = len(values)
                at = {position: float(values[position - 1]) for position in _positions(n, quantiles)}
                found[scope] = (n, {q: _quantile(at, n, q) for q in quantiles})
            return found

        assert self._walk is not None
        return self._walk(*statement.render(self.dialect), visit)

    # -- TicketQuery -----------------------------------------------------------------------------------

    def kpis(
        self, where: TicketFilter, group_by: Sequence[str], handle_hours: Mapping[str, float], percentiles: bool = True
    ) -> dict[Scope, dict[str, float]]:
        """Every KPI per scope: one GROUP BY over the open set, one over the solved in the window, and
        (``percentiles``) one ranking of the open tickets by age."""
        key = tuple(group_by)
        hours = tuple(sorted(handle_hours.items()))
        backlog: dict[Scope, Sequence[Any]] = self._memo(
            ("open", where, key, hours), lambda: self._backlog(where, key, hours)
        )
        flow: dict[Scope, Sequence[Any]] = self._memo(("flow", where, key), lambda: self._flow(where, key))
        ages: dict[Scope, tuple[int, dict[int, float]]] = {}
        if percentiles:
            ages = self._memo(
                ("ages", where, key),
                lambda: self._ranks(
                    self._where("open", where, key),
                    key,
                    "-t.created_at",
                    (50, 90),
                    {scope: int(row[0]) for scope, row in backlog.items()},
                ),
            )
        return {
            scope: self._scope_kpis(backlog.get(scope), flow.get(scope), ages.get(scope))
            for scope in sorted(set(backlog) | set(flow))
        }

    def _backlog(
        self, where: TicketFilter, group_by: tuple[str, ...], hours: tuple[tuple[str, float], ...]
    ) -> dict[Scope, Sequence[Any]]:
        """Per scope of open tickets: count, unassigned, pending, on hold, sum and min of created_at,
        created in 24h, SLA breached, SLA due within 1h, workload hours."""
        now = self._now
        # hours are floats from the config, written as literals: an engine cannot type a bare parameter
        workload = "".join(f" WHEN ? THEN {float(h)!r}" for _, h in hours)
        workload = (
            f"CASE t.helpdesk{workload} ELSE {DEFAULT_HANDLE_HOURS!r} END" if hours else repr(DEFAULT_HANDLE_HOURS)
        )
        statement = self._select(
            "open",
            where,
            group_by,
            "COUNT(*), SUM(CASE WHEN t.assignee IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.status = 'pending' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.status = 'on_hold' THEN 1 ELSE 0 END), SUM(t.created_at), MIN(t.created_at), "
            "SUM(CASE WHEN t.created_at > ? AND t.created_at <= ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.sla_breached = 1 OR (t.sla_due <= ? AND t.sla_paused = 0) THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.sla_paused = 0 AND t.sla_due > ? AND t.sla_due <= ? THEN 1 ELSE 0 END), "
            f"SUM({workload})",
            *(now - DAY.total_seconds(), now, now, now, now + 3600),
            *(name for name, _ in hours),
        )
        return dict(self._by_scope(self._grouped(statement, group_by), group_by))

    def _flow(self, where: TicketFilter, group_by: tuple[str, ...]) -> dict[Scope, Sequence[Any]]:
        """Per scope of the solved in the window: count, created in 24h, solved in 24h, solved in 7 days."""
        now = self._now
        statement = self._select(
            "solved",
            where,
            group_by,
            "COUNT(*), SUM(CASE WHEN t.created_at > ? AND t.created_at <= ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.solved_at > ? AND t.solved_at <= ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.solved_at > ? AND t.solved_at <= ? THEN 1 ELSE 0 END)",
            *(now - DAY.total_seconds(), now, now - DAY.total_seconds(), now, now - WEEK.total_seconds(), now),
        )
        return dict(self._by_scope(self._grouped(statement, group_by), group_by))

    def _scope_kpis(
        self, backlog: Sequence[Any] | None, flow: Sequence[Any] | None, ages: tuple[int, dict[int, float]] | None
    ) -> dict[str, float]:
        now = self._now
        opened, unassigned, pending, on_hold, created_sum, oldest, created_open, breached, due_1h, workload = (
            backlog or (0, 0, 0, 0, 0.0, 0.0, 0, 0, 0, 0.0)
        )
        _, created_solved, resolved, resolved_7d = (_count(v) for v in flow or (0, 0, 0, 0))
        created = _count(created_open) + created_solved
        quantiles = ages[1] if ages else {}
        return {
            "open_tickets": float(opened),
            "unassigned_tickets": float(_count(unassigned)),
            "pending_tickets": float(_count(pending)),
            "on_hold_tickets": float(_count(on_hold)),
            "age_avg_hours": (now - created_sum / opened) / 3600 if opened else 0.0,
            "age_p50_hours": (now + quantiles[50]) / 3600 if 50 in quantiles else 0.0,
            "age_p90_hours": (now + quantiles[90]) / 3600 if 90 in quantiles else 0.0,
            "age_max_hours": (now - oldest) / 3600 if opened else 0.0,
            "created_24h": float(created),
            "resolved_24h": float(resolved),
            "net_flow_24h": float(created - resolved),
            "resolved_per_day_7d": resolved_7d / 7,
            "days_to_clear": days_to_clear(int(opened), resolved_7d),
            "workload_hours": float(workload or 0.0),
            "sla_breached": float(_count(breached)),
            "sla_due_1h": float(_count(due_1h)),
        }

    def aged(self, where: TicketFilter, group_by: Sequence[str], field: str, before: datetime) -> dict[Scope, Aged]:
        column = _time_column(field)
        key = ("aged", where, tuple(group_by), column, before)
        return self._memo(key, lambda: self._aged(where, group_by, column, before.timestamp()))

    def _aged(self, where: TicketFilter, group_by: Sequence[str], column: str, before: float) -> dict[Scope, Aged]:
        columns = f"COUNT(*), SUM(CASE WHEN {column} < ? THEN 1 ELSE 0 END), MIN({column})"
        statement = self._grouped(self._select("open", where, group_by, columns, before), group_by)
        found = {}
        for scope, (in_scope, aged, oldest) in self._by_scope(statement, group_by):
            count = _count(aged)
            found[scope] = Aged(int(in_scope), count, _moment(oldest) if count else None)
        return found

    def sla_risk(
        self, where: TicketFilter, group_by: Sequence[str], critical_by: datetime | None, warn_by: datetime | None
    ) -> dict[Scope, SlaRisk]:
        key = ("sla", where, tuple(group_by), critical_by, warn_by)
        return self._memo(key, lambda: self._sla_risk(where, group_by, critical_by, warn_by))

    def _sla_risk(
        self, where: TicketFilter, group_by: Sequence[str], critical_by: datetime | None, warn_by: datetime | None
    ) -> dict[Scope, SlaRisk]:
        now = self._now
        # each ticket counts once, at its worst: breached, else critical, else warn
        critical = critical_by.timestamp() if critical_by is not None else now
        warn = warn_by.timestamp() if warn_by is not None else now
        statement = self._select(
            "open",
            where,
            group_by,
            "COUNT(*), SUM(CASE WHEN t.sla_breached = 1 OR t.sla_due <= ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.sla_breached = 0 AND t.sla_due > ? AND t.sla_due <= ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.sla_breached = 0 AND t.sla_due > ? AND t.sla_due <= ? THEN 1 ELSE 0 END)",
            *(now, now, critical, max(now, critical), warn),
        )
        self._grouped(statement.add(" AND t.sla_paused = 0 AND t.sla_due IS NOT NULL"), group_by)
        return {
            scope: SlaRisk(int(tracked), _count(breached), _count(crit), _count(warned))
            for scope, (tracked, breached, crit, warned) in self._by_scope(statement, group_by)
        }

    def inflow(
        self, where: TicketFilter, group_by: Sequence[str], since: datetime, split: datetime
    ) -> dict[Scope, tuple[int, int]]:
        key = ("inflow", where, tuple(group_by), since, split)
        return self._memo(key, lambda: self._inflow(where, group_by, since.timestamp(), split.timestamp()))

    def _inflow(
        self, where: TicketFilter, group_by: Sequence[str], since: float, split: float
    ) -> dict[Scope, tuple[int, int]]:
        found: dict[Scope, tuple[int, int]] = {}
        for part in _PARTS:
            statement = self._select(
                part,
                where,
                group_by,
                "SUM(CASE WHEN t.created_at <= ? THEN 1 ELSE 0 END), SUM(CASE WHEN t.created_at > ? THEN 1 ELSE 0 END)",
                split,
                split,
            ).add(" AND t.created_at > ? AND t.created_at <= ?", since, self._now)
            for scope, (before, after) in self._by_scope(self._grouped(statement, group_by), group_by):
                counted = found.get(scope, (0, 0))
                found[scope] = (counted[0] + _count(before), counted[1] + _count(after))
        return found

    def created_in(
        self,
        where: TicketFilter,
        group_by: Sequence[str],
        windows: Sequence[tuple[datetime, datetime]],
        scope: Scope | None = None,
    ) -> dict[Scope, tuple[int, ...]]:
        key = ("created_in", where, tuple(group_by), tuple(windows), scope)
        return self._memo(key, lambda: self._created_in(where, tuple(group_by), tuple(windows), scope))

    def _created_in(
        self,
        where: TicketFilter,
        group_by: tuple[str, ...],
        windows: tuple[tuple[datetime, datetime], ...],
        scope: Scope | None,
    ) -> dict[Scope, tuple[int, ...]]:
        """One statement per window, each a range of the (helpdesk, created_at) index: weeks apart, one
        range over all of them would read every ticket in between. With ``scope``, only its tickets are
        read (a tag's tickets carry other tags too: only the scope asked for is kept)."""
        found: dict[Scope, list[int]] = {}
        for i, (start, end) in enumerate(windows):
            statement = self._select("created", where, group_by, "COUNT(*)")
            statement.add(" AND t.created_at > ? AND t.created_at <= ?", start.timestamp(), end.timestamp())
            if scope is not None:
                self._in_scope(statement, scope)
            for found_scope, (counted,) in self._by_scope(self._grouped(statement, group_by), group_by):
                if scope is None or found_scope == scope:
                    found.setdefault(found_scope, [0] * len(windows))[i] = int(counted)
        return {found_scope: tuple(counts) for found_scope, counts in found.items()}

    def first_created(self) -> dict[str, datetime]:
        return self._memo(("first",), self._first_created)

    def _first_created(self) -> dict[str, datetime]:
        """One row, a column per helpdesk: each a MIN the (helpdesk, created_at) index answers at once (a
        GROUP BY would read the whole index)."""
        found: dict[str, datetime] = {}
        for start in range(0, len(self.helpdesks), _BATCH):
            names = self.helpdesks[start : start + _BATCH]
            first = "(SELECT MIN(t.created_at) FROM tickets t WHERE t.helpdesk = ?)"
            (row,) = self._rows(_Statement().add(f"SELECT {', '.join([first] * len(names))}", *names))
            found.update({name: _moment(value) for name, value in zip(names, row, strict=True) if value is not None})
        return found

    def last_created(self, where: TicketFilter, group_by: Sequence[str]) -> dict[Scope, datetime]:
        return self._memo(("last", where, tuple(group_by)), lambda: self._last_created(where, group_by))

    def _last_created(self, where: TicketFilter, group_by: Sequence[str]) -> dict[Scope, datetime]:
        found: dict[Scope, float] = {}
        for part in _PARTS:
            statement = self._grouped(self._select(part, where, group_by, "MAX(t.created_at)"), group_by)
            for scope, (last,) in self._by_scope(statement, group_by):
                found[scope] = max(float(last), found.get(scope, float(last)))
        return {scope: _moment(last) for scope, last in found.items()}

    def medians(self, where: TicketFilter, group_by: Sequence[str], solved_since: datetime) -> dict[Scope, Medians]:
        key = ("medians", where, tuple(group_by), solved_since)
        return self._memo(key, lambda: self._medians(where, group_by, solved_since.timestamp()))

    def _medians(self, where: TicketFilter, group_by: Sequence[str], solved_since: float) -> dict[Scope, Medians]:
        solved_part = self._where("solved", where, group_by)
        solved_part.add(" AND t.solved_at > ? AND t.solved_at <= ?", solved_since, self._now)
        solved = self._ranks(solved_part, group_by, "t.solved_at - t.created_at", (50,))
        waiting = self._ranks(self._where("open", where, group_by), group_by, "t.created_at", (50,))
        found = {}
        for scope in set(solved) | set(waiting):
            done, done_age = solved.get(scope, (0, {}))
            left, left_created = waiting.get(scope, (0, {}))
            found[scope] = Medians(
                done,
                timedelta(seconds=done_age[50]) if done else None,
                left,
                _moment(left_created[50]) if left else None,
            )
        return found

    def listed(self, where: TicketFilter, scope: Scope, listing: Listing, limit: int | None) -> list[Ticket]:
        """The keys first, ordered from the covering indexes alone; then only those rows, by primary key
        (sorting whole rows would read a table row for every ticket of the scope)."""
        statement = self._listing("t.helpdesk, t.id", where, scope, listing)
        statement.add(f" ORDER BY {_ORDER[listing.order]}, t.helpdesk, t.id")
        if limit is not None:
            statement.add(" LIMIT ?", limit)
        keys = [(str(h), str(i)) for h, i in self._rows(statement)]
        found = self._by_key(keys)
        return [found[key] for key in keys]

    def _by_key(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Ticket]:
        """The tickets of these (helpdesk, id) keys, read by primary key ``_BATCH`` at a time."""
        found: dict[tuple[str, str], Ticket] = {}
        by_helpdesk: dict[str, dict[str, None]] = {}  # one pass: a list per helpdesk was quadratic at 500
        for helpdesk, id_ in keys:
            by_helpdesk.setdefault(helpdesk, {})[id_] = None
        for helpdesk, named in by_helpdesk.items():
            ids = list(named)
            for start in range(0, len(ids), _BATCH):
                rows = _Statement().add(f"SELECT {_TICKET} FROM tickets t WHERE t.helpdesk = ?", helpdesk)
                for row in self._rows(rows.any_of("t.id", ids[start : start + _BATCH])):
                    found[(str(row[0]), str(row[1]))] = self._tickets.ticket(row)
        return found

    def listed_by_scope(
        self, where: TicketFilter, group_by: Sequence[str], scopes: Iterable[Scope], listing: Listing, limit: int | None
    ) -> dict[Scope, list[Ticket]]:
        """``listed`` for many scopes of one ``group_by`` in ONE statement: the keys of each scope ranked
        from the covering indexes (ROW_NUMBER over its partition, the order ``listed`` takes), then only
        the first ``limit`` of each joined to their rows. A rule firing in a thousand helpdesks lists them
        with one query, not two per helpdesk. Tags partition as ``_in_scope`` selects: a ticket is in the
        scope of each of its tags, an untagged one in "(no tag)". A few scopes (``FEW_SCOPES``) are each
        listed alone: ranking a whole partition sorts every ticket of it, where ``listed``'s ORDER BY ...
        LIMIT keeps only the first ``limit`` (at 100k open / 1M stored, an evaluation of the contract's
        12 rules took 3.3 s with every listing ranked, 1.6 s with its few scopes listed alone)."""
        wanted = set(scopes)
        if not wanted:
            return {}
        if len(wanted) <= FEW_SCOPES:
            return {scope: alone for scope in wanted if (alone := self.listed(where, scope, listing, limit))}
        named = {value for scope in wanted for label, value in scope if label == "helpdesk"}
        helpdesks = [h for h in self.helpdesks if h in named] if "helpdesk" in group_by else None
        part = self._where("open" if listing.open_only else "universe", where, group_by, helpdesks)
        if self._walk is not None:
            return self._walked_listing(self._listing_filter(part, listing), group_by, wanted, listing, limit)
        labels = [_LABELS[label] for label in group_by]
        partition = f"PARTITION BY {', '.join(_COLUMNS[label] for label in group_by)} " if labels else ""
        columns = "".join(f"{c} AS l{i}, " for i, c in enumerate(labels))
        ranked = _Statement().add(
            f"SELECT {columns}t.helpdesk AS kh, t.id AS ki, "
            f"ROW_NUMBER() OVER ({partition}ORDER BY {_ORDER[listing.order]}, t.helpdesk, t.id) AS rn"
        )
        ranked.extend(self._listing_filter(part, listing))
        aliases = "".join(f"k.l{i}, " for i in range(len(labels)))
        statement = _Statement().add(f"SELECT {aliases}k.rn, {_TICKET} FROM (").extend(ranked)
        statement.add(") k JOIN tickets t ON t.helpdesk = k.kh AND t.id = k.ki WHERE 1 = 1")
        if limit is not None:
            statement.add(" AND k.rn <= ?", limit)
        found: dict[Scope, list[tuple[int, Ticket]]] = {}
        width = len(group_by)
        for row in self._rows(statement):
            scope: Scope = tuple(zip(group_by, (str(v) for v in row[:width]), strict=True))
            if scope in wanted:
                found.setdefault(scope, []).append((int(row[width]), self._tickets.ticket(row[width + 1 :])))
        return {scope: [t for _, t in sorted(pairs, key=lambda p: p[0])] for scope, pairs in found.items()}

    def _walked_listing(
        self, part: _Statement, group_by: Sequence[str], wanted: set[Scope], listing: Listing, limit: int | None
    ) -> dict[Scope, list[Ticket]]:
        """``listed_by_scope`` from ONE scan of the keys sorted by scope and the listing's order (SQLite, as
        ``_walked``): the first ``limit`` keys of each wanted scope are kept as they pass, then only their
        rows are read. The window step it replaces cost more than the sort."""
        labels = "".join(f"{_LABELS[label]}, " for label in group_by)
        columns = "".join(f"{_COLUMNS[label]}, " for label in group_by)
        statement = _Statement().add(f"SELECT {labels}t.helpdesk, t.id").extend(part)
        statement.add(f" ORDER BY {columns}{_ORDER[listing.order]}, t.helpdesk, t.id")
        width = len(group_by)

        def visit(rows: Iterable[Sequence[Any]]) -> dict[Scope, list[tuple[str, str]]]:
            return {
                scope: [(str(row[width]), str(row[width + 1])) for row in itertools.islice(run, limit)]
                for scope, run in _scopes(rows, group_by)
                if scope in wanted
            }

        assert self._walk is not None
        keys = self._walk(*statement.render(self.dialect), visit)
        found = self._by_key([key for listed in keys.values() for key in listed])
        return {scope: [found[key] for key in listed] for scope, listed in keys.items() if listed}

    def count(self, where: TicketFilter, scope: Scope, listing: Listing) -> int:
        statement = self._listing("COUNT(*)", where, scope, listing)
        return _count(self._rows(statement)[0][0])

    def _listing(self, columns: str, where: TicketFilter, scope: Scope, listing: Listing) -> _Statement:
        """SELECT ``columns`` of the tickets of one scope a listing takes (labels compare plain columns:
        ``_in_scope``). A scope that names its helpdesk compares only that one: a list of every helpdesk of
        the snapshot beside it let SQLite probe the index once per helpdesk, which made 500 helpdesks'
        listings quadratic."""
        named = [value for label, value in scope if label == "helpdesk"]
        helpdesks = [h for h in self.helpdesks if h in named] if named else None
        statement = self._in_scope(
            self._select("open" if listing.open_only else "universe", where, (), columns, helpdesks=helpdesks), scope
        )
        return self._listing_filter(statement, listing)

    def _listing_filter(self, statement: _Statement, listing: Listing) -> _Statement:
        """The conditions of a listing beyond its part: before a moment, created since, SLA at risk."""
        if listing.before is not None:
            statement.add(f" AND {_time_column(listing.order)} < ?", listing.before.timestamp())
        if listing.created_after is not None:
            statement.add(" AND t.created_at > ? AND t.created_at <= ?", listing.created_after.timestamp(), self._now)
        if listing.at_risk_by is not None:
            statement.add(
                " AND t.sla_paused = 0 AND t.sla_due IS NOT NULL AND (t.sla_breached = 1 OR t.sla_due <= ?)",
                listing.at_risk_by.timestamp(),
            )
        return statement

    @staticmethod
    def _in_scope(statement: _Statement, scope: Scope) -> _Statement:
        """Only the tickets of one scope. Labels compare plain columns (NULL for the "(none)" values), so
        the indexes find the scope."""
        for label, value in scope:
            if label == "tag" and value == NO_TAG:
                statement.add(f" AND NOT EXISTS ({_TAGGED})")
            elif label == "tag":
                statement.add(f" AND EXISTS ({_TAGGED} AND s.tag = ?)", value)
            elif (label, value) in (("group", NO_GROUP), ("assignee", UNASSIGNED)):
                statement.add(f" AND {_FILTER_COLUMNS[label]} IS NULL")
            else:
                statement.add(f" AND {_FILTER_COLUMNS[label]} = ?", value)
        return statement

    @property
    def _now(self) -> float:
        return self.now.timestamp()


def _time_column(field: str) -> str:
    if field not in ("created_at", "updated_at"):
        raise ValueError(f"not a time column of a ticket: {field!r}")
    return f"t.{field}"


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def _scopes(rows: Iterable[Sequence[Any]], group_by: Sequence[str]) -> Iterator[tuple[Scope, Iterator[Sequence[Any]]]]:
    """The runs of rows sorted by scope (their first ``len(group_by)`` columns), each with its scope: the
    walks' one pass over a sorted scan. A run not read to its end is skipped by the next."""
    width = len(group_by)
    for key, run in itertools.groupby(rows, key=lambda row: tuple(row[:width])):
        yield tuple(zip(group_by, (str(v) for v in key), strict=True)), run


def _positions(n: int, quantiles: Iterable[int]) -> set[int]:
    """The row numbers (from 1) each inclusive quantile of ``n`` ordered values lies between."""
    if n == 1:
        return {1}
    return {j + k for q in quantiles for j in [q * (n - 1) // 100] for k in (1, 2)}


def _quantile(rows: Mapping[int, float], n: int, q: int) -> float:
    """The inclusive quantile ``q`` (percent) of ``n`` ordered values, from the rows numbered around it."""
    if n == 1:
        return rows[1]
    j, delta = divmod(q * (n - 1), 100)
    return (rows[j + 1] * (100 - delta) + rows[j + 2] * delta) / 100
