"""The SQL of the ticket change log (store/changelog.py) in SQLite, run inside the caller's transaction.

``record`` is the one step the ticket write path (store.py ``_write_tickets``) takes for it, before
the tickets are upserted: from the rows the page changes (each with the row stored before it, which the
write path has read already), it writes a row per real change of a tracked field, and thins when it is
time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from backlog_watch.store.changelog import (
    CHANGE_COLUMNS,
    change_rows,
    due_to_thin,
    stored_state,
    thin_slices,
)
from backlog_watch.store.sqlite.batch import insert_rows

_INSERT = f"INSERT OR REPLACE INTO ticket_changes ({CHANGE_COLUMNS})"
"""Two states of a ticket at the same moment: the later one written is its state then."""
_FIRST = f"INSERT OR IGNORE INTO ticket_changes ({CHANGE_COLUMNS})"
"""A state changed from: only where the ticket has no row at that moment (its first change)."""


def record(db: sqlite3.Connection, written: Sequence[tuple[Sequence[object] | None, Sequence[object]]]) -> None:
    """Log the changes of a page's ticket rows (``ticket_row``), each with its stored row (None: new),
    before they are written. A page of new tickets (a cold sync's) writes nothing."""
    stored = {(str(old[0]), str(old[1])): stored_state(old) for old, _ in written if old is not None}
    rows = [row for _, row in written]
    first, changes = change_rows(rows, stored, time.time())
    if not changes:
        return
    (last,) = db.execute("SELECT max(at) FROM ticket_changes").fetchone()
    insert_rows(db, _FIRST, first)
    insert_rows(db, _INSERT, changes)
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
