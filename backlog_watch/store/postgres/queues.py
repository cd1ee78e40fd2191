"""The SQL of the outbox, the notification log and the silences, in PostgreSQL's dialect.

The statements of sqlite/queues.py, each run inside the caller's transaction; where SQLite replaces
a row (``INSERT OR REPLACE``, whose new rowid marks the entry written last), PostgreSQL upserts and
takes a new ``written`` number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from backlog_watch.models import LogEntry
from backlog_watch.store.codec import (
    ACTION_COLUMNS,
    LOG_COLUMNS,
    QUEUED_COLUMNS,
    SILENCE_COLUMNS,
    action_from_row,
    action_row,
    log_row,
    queued_from_row,
    silence_from_row,
    silence_row,
)
from backlog_watch.store.postgres.schema import Db
from backlog_watch.store.records import ActionRecord, Fold, News, QueuedNews, SilenceRecord

LOG_INSERT = (
    f"INSERT INTO notification_log ({LOG_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (fingerprint, notifier, episode) DO UPDATE SET state = EXCLUDED.state, level = EXCLUDED.level, "
    "sent_at = EXCLUDED.sent_at, ticket_ids = EXCLUDED.ticket_ids, channel = EXCLUDED.channel, ts = EXCLUDED.ts, "
    "ticket_count = EXCLUDED.ticket_count, written = DEFAULT"
)
LOG_PRUNE = (
    "DELETE FROM notification_log l WHERE fingerprint = %s AND notifier = %s AND episode < %s AND NOT EXISTS ("
    "SELECT 1 FROM outbox o WHERE o.fingerprint = l.fingerprint AND o.notifier = l.notifier AND o.episode = l.episode)"
)
"""Older episodes' entries, once no queued news still needs their thread."""
_TAIL = f"SELECT {QUEUED_COLUMNS} FROM outbox WHERE fingerprint = %s AND notifier = %s ORDER BY id DESC LIMIT 1"


def log_entry(db: Db, fingerprint: str, notifier: str, episode: datetime | None) -> tuple[Any, ...] | None:
    sql = f"SELECT {LOG_COLUMNS} FROM notification_log WHERE fingerprint = %s AND notifier = %s"
    args: list[object] = [fingerprint, notifier]
    if episode is not None:
        sql += " AND abs(episode - %s) < 0.001"
        args.append(episode.timestamp())
    return db.execute(sql + " ORDER BY written DESC LIMIT 1", args).fetchone()


def log_entries(db: Db, fingerprints: list[str]) -> list[tuple[Any, ...]]:
    """Every entry of these alerts, oldest written first."""
    sql = f"SELECT {LOG_COLUMNS} FROM notification_log WHERE fingerprint = ANY(%s) ORDER BY written"
    return db.execute(sql, (fingerprints,)).fetchall()


def record_sent(db: Db, entry: LogEntry) -> None:
    """Write a log entry, then drop older episodes' entries no queued news needs."""
    db.execute(LOG_INSERT, log_row(entry))
    db.execute(LOG_PRUNE, (entry.fingerprint, entry.notifier, entry.episode.timestamp()))


def tail(db: Db, fingerprint: str, notifier: str) -> QueuedNews | None:
    row = db.execute(_TAIL, (fingerprint, notifier)).fetchone()
    return queued_from_row(row) if row is not None else None


def enqueue(db: Db, news: Sequence[News], now: datetime, fold: Fold) -> None:
    for item in news:
        last = tail(db, item.fingerprint, item.notifier)
        reason = fold(last, item) if last is not None else None
        if last is not None and reason is not None:
            folded = db.execute(
                "UPDATE outbox SET reason = %s, body = %s WHERE id = %s AND claimed_by IS NULL",
                (reason, item.body, last.id),
            )
            if folded.rowcount:  # a row being sent (perhaps by another replica) is never rewritten
                continue
        db.execute(
            "INSERT INTO outbox (fingerprint, notifier, reason, body, created_at, next_attempt_at, episode) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s)",
            (item.fingerprint, item.notifier, item.reason, item.body, now.timestamp(), now.timestamp(),
             item.episode.timestamp()),
        )  # fmt: skip


def rows(db: Db, due_at: datetime | None) -> list[QueuedNews]:
    if due_at is None:
        found = db.execute(f"SELECT {QUEUED_COLUMNS} FROM outbox ORDER BY id")
    else:
        found = db.execute(
            f"SELECT {QUEUED_COLUMNS} FROM outbox WHERE next_attempt_at <= %s ORDER BY id", (due_at.timestamp(),)
        )
    return [queued_from_row(r) for r in found.fetchall()]


def complete(db: Db, sent: Sequence[tuple[int, LogEntry]]) -> None:
    for row_id, entry in sent:  # in queue order: each alert's log ends at its newest news
        db.execute(LOG_INSERT, log_row(entry))
        db.execute("DELETE FROM outbox WHERE id = %s", (row_id,))
        db.execute(LOG_PRUNE, (entry.fingerprint, entry.notifier, entry.episode.timestamp()))


def claim(db: Db, row_ids: Sequence[int], by: str, token: int | None) -> dict[int, str | None]:
    """Mark the rows being sent by ``by`` under ``token``; per row found, the replica whose earlier claim
    (another holder's, or an earlier token's) never completed: its send may have landed (the crash window)."""
    rows = db.execute(
        "WITH old AS (SELECT id, claimed_by, claim_token FROM outbox WHERE id = ANY(%s) FOR UPDATE) "
        "UPDATE outbox o SET claimed_by = %s, claim_token = %s, claimed_at = extract(epoch FROM now()) "
        "FROM old WHERE o.id = old.id RETURNING o.id, old.claimed_by, old.claim_token",
        (list(row_ids), by, token),
    ).fetchall()
    return {
        int(row_id): (str(former) if former is not None and (former != by or old_token != token) else None)
        for row_id, former, old_token in rows
    }


def reschedule(db: Db, row_id: int, when: datetime, error: str) -> None:
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s, last_error = %s, claimed_by = NULL, "
        "claim_token = NULL, claimed_at = NULL WHERE id = %s",
        (when.timestamp(), error, row_id),
    )


def hold(db: Db, notifier: str) -> None:
    db.execute("UPDATE outbox SET held = 1 WHERE notifier = %s", (notifier,))


def drop(db: Db, row_id: int) -> None:
    db.execute("DELETE FROM outbox WHERE id = %s", (row_id,))


def add_silence(db: Db, silence: SilenceRecord) -> None:
    db.execute(f"INSERT INTO silences ({SILENCE_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s)", silence_row(silence))


def silences(db: Db) -> list[SilenceRecord]:
    found = db.execute(f"SELECT {SILENCE_COLUMNS} FROM silences ORDER BY created_at, id").fetchall()
    return [silence_from_row(r) for r in found]


def end_silence(db: Db, silence_id: str, at: datetime) -> None:
    db.execute(
        "UPDATE silences SET ends_at = %s WHERE id = %s AND ends_at > %s", (at.timestamp(), silence_id, at.timestamp())
    )


def add_action(db: Db, action: ActionRecord) -> None:
    db.execute(f"INSERT INTO alert_actions ({ACTION_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", action_row(action))


def actions(db: Db, since: datetime) -> list[ActionRecord]:
    rows = db.execute(
        f"SELECT {ACTION_COLUMNS} FROM alert_actions WHERE at >= %s ORDER BY at, id", (since.timestamp(),)
    ).fetchall()
    return [action_from_row(r) for r in rows]
