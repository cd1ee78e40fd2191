"""The SQL of the KPI history table, each function run inside the caller's transaction or lock.

One row holds all KPIs of one scope at one moment (JSON). Rows are bounded by time, not by how often
the daemon evaluates: the newest tier keeps one row per scope per ``RECENT_BUCKET`` (5 minutes), a
record overwriting the scope's row of its bucket, for 2 days; then the last row of each hour for 30
days, then of each day for 2 years; older rows are dropped. Thinning runs on write, at most once per
quarter of an hour.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

RECENT_BUCKET = 300
"""Seconds of the newest tier's buckets: at most 12 rows per scope per hour at any evaluation rate, and
still the resolution the hourly tier, value_at and the forecasts read (an hour or a day)."""
TIERS: tuple[tuple[timedelta, timedelta, int], ...] = (
    (timedelta(days=2), timedelta(days=30), 3600),
    (timedelta(days=30), timedelta(days=730), 86400),
)
"""(kept raw until this age, thinned to one row per bucket until that age, bucket seconds)."""
RETENTION = timedelta(days=730)
THIN_EVERY = 900.0

KpiRows = dict[str, list[tuple[float, dict[str, float]]]]
"""Per scope key, (epoch seconds, {metric: value}) oldest first."""


def record(db: sqlite3.Connection, now: datetime, values: Mapping[str, Mapping[str, float]]) -> None:
    """Each scope's row at now, in place of its row of the same recent bucket."""
    at = now.timestamp()
    last = db.execute("SELECT max(at) FROM history").fetchone()[0]
    bucket = at - at % RECENT_BUCKET
    # One statement over the bucket (a DELETE per scope scanned the bucket's rows once per scope: quadratic
    # in the scopes, 6 of the 25 s of an evaluation of 1,000 helpdesks).
    db.execute(
        "DELETE FROM history WHERE at >= ? AND at < ? AND scope IN (SELECT value FROM json_each(?))",
        (bucket, bucket + RECENT_BUCKET, json.dumps(list(values))),
    )
    db.executemany(
        "INSERT INTO history (scope, at, kpis) VALUES (?, ?, ?)",
        [(key, at, json.dumps(dict(kpi))) for key, kpi in values.items()],
    )
    if last is None or int(at // THIN_EVERY) != int(last // THIN_EVERY):
        _thin(db, at)


def rows(db: sqlite3.Connection, since: datetime, until: datetime) -> KpiRows:
    found: KpiRows = defaultdict(list)
    for key, at, text in db.execute(
        "SELECT scope, at, kpis FROM history WHERE at >= ? AND at <= ? ORDER BY at",
        (since.timestamp(), until.timestamp()),
    ):
        found[key].append((at, json.loads(text)))
    return found


def last_before(db: sqlite3.Connection, moment: datetime, gap: timedelta) -> dict[str, tuple[float, dict[str, float]]]:
    """Per scope, the last row in (moment - gap, moment]."""
    end = moment.timestamp()
    # SQLite returns the kpis of the row holding max(at) in each group.
    return {
        key: (at, json.loads(text))
        for key, at, text in db.execute(
            "SELECT scope, max(at), kpis FROM history WHERE at > ? AND at <= ? GROUP BY scope",
            (end - gap.total_seconds(), end),
        )
    }


def scopes(db: sqlite3.Connection) -> list[str]:
    return [str(row[0]) for row in db.execute("SELECT DISTINCT scope FROM history")]


def count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM history").fetchone()[0])


def _thin(db: sqlite3.Connection, at: float) -> None:
    """Keep the last row of each bucket in each tier; drop what is past the retention."""
    db.execute("DELETE FROM history WHERE at < ?", (at - RETENTION.total_seconds(),))
    for raw_until, thin_until, bucket in TIERS:
        newest, oldest = at - raw_until.total_seconds(), at - thin_until.total_seconds()
        db.execute(
            "DELETE FROM history WHERE at < ? AND at >= ? AND rowid NOT IN ("
            " SELECT max(rowid) FROM history WHERE at < ? AND at >= ?"
            " GROUP BY scope, CAST(at / ? AS INTEGER))",
            (newest, oldest, newest, oldest, bucket),
        )
