"""The SQL of the ticket change log (store/changelog.py) in SQLite, run inside the caller's transaction.

``record`` is the one step the ticket write path (store.py ``_write_tickets``) takes for it, before
the tickets are upserted: it reads the stored rows' tracked columns of the page's tickets (by primary
key), writes a row per real change, and thins when it is time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence

from backlog_watch.store.changelog import (
    CHANGE_COLUMNS,
    TRACKED_COLUMNS,
    change_rows,
    due_to_thin,
    thin_slices,
)

_INSERT = f"INSERT OR REPLACE INTO ticket_changes ({CHANGE_COLUMNS}) VALUES ({','.join('?' * 11)})"
"""Two states of a ticket at the same moment: the later one written is its state then."""


def record(db: sqlite3.Connection, rows: Sequence[Sequence[object]]) -> None:
    """Log the changes a page of ticket rows (``ticket_row``) makes, before they are written."""
    ids: dict[object, list[object]] = defaultdict(list)
    for row in rows:
        ids[row[0]].append(row[1])
    stored: dict[tuple[str, str], tuple[object, ...]] = {}
    for helpdesk, names in ids.items():
        for found in db.execute(
            f"SELECT helpdesk, id, {TRACKED_COLUMNS}, updated_at FROM tickets "
            "WHERE helpdesk = ? AND id IN (SELECT value FROM json_each(?))",
            (helpdesk, json.dumps(names)),
        ):
            stored[found[:2]] = found[2:]
    changes = change_rows(rows, stored, time.time())
    if not changes:
        return
    (last,) = db.execute("SELECT max(at) FROM ticket_changes").fetchone()
    db.executemany(_INSERT, changes)
    now = max(float(row[2]) for row in changes)
    if last is None or now > last and due_to_thin(last, now):
        thin(db, last, now)


def thin(db: sqlite3.Connection, last: float | None, now: float) -> None:
    """Drop each row that a later row of its ticket in the same (aged) bucket makes redundant."""
    for start, end, bucket in thin_slices(last, now):
        if bucket is None:
            same_bucket = ""
            args: tuple[object, ...] = (start, end, end)
        else:
            # the bucket (k - 1) * size < at <= k * size of the row: k = ceil(at / size)
            same_bucket = " AND n.at <= (CAST(c.at / ? AS INTEGER) + (c.at / ? > CAST(c.at / ? AS INTEGER))) * ?"
            args = (start, end, end, bucket, bucket, bucket, bucket)
        db.execute(
            "DELETE FROM ticket_changes AS c WHERE c.at > ? AND c.at < ? AND EXISTS ("
            " SELECT 1 FROM ticket_changes n WHERE n.helpdesk = c.helpdesk AND n.id = c.id"
            f" AND n.at > c.at AND n.at < ?{same_bucket})",
            args,
        )
