"""The SQLite schema: one script per version, applied in order by ``user_version``.

A script is never edited once released: a change is a new entry, so a store written by any earlier
version is brought up to date step by step, each step in its own transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from backlog_watch.errors import StoreError
from backlog_watch.store.codec import evaluation_values

Migration = str | Callable[[sqlite3.Connection], None]
"""A script of statements, or a step that needs Python (a backfill decoding a JSON column)."""


def _evaluation_columns(db: sqlite3.Connection) -> None:
    """Issue 12: the columns and the tag table the evaluation aggregates over (store/aggregate.py), so it
    reads indexes instead of decoding every ticket: the open flag, the earliest running SLA target, whether
    it is paused or breached, one row per tag. Backfilled from the JSON columns of the stored tickets."""
    for statement in (
        "ALTER TABLE tickets ADD COLUMN is_open INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tickets ADD COLUMN sla_due REAL",
        "ALTER TABLE tickets ADD COLUMN sla_paused INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tickets ADD COLUMN sla_breached INTEGER NOT NULL DEFAULT 0",
        "CREATE TABLE ticket_tags (helpdesk TEXT NOT NULL, id TEXT NOT NULL, tag TEXT NOT NULL, "
        "PRIMARY KEY (helpdesk, id, tag)) WITHOUT ROWID",
    ):
        db.execute(statement)
    rows = db.execute("SELECT helpdesk, id, status, tags, sla FROM tickets")
    while batch := rows.fetchmany(10_000):
        db.executemany(
            "UPDATE tickets SET is_open = ?, sla_due = ?, sla_paused = ?, sla_breached = ? "
            "WHERE helpdesk = ? AND id = ?",
            [(*evaluation_values(status, sla), helpdesk, id_) for helpdesk, id_, status, _, sla in batch],
        )
        db.executemany(
            "INSERT OR IGNORE INTO ticket_tags VALUES (?, ?, ?)",
            [(helpdesk, id_, tag) for helpdesk, id_, _, tags, _ in batch for tag in json.loads(tags)],
        )
    for statement in (
        # Covering indexes: the aggregates read the open set and the recently solved from an index alone,
        # never a table row per ticket (the store names them to SQLite's planner, which has no statistics).
        "CREATE INDEX tickets_open ON tickets (is_open, helpdesk, grp, priority, status, assignee, channel, "
        "created_at, updated_at, sla_due, sla_paused, sla_breached) WHERE is_open = 1",
        "CREATE INDEX tickets_solved ON tickets (solved_at, status, helpdesk, grp, priority, channel, assignee, "
        "created_at) WHERE solved_at IS NOT NULL",
        "DROP INDEX tickets_by_solved",  # the same range, now covering
        "CREATE INDEX tickets_by_created ON tickets (helpdesk, created_at)",
    ):
        db.execute(statement)


_TICKET_INDEXES = (
    "CREATE UNIQUE INDEX tickets_key ON tickets (helpdesk, id)",
    "CREATE INDEX tickets_by_status ON tickets (status, helpdesk)",
    # id last: a WITHOUT ROWID table's indexes carried its key, so the aggregates' joins to the tag rows and
    # the listings' keys were read from these covering indexes alone; a rowid table's carry only the rowid.
    "CREATE INDEX tickets_open ON tickets (is_open, helpdesk, grp, priority, status, assignee, channel, "
    "created_at, updated_at, sla_due, sla_paused, sla_breached, id) WHERE is_open = 1",
    "CREATE INDEX tickets_solved ON tickets (solved_at, status, helpdesk, grp, priority, channel, assignee, "
    "created_at, id) WHERE solved_at IS NOT NULL",
    "CREATE INDEX tickets_by_created ON tickets (helpdesk, created_at, id)",
)


def _rowid_tickets(db: sqlite3.Connection) -> None:
    """Issue 12: tickets become a rowid table with a unique (helpdesk, id) index. A WITHOUT ROWID table
    keeps its wide rows (subject, url, SLA JSON) in the primary key's B-tree, so every insert of an id
    out of order split and rewrote pages of whole rows: a cold sync spent half its time there. Rows are
    now appended and only the narrow key index takes the random inserts. The same columns and indexes."""
    columns = (
        "helpdesk TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, priority TEXT NOT NULL, "
        "channel TEXT NOT NULL, grp TEXT, assignee TEXT, tags TEXT NOT NULL, subject TEXT NOT NULL, "
        "created_at REAL NOT NULL, updated_at REAL NOT NULL, solved_at REAL, sla TEXT, url TEXT NOT NULL, "
        "is_open INTEGER NOT NULL DEFAULT 0, sla_due REAL, sla_paused INTEGER NOT NULL DEFAULT 0, "
        "sla_breached INTEGER NOT NULL DEFAULT 0"
    )
    names = ", ".join(c.split()[0] for c in columns.split(", "))
    db.execute(f"CREATE TABLE tickets_v9 ({columns})")
    db.execute(f"INSERT INTO tickets_v9 ({names}) SELECT {names} FROM tickets ORDER BY updated_at")
    db.execute("DROP TABLE tickets")
    db.execute("ALTER TABLE tickets_v9 RENAME TO tickets")
    for statement in _TICKET_INDEXES:
        db.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE tickets (
        helpdesk TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, priority TEXT NOT NULL,
        channel TEXT NOT NULL, grp TEXT, assignee TEXT, tags TEXT NOT NULL, subject TEXT NOT NULL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, solved_at REAL, sla TEXT, url TEXT NOT NULL,
        PRIMARY KEY (helpdesk, id)
    ) WITHOUT ROWID;
    CREATE INDEX tickets_by_status ON tickets (status, helpdesk);
    CREATE INDEX tickets_by_solved ON tickets (solved_at) WHERE solved_at IS NOT NULL;
    CREATE TABLE cursors (helpdesk TEXT PRIMARY KEY, cursor TEXT, updated_at REAL NOT NULL);
    CREATE TABLE polls (
        helpdesk TEXT PRIMARY KEY, last_attempt REAL, last_success REAL, last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0, auth_failed INTEGER NOT NULL DEFAULT 0,
        skipped_total INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, rule TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL);
    CREATE TABLE notification_log (
        fingerprint TEXT NOT NULL, notifier TEXT NOT NULL, episode REAL NOT NULL, state TEXT NOT NULL,
        level TEXT NOT NULL, sent_at REAL NOT NULL, ticket_ids TEXT NOT NULL, channel TEXT, ts TEXT,
        PRIMARY KEY (fingerprint, notifier)
    );
    """,
    """
    CREATE TABLE history (scope TEXT NOT NULL, at REAL NOT NULL, kpis TEXT NOT NULL);
    CREATE INDEX history_by_time ON history (at, scope);
    """,
    # -- issue 5: delivery (outbox, silences, the count of tickets last told) -- keep as its own entry --
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, notifier TEXT NOT NULL,
        reason TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT,
        held INTEGER NOT NULL DEFAULT 0, UNIQUE (fingerprint, notifier)
    );
    CREATE TABLE silences (
        id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
        created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at REAL NOT NULL
    );
    ALTER TABLE notification_log ADD COLUMN ticket_count INTEGER;
    """,
    # -- issue 10: when a helpdesk started failing (helpdesk-down counts from it) -- its own entry --
    """
    ALTER TABLE polls ADD COLUMN failing_since REAL;
    """,
    # -- issue 10: one log entry per episode, an ordered outbox of every episode's news -- own entry --
    """
    CREATE TABLE notification_log_v4 (
        fingerprint TEXT NOT NULL, notifier TEXT NOT NULL, episode REAL NOT NULL, state TEXT NOT NULL,
        level TEXT NOT NULL, sent_at REAL NOT NULL, ticket_ids TEXT NOT NULL, channel TEXT, ts TEXT,
        ticket_count INTEGER, PRIMARY KEY (fingerprint, notifier, episode)
    );
    INSERT INTO notification_log_v4 SELECT * FROM notification_log;
    DROP TABLE notification_log;
    ALTER TABLE notification_log_v4 RENAME TO notification_log;
    CREATE TABLE outbox_v4 (
        id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, notifier TEXT NOT NULL,
        reason TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT,
        held INTEGER NOT NULL DEFAULT 0, episode REAL NOT NULL
    );
    INSERT INTO outbox_v4 SELECT id, fingerprint, notifier, reason, body, created_at, attempts, next_attempt_at,
        last_error, held, COALESCE(json_extract(body, '$.alert.firing_since'), json_extract(body, '$.now'))
        FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v4 RENAME TO outbox;
    CREATE INDEX outbox_by_alert ON outbox (fingerprint, notifier, id);
    """,
    _evaluation_columns,
    # -- issue 15: who acknowledged, snoozed or took a ticket of which alert, and when -- its own entry --
    """
    CREATE TABLE alert_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, episode REAL NOT NULL,
        action TEXT NOT NULL, actor TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL,
        level TEXT NOT NULL, ticket_count INTEGER NOT NULL
    );
    CREATE INDEX alert_actions_by_time ON alert_actions (at);
    """,
    # -- issue 16 (version 8): the ticket change log (store/changelog.py), begun with each stored ticket's state --
    """
    CREATE TABLE ticket_changes (
        helpdesk TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
        priority TEXT NOT NULL, grp TEXT, assignee TEXT, tags TEXT NOT NULL, solved_at REAL, sla TEXT,
        PRIMARY KEY (helpdesk, id, at)
    ) WITHOUT ROWID;
    CREATE INDEX ticket_changes_by_time ON ticket_changes (at);
    INSERT INTO ticket_changes SELECT helpdesk, id, updated_at, 'created', status, priority, grp, assignee, tags,
        solved_at, sla FROM tickets;
    """,
    # -- issue 12: tickets in a rowid table (version 9) --
    _rowid_tickets,
    # -- issue 12 (version 10): the ticket indexes a cold sync dropped, kept here until they are built again --
    "CREATE TABLE deferred_indexes (name TEXT PRIMARY KEY, sql TEXT NOT NULL)",
)


def migrate(
    version: int,
    transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
    where: str,
    until: int | None = None,
) -> None:
    """Apply every script after ``version`` (up to ``until``, for a store as an older release left it);
    a schema newer than this code knows is refused."""
    if version > len(MIGRATIONS):
        raise StoreError(f"the store at {where} has schema {version}, newer than this version knows")
    for number, script in enumerate(MIGRATIONS[version:until], start=version + 1):
        with transaction() as db:
            if isinstance(script, str):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
            else:
                script(db)
            db.execute(f"PRAGMA user_version = {number}")
