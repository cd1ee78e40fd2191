"""The store: tickets, cursors, poll health, alert state and the notification log, in SQLite on disk.

WAL mode, so the web server can read while a poll writes; schema migrations by ``user_version``.
A page of tickets and the cursor that follows it are committed in ONE transaction: after a crash the
cursor never points past data we do not have.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backlog_watch.alerting.alerts import Alert, AlertState, Muted
from backlog_watch.errors import StoreError
from backlog_watch.models import OPEN_STATUSES, Channel, Priority, Sla, Snapshot, Status, Ticket

MIGRATIONS: tuple[str, ...] = (
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
)

_OPEN = tuple(s.value for s in OPEN_STATUSES)


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _moment(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


@dataclass(frozen=True)
class PollStatus:
    """How the last polls of one helpdesk went."""

    helpdesk: str
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    auth_failed: bool = False
    skipped_total: int = 0
    failing_since: datetime | None = None
    """When the first failed poll of the current outage started (None while polls succeed)."""


@dataclass(frozen=True)
class LogEntry:
    """The last notification successfully sent for one episode of an alert to one notifier."""

    fingerprint: str
    notifier: str
    episode: datetime
    state: AlertState
    level: str
    sent_at: datetime
    ticket_ids: tuple[str, ...] = ()
    channel: str | None = None
    ts: str | None = None
    ticket_count: int | None = None
    """How many tickets the alert had when told (None in entries written before it was kept)."""


def log_row(entry: LogEntry) -> tuple[object, ...]:
    """The notification_log row of an entry (also written by the outbox, in its own transaction)."""
    return (
        entry.fingerprint,
        entry.notifier,
        entry.episode.timestamp(),
        entry.state.value,
        entry.level,
        entry.sent_at.timestamp(),
        json.dumps(list(entry.ticket_ids)),
        entry.channel,
        entry.ts,
        entry.ticket_count,
    )


LOG_INSERT = "INSERT OR REPLACE INTO notification_log VALUES (?,?,?,?,?,?,?,?,?,?)"
LOG_PRUNE = (
    "DELETE FROM notification_log WHERE fingerprint = ? AND notifier = ? AND episode < ? AND NOT EXISTS ("
    "SELECT 1 FROM outbox o WHERE o.fingerprint = notification_log.fingerprint "
    "AND o.notifier = notification_log.notifier AND o.episode = notification_log.episode)"
)
"""Older episodes' entries, once no queued news still needs their thread (written with LOG_INSERT)."""


def log_prune_row(entry: LogEntry) -> tuple[object, ...]:
    return (entry.fingerprint, entry.notifier, entry.episode.timestamp())


