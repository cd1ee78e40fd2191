"""Copying a whole store into another (``backlog-watch store migrate``, a dry run's copy of PostgreSQL).

Everything moves, so a team changes stores without re-alerting: tickets and cursors (no refetch), polls,
alerts, the notification log (the Slack thread of each episode), the outbox's queued news (with its ids:
the queue order), silences, the KPI history, the actions taken on alerts (who acknowledged what) and
the ticket change log (what the backlog was at past moments).
Tickets are decoded and encoded again through codec.py, so the target's ticket row (and its
``ticket_tags`` rows) is computed anew; the other tables are copied as they are, column by column, in
the order that matters to them (the log in the order it was written, the outbox in queue order).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from backlog_watch.errors import StoreError
from backlog_watch.store import SqlStore
from backlog_watch.store.changelog import CHANGE_COLUMNS
from backlog_watch.store.codec import (
    ACTION_COLUMNS,
    LOG_COLUMNS,
    POLL_COLUMNS,
    QUEUED_COLUMNS,
    SILENCE_COLUMNS,
    TICKET_COLUMNS,
    stored_tickets,
    tag_rows,
    ticket_from_row,
)

TICKET_BATCH = 5000

_WRITTEN = {"sqlite": "rowid", "postgresql": "written"}
"""The column that orders the notification log as it was written (a later entry wins in log_entry)."""
_ROW = {"sqlite": "rowid", "postgresql": "id"}

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "cursors": ("helpdesk, cursor, updated_at", {"sqlite": "helpdesk", "postgresql": "helpdesk"}),
    "polls": (POLL_COLUMNS, {"sqlite": "helpdesk", "postgresql": "helpdesk"}),
    "alerts": ("fingerprint, rule, state, body", {"sqlite": "fingerprint", "postgresql": "fingerprint"}),
    "notification_log": (LOG_COLUMNS, _WRITTEN),
    "outbox": (QUEUED_COLUMNS, {"sqlite": "id", "postgresql": "id"}),
    "silences": (SILENCE_COLUMNS, {"sqlite": "created_at, id", "postgresql": "created_at, id"}),
    "history": ("scope, at, kpis", _ROW),
    "alert_actions": (ACTION_COLUMNS, _ROW),
    "ticket_changes": (CHANGE_COLUMNS, {"sqlite": "helpdesk, id, at", "postgresql": "helpdesk, id, at"}),
}
"""Every table but tickets: its columns, and per dialect the order its rows are copied in."""
OPTIONAL = frozenset({"ticket_changes"})
"""Tables a store not yet migrated to them lacks (a dry run copies PostgreSQL as it is): copied when there."""


def counts(store: SqlStore) -> dict[str, int]:
    """Rows per table, tickets first."""
    return {
        table: int(store.query(f"SELECT count(*) FROM {table}")[0][0])  # type: ignore[call-overload]
        for table in ("tickets", *TABLES)
    }


def transfer(source: SqlStore, target: SqlStore, *, replace: bool = False) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``; return the rows copied per table.

    A target that holds anything is refused (StoreError) unless ``replace``, which empties it first.
    """
    held = {table: n for table, n in counts(target).items() if n}
    if held and not replace:
        shown = ", ".join(f"{n} {table}" for table, n in held.items())
        raise StoreError(f"the target store is not empty ({shown}): pass --force to replace what it holds")
    if held:
        target.clear()
    copied = {"tickets": 0}
    for batch in _ticket_batches(source):
        written = stored_tickets([ticket_from_row(row) for row in batch])
        target.load_rows("tickets", _names(TICKET_COLUMNS), [r for r, _ in written])
        target.load_rows("ticket_tags", ("helpdesk", "id", "tag"), [r for w in written for r in tag_rows(w)])
        copied["tickets"] += len(batch)
    for table, (columns, order) in TABLES.items():
        if table in OPTIONAL and not _holds(source, table):
            continue
        rows = source.query(f"SELECT {columns} FROM {table} ORDER BY {order[source.dialect]}")
        target.load_rows(table, _names(columns), rows)
        copied[table] = len(rows)
    return copied


def _ticket_batches(source: SqlStore) -> Iterator[list[tuple[object, ...]]]:
    """The tickets in (helpdesk, id) order, a batch at a time (a 100k backlog never sits in memory whole)."""
    after: tuple[object, ...] = ("", "")
    while batch := source.query(
        f"SELECT {TICKET_COLUMNS} FROM tickets WHERE (helpdesk, id) > (?, ?) ORDER BY helpdesk, id LIMIT ?",
        [*after, TICKET_BATCH],
    ):
        yield batch
        after = (batch[-1][0], batch[-1][1])


def _holds(store: SqlStore, table: str) -> bool:
    try:
        store.query(f"SELECT 1 FROM {table} WHERE 1 = 0")
    except StoreError:
        store.failing = None  # a read of a table that is not there yet is no failing store
        return False
    return True


def _names(columns: str) -> Sequence[str]:
    return [name.strip() for name in columns.split(",")]


def copy_tables(source: SqlStore, target: SqlStore, tables: Sequence[str], *, until: datetime | None = None) -> None:
    """Copy some tables' rows as they are (a replay's scratch store takes the silences and KPI history);
    with ``until``, only the KPI history up to then."""
    for table in tables:
        columns, order = TABLES[table]
        where, args = ("WHERE at <= ?", [until.timestamp()]) if table == "history" and until is not None else ("", [])
        rows = source.query(f"SELECT {columns} FROM {table} {where} ORDER BY {order[source.dialect]}", args)
        target.load_rows(table, _names(columns), rows)
