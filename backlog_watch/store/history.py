"""The KPI history: every KPI per helpdesk and per (helpdesk, group), stored by each evaluation.

Trend and forecast rules, reports and the dashboard's sparklines read it. API:

- ``History(store).record(now, values)``: store ``{scope: {metric: value}}`` at ``now`` (the daemon
  does it after each evaluation with ``kpis_by_scope(snapshot)``), then thin what has aged.
- ``History(store).series(metric, scope, since, until=None, step="day", tz=UTC)``: ``[(moment, value)]``,
  the last value of each step ("raw", "hour" or "day"; days are local days of ``tz``), oldest first.
- ``History(store).view(since)``: a ``HistoryView``, the rows since then in memory; it rides in the
  Snapshot so rules read history without I/O. ``daily_view(now, days)`` holds only the rows that
  ``daily`` reads (what the daemon uses: a few rows per scope, however often it evaluates).
  ``HistoryView.value_at(metric, scope, moment)`` is the last value at or before ``moment`` (None
  when there is none within a day before it);
  ``HistoryView.daily(metric, scope, now, days)`` the values 1..days days before now, oldest first.

A scope is a tuple of (label, value) pairs, e.g. ``(("helpdesk", "zendesk"),)`` or
``(("group", "Billing"), ("helpdesk", "zendesk"))``; ``scope_key`` sorts it, so order does not matter.

Rows follow time, not the evaluation rate: the last value of each 5 minutes for 2 days (an evaluation
overwrites its scope's row of the current 5 minutes, so evaluating on every change costs no rows), then
the last value of each hour for 30 days, then the last value of each day for 2 years; older rows are
dropped. Thinning runs on write, at most once per quarter of an hour (store/sqlite/history.py). One
row holds all KPIs of one scope at one moment (JSON): a scope has at most 576 + 672 + 700 rows, about
2,000, whatever the evaluation rate.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from backlog_watch.kpis import Scope
from backlog_watch.store import Store

Step = Literal["raw", "hour", "day"]

LOOKUP_GAP = timedelta(days=1)
"""value_at accepts a point at most this much older than the moment asked for."""


def scope_key(scope: Iterable[tuple[str, str]]) -> str:
    return json.dumps(sorted([list(pair) for pair in scope]), separators=(",", ":"))


def scope_of(key: str) -> Scope:
    return tuple((label, value) for label, value in json.loads(key))


class HistoryView:
    """History rows in memory, per scope, oldest first: what rules read (pure, no I/O)."""

    def __init__(self, rows: Mapping[str, Sequence[tuple[float, Mapping[str, float]]]] | None = None) -> None:
        self._rows = {key: sorted(points, key=lambda p: p[0]) for key, points in (rows or {}).items()}
        self._times = {key: [at for at, _ in points] for key, points in self._rows.items()}

    def value_at(self, metric: str, scope: Iterable[tuple[str, str]], moment: datetime) -> float | None:
        key = scope_key(scope)
        times = self._times.get(key)
        if not times:
            return None
        index = bisect.bisect_right(times, moment.timestamp()) - 1
        if index < 0 or moment.timestamp() - times[index] > LOOKUP_GAP.total_seconds():
            return None
        value = self._rows[key][index][1].get(metric)
        return float(value) if value is not None else None

    def daily(self, metric: str, scope: Iterable[tuple[str, str]], now: datetime, days: int) -> list[float | None]:
        """The values ``days``, ..., 2, 1 days before now (oldest first); None where there is none."""
        pairs = tuple(scope)
        return [self.value_at(metric, pairs, now - timedelta(days=i)) for i in range(days, 0, -1)]


class History:
    """The KPI history of a store (its table is created by the store's migrations)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, now: datetime, values: Mapping[Scope, Mapping[str, float]]) -> None:
        """Store the KPIs of each scope at ``now``, then thin the aged rows when it is time."""
        self.store.record_kpis(now, {scope_key(scope): kpi for scope, kpi in values.items()})

    def rows(self, since: datetime, until: datetime | None = None) -> dict[str, list[tuple[float, dict[str, float]]]]:
        return self.store.kpi_rows(since, until or datetime.max.replace(tzinfo=UTC))

    def view(self, since: datetime) -> HistoryView:
        return HistoryView(self.rows(since))

    def daily_view(self, now: datetime, days: int) -> HistoryView:
        """Only the points ``daily`` reads: per scope, the last row at or before now - i days, i = 1..days.

        What the daemon gives rules: a few rows per scope, however often it evaluates.
        """
        found: dict[str, list[tuple[float, dict[str, float]]]] = defaultdict(list)
        for i in range(1, days + 1):
            for key, point in self.store.kpis_at(now - timedelta(days=i), LOOKUP_GAP).items():
                found[key].append(point)
        return HistoryView(found)

    def series(
        self,
        metric: str,
        scope: Iterable[tuple[str, str]],
        since: datetime,
        until: datetime | None = None,
        step: Step = "day",
        tz: tzinfo = UTC,
    ) -> list[tuple[datetime, float]]:
        """The last value of ``metric`` in each step since ``since``, oldest first."""
        points = self.rows(since, until).get(scope_key(scope), [])
        buckets: dict[object, tuple[datetime, float]] = {}
        for at, values in points:
            if metric not in values:
                continue
            moment = datetime.fromtimestamp(at, UTC)
            local = moment.astimezone(tz)
            bucket = {"raw": at, "hour": local.replace(minute=0, second=0, microsecond=0), "day": local.date()}[step]
            buckets[bucket] = (moment, float(values[metric]))
        return list(buckets.values())

    def scopes(self) -> list[Scope]:
        return [scope_of(key) for key in self.store.kpi_scopes()]

    def count(self) -> int:
        return self.store.kpi_row_count()
