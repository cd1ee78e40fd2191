"""The SQL of the outbox, the silences and the actions on alerts, each function run inside the caller's transaction.

SqliteStore wraps each one in its lock and transaction; what to queue, fold, retry or match is
decided above the store (delivery/outbox.py, alerting/silences.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from backlog_watch.models import LogEntry
from backlog_watch.store.codec import (
    ACTION_COLUMNS,
    QUEUED_COLUMNS,
    action_from_row,
    action_row,
    log_row,
    queued_from_row,
    silence_from_row,
    silence_row,
)
from backlog_watch.store.records import ActionRecord, Fold, News, QueuedNews, SilenceRecord

LOG_INSERT = "INSERT OR REPLACE INTO notification_log VALUES (?,?,?,?,?,?,?,?,?,?)"
LOG_PRUNE = (
    "DELETE FROM notification_log WHERE fingerprint = ? AND notifier = ? AND episode < ? AND NOT EXISTS ("
    "SELECT 1 FROM outbox o WHERE o.fingerprint = notification_log.fingerprint "
    "AND o.notifier = notification_log.notifier AND o.episode = notification_log.episode)"
)
"""Older episodes' entries, once no queued news still needs their thread."""
_TAIL = f"SELECT {QUEUED_COLUMNS} FROM outbox WHERE fingerprint = ? AND notifier = ? ORDER BY id DESC LIMIT 1"


def record_sent(db: sqlite3.Connection, entry: LogEntry) -> None:
    """Write a log entry, then drop older episodes' entries no queued news needs."""
    db.execute(LOG_INSERT, log_row(entry))
    db.execute(LOG_PRUNE, (entry.fingerprint, entry.notifier, entry.episode.timestamp()))


def tail(db: sqlite3.Connection, fingerprint: str, notifier: str) -> QueuedNews | None:
    row = db.execute(_TAIL, (fingerprint, notifier)).fetchone()
    return queued_from_row(row) if row is not None else None


def enqueue(db: sqlite3.Connection, news: Sequence[News], now: datetime, fold: Fold) -> None:
    for item in news:
        last = tail(db, item.fingerprint, item.notifier)
        reason = fold(last, item) if last is not None else None
        if last is not None and reason is not None:
            db.execute("UPDATE outbox SET reason = ?, body = ? WHERE id = ?", (reason, item.body, last.id))
            continue
        db.execute(
            "INSERT INTO outbox (fingerprint, notifier, reason, body, created_at, next_attempt_at, episode) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                item.fingerprint,
                item.notifier,
                item.reason,
                item.body,
                now.timestamp(),
                now.timestamp(),
                item.episode.timestamp(),
            ),
        )


def rows(db: sqlite3.Connection, due_at: datetime | None) -> list[QueuedNews]:
    sql = f"SELECT {QUEUED_COLUMNS} FROM outbox"
    args: list[object] = []
    if due_at is not None:
        sql += " WHERE next_attempt_at <= ?"
        args.append(due_at.timestamp())
    return [queued_from_row(r) for r in db.execute(sql + " ORDER BY id", args).fetchall()]


def complete(db: sqlite3.Connection, sent: Sequence[tuple[int, LogEntry]]) -> None:
    for row_id, entry in sent:  # in queue order: each alert's log ends at its newest news
        db.execute(LOG_INSERT, log_row(entry))
        db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        db.execute(LOG_PRUNE, (entry.fingerprint, entry.notifier, entry.episode.timestamp()))


def reschedule(db: sqlite3.Connection, row_id: int, when: datetime, error: str) -> None:
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
        (when.timestamp(), error, row_id),
    )


def hold(db: sqlite3.Connection, notifier: str) -> None:
    db.execute("UPDATE outbox SET held = 1 WHERE notifier = ?", (notifier,))


def drop(db: sqlite3.Connection, row_id: int) -> None:
    db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))


def add_silence(db: sqlite3.Connection, silence: SilenceRecord) -> None:
    db.execute("INSERT INTO silences VALUES (?,?,?,?,?,?,?)", silence_row(silence))


def silences(db: sqlite3.Connection) -> list[SilenceRecord]:
    return [silence_from_row(r) for r in db.execute("SELECT * FROM silences ORDER BY created_at, id").fetchall()]


def end_silence(db: sqlite3.Connection, silence_id: str, at: datetime) -> None:
    db.execute(
        "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?", (at.timestamp(), silence_id, at.timestamp())
    )


def add_action(db: sqlite3.Connection, action: ActionRecord) -> None:
    db.execute(f"INSERT INTO alert_actions ({ACTION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", action_row(action))


def actions(db: sqlite3.Connection, since: datetime) -> list[ActionRecord]:
    rows = db.execute(
        f"SELECT {ACTION_COLUMNS} FROM alert_actions WHERE at >= ? ORDER BY at, id", (since.timestamp(),)
    ).fetchall()
    return [action_from_row(r) for r in rows]