class SqliteStore:
    """The embedded store. One connection, guarded by a lock so the web server may read from a thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {_why(exc)}") from exc
        self._lock = threading.RLock()
        self.failing: str | None = None
        """Why the last write failed (one line), or None once a write succeeds again: /readyz and the
        daemon's store-failing alert read it."""
        self._migrate()

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """Open ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        if not url.startswith("sqlite:///"):
            raise StoreError(f'store "{url.split("://")[0]}://..." is not supported yet (use sqlite:///path)')
        return cls(url.removeprefix("sqlite:///"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; a SQLite or OS error becomes a StoreError of one line."""
        with self._lock:
            try:
                yield self._db
            except (OSError, sqlite3.Error) as exc:
                raise self._failed("read", exc) from exc

    def _failed(self, action: str, exc: BaseException) -> StoreError:
        self.failing = f"the store at {self.path} cannot be {action}: {_why(exc)}"
        return StoreError(self.failing)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # a failed COMMIT (full disk) leaves it open
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise
            except (OSError, sqlite3.Error) as exc:
                raise self._failed("written", exc) from exc
            self.failing = None

    def probe_write(self) -> None:
        """Write the schema version back in a transaction: StoreError now rather than at the first poll."""
        with self._transaction() as db:
            db.execute(f"PRAGMA user_version = {int(db.execute('PRAGMA user_version').fetchone()[0])}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, for modules that keep their own table (history.py)."""
        with self._transaction() as db:
            yield db

    def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Rows of a read query, for modules that keep their own table (history.py)."""
        with self._reading():
            return list(self._db.execute(sql, args).fetchall())

    def _migrate(self) -> None:
        with self._reading() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"the store at {self.path} has schema {version}, newer than this version knows")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._transaction() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        with self._reading():
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- tickets and cursors -------------------------------------------------------------------------

    def cursor(self, helpdesk: str) -> str | None:
        with self._reading():
            row = self._db.execute("SELECT cursor FROM cursors WHERE helpdesk = ?", (helpdesk,)).fetchone()
        return row[0] if row else None

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket], cursor: str | None) -> None:
        """Upsert the tickets and advance the cursor, atomically."""
        rows = [_ticket_row(t) for t in tickets]
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            db.execute(
                "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
                (helpdesk, cursor, datetime.now(UTC).timestamp()),
            )

    def tickets(self, helpdesks: Iterable[str] | None = None, *, open_only: bool = True) -> list[Ticket]:
        sql = "SELECT * FROM tickets"
        clauses: list[str] = []
        args: list[object] = []
        if open_only:
            clauses.append(f"status IN ({','.join('?' * len(_OPEN))})")
            args.extend(_OPEN)
        if helpdesks is not None:
            names = list(helpdesks)
            clauses.append(f"helpdesk IN ({','.join('?' * len(names))})")
            args.extend(names)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._reading():
            return [_ticket_from_row(r) for r in self._db.execute(sql, args)]

    def recently_solved(self, since: datetime, helpdesks: Iterable[str]) -> list[Ticket]:
        names = list(helpdesks)
        sql = (
            "SELECT * FROM tickets WHERE solved_at >= ? AND status IN ('solved','closed') "
            f"AND helpdesk IN ({','.join('?' * len(names))})"
        )
        with self._reading():
            return [_ticket_from_row(r) for r in self._db.execute(sql, [since.timestamp(), *names])]

    def snapshot(
        self, now: datetime, helpdesks: Sequence[str], solved_window: timedelta = timedelta(days=7)
    ) -> Snapshot:
        """The open tickets of these helpdesks, and those solved within ``solved_window`` before now."""
        tickets = self.tickets(helpdesks) + self.recently_solved(now - solved_window, helpdesks)
        stale = frozenset(h for h in helpdesks if self.poll_status(h).last_success is None)
        return Snapshot(now=now, helpdesks=tuple(helpdesks), tickets=tuple(tickets), stale=stale)

    def count_tickets(self, helpdesk: str | None = None) -> int:
        with self._reading():
            if helpdesk is None:
                return int(self._db.execute("SELECT count(*) FROM tickets").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM tickets WHERE helpdesk = ?", (helpdesk,)).fetchone()[0])

    # -- poll health -----------------------------------------------------------------------------------

    def record_poll(
        self,
        helpdesk: str,
        now: datetime,
        *,
        error: str | None = None,
        auth_failed: bool = False,
        skipped: int = 0,
        started: datetime | None = None,
    ) -> PollStatus:
        """Remember how a poll went and return the new status (failures count consecutive errors).

        An outage starts when the first failed poll started (``started``), not when its retries gave up.
        """
        previous = self.poll_status(helpdesk)
        if error is None:
            failing_since = None
        else:
            failing_since = (previous.failing_since if previous.failures else None) or started or now
        status = PollStatus(
            helpdesk=helpdesk,
            last_attempt=now,
            last_success=now if error is None else previous.last_success,
            last_error=error,
            failures=0 if error is None else previous.failures + 1,
            auth_failed=auth_failed,
            skipped_total=previous.skipped_total + skipped,
            failing_since=failing_since,
        )
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO polls VALUES (?,?,?,?,?,?,?,?)",
                (
                    helpdesk,
                    _epoch(status.last_attempt),
                    _epoch(status.last_success),
                    status.last_error,
                    status.failures,
                    int(status.auth_failed),
                    status.skipped_total,
                    _epoch(status.failing_since),
                ),
            )
        return status

    def poll_status(self, helpdesk: str) -> PollStatus:
        with self._reading():
            row = self._db.execute("SELECT * FROM polls WHERE helpdesk = ?", (helpdesk,)).fetchone()
        if row is None:
            return PollStatus(helpdesk=helpdesk)
        return PollStatus(
            row[0], _moment(row[1]), _moment(row[2]), row[3], row[4], bool(row[5]), row[6], _moment(row[7])
        )

    # -- alerts and the notification log ---------------------------------------------------------------

    def load_alerts(self) -> dict[str, Alert]:
        with self._reading():
            rows = self._db.execute("SELECT body FROM alerts").fetchall()
        alerts = (_alert_from_json(r[0]) for r in rows)
        return {a.fingerprint: a for a in alerts}

    def save_alerts(self, alerts: dict[str, Alert]) -> None:
        """Replace the alert state with ``alerts`` (what advance() returned)."""
        with self._transaction() as db:
            db.execute("DELETE FROM alerts")
            db.executemany(
                "INSERT INTO alerts VALUES (?,?,?,?)",
                [(a.fingerprint, a.rule, a.state.value, _alert_to_json(a)) for a in alerts.values()],
            )
            # an alert gone from the store keeps its log while news of it is queued: its thread is still needed
            db.execute(
                "DELETE FROM notification_log WHERE fingerprint NOT IN (SELECT fingerprint FROM alerts) "
                "AND fingerprint NOT IN (SELECT fingerprint FROM outbox)"
            )

    def log_entry(self, fingerprint: str, notifier: str, episode: datetime | None = None) -> LogEntry | None:
        """The entry of ``episode`` (the thread its news replies in), or else the last one written."""
        sql = "SELECT * FROM notification_log WHERE fingerprint = ? AND notifier = ?"
        args: list[object] = [fingerprint, notifier]
        if episode is not None:
            sql += " AND abs(episode - ?) < 0.001"
            args.append(episode.timestamp())
        with self._reading():
            row = self._db.execute(sql + " ORDER BY rowid DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return LogEntry(
            fingerprint=row[0],
            notifier=row[1],
            episode=datetime.fromtimestamp(row[2], UTC),
            state=AlertState(row[3]),
            level=row[4],
            sent_at=datetime.fromtimestamp(row[5], UTC),
            ticket_ids=tuple(json.loads(row[6])),
            channel=row[7],
            ts=row[8],
            ticket_count=row[9] if len(row) > 9 else None,
        )

    def record_sent(self, entry: LogEntry) -> None:
        """Written only after a successful send: a crash before it means a resend, never a loss."""
        with self._transaction() as db:
            db.execute(LOG_INSERT, log_row(entry))
            db.execute(LOG_PRUNE, log_prune_row(entry))


def _why(exc: BaseException) -> str:
    """SQLite's reason, with what it means for the one who has to fix it."""
    text = str(exc) or type(exc).__name__
    hints = {
        "readonly": "the file or its folder is read-only",
        "disk is full": "the disk is full",
        "malformed": "the file is corrupted (restore a backup or move it away)",
        "not a database": "the file is corrupted or not a SQLite store (restore a backup or move it away)",
        "unable to open": "the folder is missing or not writable",
        "disk i/o error": "the disk failed or the file went read-only",
    }
    hint = next((h for key, h in hints.items() if key in text.lower()), None)
    return f"{text} ({hint})" if hint else text


def _ticket_row(t: Ticket) -> tuple[object, ...]:
    sla = t.sla.model_dump_json(exclude_defaults=True) if t.sla != Sla() else None
    return (
        t.helpdesk,
        t.id,
        t.status.value,
        t.priority.value,
        t.channel.value,
        t.group,
        t.assignee,
        json.dumps(list(t.tags)),
        t.subject,
        t.created_at.timestamp(),
        t.updated_at.timestamp(),
        _epoch(t.solved_at),
        sla,
        t.url,
    )


def _ticket_from_row(row: Sequence[object]) -> Ticket:
    # model_construct: the row was validated when it was written; re-validating 100k rows costs seconds.
    return Ticket.model_construct(
        helpdesk=row[0],
        id=row[1],
        status=Status(row[2]),
        priority=Priority(row[3]),
        channel=Channel(row[4]),
        group=row[5],
        assignee=row[6],
        tags=tuple(json.loads(str(row[7]))),
        subject=row[8],
        created_at=_moment(float(row[9])),  # type: ignore[arg-type]
        updated_at=_moment(float(row[10])),  # type: ignore[arg-type]
        solved_at=_moment(row[11]),  # type: ignore[arg-type]
        sla=Sla.model_validate_json(str(row[12])) if row[12] else Sla(),
        url=row[13],
    )


def _alert_to_json(a: Alert) -> str:
    return json.dumps(
        {
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "labels": [list(p) for p in a.labels],
            "state": a.state.value,
            "level": a.level,
            "value": a.value,
            "threshold": a.threshold,
            "summary": a.summary,
            "tickets": [t.model_dump(mode="json") for t in a.tickets],
            "ticket_count": a.ticket_count,
            "active_since": _epoch(a.active_since),
            "firing_since": _epoch(a.firing_since),
            "resolved_at": _epoch(a.resolved_at),
            "evaluated_at": _epoch(a.evaluated_at),
            "muted": {"reason": a.muted.reason, "detail": a.muted.detail} if a.muted else None,
        }
    )


def _alert_from_json(text: str) -> Alert:
    d = json.loads(text)
    return Alert(
        fingerprint=d["fingerprint"],
        rule=d["rule"],
        labels=tuple((k, v) for k, v in d["labels"]),
        state=AlertState(d["state"]),
        level=d["level"],
        value=d["value"],
        threshold=d["threshold"],
        summary=d["summary"],
        tickets=tuple(Ticket.model_validate(t) for t in d["tickets"]),
        ticket_count=d["ticket_count"],
        active_since=datetime.fromtimestamp(d["active_since"], UTC),
        firing_since=_moment(d["firing_since"]),
        resolved_at=_moment(d["resolved_at"]),
        evaluated_at=_moment(d["evaluated_at"]),
        muted=Muted(d["muted"]["reason"], d["muted"]["detail"]) if d.get("muted") else None,
    )
