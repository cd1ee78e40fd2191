"""The SQL of the KPI history table in PostgreSQL's dialect, each function run inside the caller's
transaction. The thinning tiers and their cadence are SQLite's (sqlite/history.py): one policy."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from backlog_watch.store.postgres.schema import Db
from backlog_watch.store.sqlite.history import RECENT_BUCKET, RETENTION, THIN_EVERY, TIERS, KpiRows


def record(db: Db, now: datetime, values: Mapping[str, Mapping[str, float]]) -> None:
    """Each scope's row at now, in place of its row of the same recent bucket (sqlite/history.py)."""
    at = now.timestamp()
    (last,) = db.execute("SELECT max(at) FROM history").fetchone() or (None,)
    bucket = at - at % RECENT_BUCKET
    db.execute(
        "DELETE FROM history WHERE at >= %s AND at < %s AND scope = ANY(%s)",
        (bucket, bucket + RECENT_BUCKET, list(values)),
    )
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO history (scope, at, kpis) VALUES (%s, %s, %s)",
            [(key, at, json.dumps(dict(kpi))) for key, kpi in values.items()],
        )
    if last is None or int(at // THIN_EVERY) != int(last // THIN_EVERY):
        _thin(db, at)


def rows(db: Db, since: datetime, until: datetime) -> KpiRows:
    found: KpiRows = defaultdict(list)
    for key, at, text in db.execute(
        "SELECT scope, at, kpis FROM history WHERE at >= %s AND at <= %s ORDER BY at, id",
        (since.timestamp(), until.timestamp()),
    ):
        found[key].append((at, json.loads(text)))
    return found


def last_before(db: Db, moment: datetime, gap: timedelta) -> dict[str, tuple[float, dict[str, float]]]:
    """Per scope, the last row in (moment - gap, moment]."""
    end = moment.timestamp()
    return {
        key: (at, json.loads(text))
        for key, at, text in db.execute(
            "SELECT DISTINCT ON (scope) scope, at, kpis FROM history WHERE at > %s AND at <= %s "
            "ORDER BY scope, at DESC, id DESC",
            (end - gap.total_seconds(), end),
        )
    }


def scopes(db: Db) -> list[str]:
    return [str(row[0]) for row in db.execute("SELECT DISTINCT scope FROM history")]


def count(db: Db) -> int:
    row = db.execute("SELECT count(*) FROM history").fetchone()
    return int(row[0]) if row is not None else 0


def _thin(db: Db, at: float) -> None:
    """Keep the last row of each bucket in each tier; drop what is past the retention."""
    db.execute("DELETE FROM history WHERE at < %s", (at - RETENTION.total_seconds(),))
    for raw_until, thin_until, bucket in TIERS:
        newest, oldest = at - raw_until.total_seconds(), at - thin_until.total_seconds()
        db.execute(
            "DELETE FROM history WHERE at < %s AND at >= %s AND id NOT IN ("
            " SELECT max(id) FROM history WHERE at < %s AND at >= %s GROUP BY scope, floor(at / %s))",
            (newest, oldest, newest, oldest, bucket),
        )
