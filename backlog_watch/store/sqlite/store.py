"""The store: tickets, cursors, poll health, alert state and the notification log, in SQLite on disk.

WAL mode, so the web server can read while a poll writes; schema migrations by ``user_version``
(schema.py). A page of tickets and the cursor that follows it are committed in ONE transaction: after
a crash the cursor never points past data we do not have. Rows are converted in codec.py; the outbox,
silences and history SQL is in queues.py and history.py beside this module.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backlog_watch.errors import StoreError
from backlog_watch.models import OPEN_STATUSES, Alert, LogEntry, PollStatus, Snapshot, Ticket
from backlog_watch.store import changelog
from backlog_watch.store.aggregate import SQLITE, TicketAggregates
from backlog_watch.store.codec import (
    TICKET_COLUMNS,
    AlertCache,
    StoredTicket,
    TicketCache,
    alert_to_json,
    log_entry_from_row,
    poll_from_row,
    poll_row,
    stored_by_key,
    stored_tickets,
    tag_rows,
    ticket_from_row,
    ticket_key,
)
from backlog_watch.store.records import ActionRecord, AsOf, Fold, News, QueuedNews, SilenceRecord
from backlog_watch.store.schema import migrate
from backlog_watch.store.sqlite import changelog as sqlite_changelog
from backlog_watch.store.sqlite import history as sqlite_history
from backlog_watch.store.sqlite import queues as sqlite_queues
from backlog_watch.store.sqlite.batch import insert_rows

_OPEN = tuple(s.value for s in OPEN_STATUSES)
_TICKET_MARKS = ",".join("?" * len(TICKET_COLUMNS.split(",")))


R = TypeVar("R")
_COLUMNS = TICKET_COLUMNS.split(", ")
_TAGS = _COLUMNS.index("tags")
_UPSERT_HEAD = f"INSERT INTO tickets ({TICKET_COLUMNS})"
_UPSERT_TAIL = f" ON CONFLICT (helpdesk, id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[2:])}"
_DEFERRED = ("tickets_by_status", "tickets_open", "tickets_solved", "tickets_by_created")
"""The ticket indexes a cold sync writes without (the unique key stays: the upsert and the page's read of
its stored rows need it). Kept up row by row, they were 40% of the SQL of a cold sync of 100k tickets
(page after page of random inserts into growing B-trees); built once after it, a sort of each."""
_READ_CHUNK = 500
"""Ids per ``IN (...)`` when a page's stored rows are read back (SQLite allows 32766 variables)."""

Change = tuple[tuple[object, ...] | None, tuple[object, ...]]
"""A ticket row as it was stored (None: new) and as it is written now, in ``TICKET_COLUMNS`` order."""


def _write_tickets(db: sqlite3.Connection, tickets: Sequence[Ticket | StoredTicket]) -> list[Change]:
    """Upsert tickets (or what a sync built of them, ``stored_ticket``) inside the caller's transaction:
    the one writer of ticket rows (pages and hooks).

    The page's stored rows are read first (one indexed query per 500 ids), so only tickets new or changed
    are written, and their tags only when the tags changed: a re-sync of unchanged tickets reads and
    compares, it does not rewrite rows, indexes and tag rows. A ticket twice in a page: the later wins.
    The change log's step (sqlite/changelog.py) logs what the changes do to the tracked fields.
    Returns the changes written.
    """
    latest = stored_by_key(tickets)
    rows = {key: latest[key][0] for key in sorted(latest)}
    stored = _stored_rows(db, rows.keys())
    changes: list[Change] = [(stored.get(key), row) for key, row in rows.items() if stored.get(key) != row]
    if not changes:
        return changes
    sqlite_changelog.record(db, changes)
    insert_rows(db, _UPSERT_HEAD, [row for _, row in changes], _UPSERT_TAIL)
    retagged = [(old, row) for old, row in changes if old is None or old[_TAGS] != row[_TAGS]]
    dropped = [(old[0], old[1]) for old, _ in retagged if old is not None and old[_TAGS] != "[]"]
    if dropped:
        db.executemany("DELETE FROM ticket_tags WHERE helpdesk = ? AND id = ?", dropped)
    insert_rows(  # from the tickets' tags: decoding the rows' JSON again was a tenth of a cold page's Python
        db,
        "INSERT OR IGNORE INTO ticket_tags",
        [tag for _, row in retagged for tag in tag_rows(latest[ticket_key(row)])],
    )
    return changes


def _stored_rows(db: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[object, ...]]:
    """The stored rows of these (helpdesk, id) keys that exist, by key."""
    by_helpdesk: dict[str, list[str]] = {}
    for helpdesk, id_ in keys:
        by_helpdesk.setdefault(helpdesk, []).append(id_)
    found: dict[tuple[str, str], tuple[object, ...]] = {}
    for helpdesk, ids in by_helpdesk.items():
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = ids[start : start + _READ_CHUNK]
            sql = f"SELECT {TICKET_COLUMNS} FROM tickets WHERE helpdesk = ? AND id IN ({','.join('?' * len(chunk))})"
            for row in db.execute(sql, [helpdesk, *chunk]):
                found[(row[0], row[1])] = tuple(row)
    return found


def copy_file(source: Path, copy: Path) -> None:
    """Back up the SQLite store at ``source`` to ``copy``, opened read-only (nothing is migrated)."""
    if not source.is_file():
        return
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(copy)) as dst,
        ):
            src.backup(dst)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot copy the store at {source}: {_why(exc)}") from exc


if TYPE_CHECKING:
    from backlog_watch.store.read_model import ReadModel


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on ``db``: BEGIN IMMEDIATE, COMMIT, or ROLLBACK on any error (a failed
    COMMIT, a full disk, leaves the transaction open: it is rolled back too) and the error raised."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


class SqliteStore:
    """The embedded store. One connection, guarded by a lock so the web server may read from a thread."""

    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            # 16 MB of page cache (SQLite's default is 2 MB): a cold sync's index pages stay in memory
            # between its transactions instead of being read back for every page of tickets.
            self._db.execute("PRAGMA cache_size=-16384")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {_why(exc)}") from exc
        self._lock = threading.RLock()
        self._deferred = False
        """Whether ticket indexes may be waiting in ``deferred_indexes`` (a cold sync is writing, or one
        stopped before it could build them): the next read or other write builds them first."""
        self._alerts = AlertCache()
        self._tickets = TicketCache()
        self.failing: str | None = None
        """Why the last write failed (one line), or None once a write succeeds again: /readyz and the
        daemon's store-failing alert read it."""
        self._migrate()
        self._deferred = True  # a process stopped during a cold sync left them to this open
        self._build_deferred()

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """Open ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        if not url.startswith("sqlite:///"):
            raise StoreError(f'store "{url.split("://")[0]}://..." is not supported yet (use sqlite:///path)')
        return cls(url.removeprefix("sqlite:///"))

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the whole store (SQLite's online backup), e.g. for a dry run."""
        with self._reading() as db, contextlib.closing(sqlite3.connect(path)) as copy:
            db.backup(copy)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(StoreError):  # the next open builds them
                self._build_deferred()
            self._db.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; a SQLite or OS error becomes a StoreError of one line."""
        with self._lock:
            try:
                self._build_deferred()
                yield self._db
            except (OSError, sqlite3.Error) as exc:
                raise self._failed("read", exc) from exc

    def _failed(self, action: str, exc: BaseException) -> StoreError:
        self.failing = f"the store at {self.path} cannot be {action}: {_why(exc)}"
        return StoreError(self.failing)

    @contextmanager
    def _transaction(self, *, indexed: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; ``indexed``: with every ticket index built (all but a cold sync's pages)."""
        with self._lock:
            try:
                if indexed:
                    self._build_deferred()
                with _immediate(self._db):
                    yield self._db
            except (OSError, sqlite3.Error) as exc:
                raise self._failed("written", exc) from exc
            self.failing = None

    def _defer_indexes(self, db: sqlite3.Connection) -> None:
        """Inside a page's transaction, on a store that holds no ticket yet (a cold sync): drop the
        ``_DEFERRED`` indexes, their definitions kept in ``deferred_indexes`` in the same transaction, so
        that a process stopped before it builds them again leaves them to the next open."""
        if db.execute("SELECT 1 FROM tickets LIMIT 1").fetchone() is not None:
            return
        marks = ",".join("?" * len(_DEFERRED))
        found = db.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks})", _DEFERRED
        ).fetchall()
        db.executemany("INSERT OR REPLACE INTO deferred_indexes VALUES (?, ?)", found)
        for name, _ in found:
            db.execute(f"DROP INDEX {name}")
        self._deferred = True

    def _build_deferred(self) -> None:
        """Build the indexes a cold sync dropped, in one transaction (under the lock, outside any other)."""
        if not self._deferred or self._db.in_transaction:
            return
        try:
            with _immediate(self._db):
                for name, sql in self._db.execute("SELECT name, sql FROM deferred_indexes").fetchall():
                    self._db.execute(sql.replace(f"INDEX {name} ", f"INDEX IF NOT EXISTS {name} ", 1))
                self._db.execute("DELETE FROM deferred_indexes")
        except (OSError, sqlite3.Error) as exc:
            raise self._failed("written", exc) from exc
        self._deferred = False

    def probe_write(self) -> None:
        """Write the schema version back in a transaction: StoreError now rather than at the first poll."""
        with self._transaction() as db:
            db.execute(f"PRAGMA user_version = {int(db.execute('PRAGMA user_version').fetchone()[0])}")

    def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Rows of a read query, for the read model of this store (read_model.py), not for other packages."""
        with self._reading():
            return list(self._db.execute(sql, args).fetchall())

    def walk(self, sql: str, args: Sequence[object], visit: Callable[[Iterable[Sequence[Any]]], R]) -> R:
        """``visit`` of a read query's rows, handed over as SQLite yields them (aggregate.Walk)."""
        with self._reading():
            return visit(self._db.execute(sql, args))

    def read_model(self) -> ReadModel:
        from backlog_watch.store.read_model import ReadModel

        return ReadModel(self)

    def load_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Append rows to a table as they are, in ONE transaction (the store copier's write)."""
        marks = ",".join("?" * len(columns))
        with self._transaction() as db:
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def clear(self) -> None:
        """Delete every row of every table; the schema stays."""
        with self._transaction() as db:
            tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            for (table,) in tables.fetchall():
                db.execute(f"DELETE FROM {table}")

    def _migrate(self) -> None:
        with self._reading() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
        migrate(version, self._transaction, str(self.path))

    @property
    def schema_version(self) -> int:
        with self._reading():
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- tickets and cursors -------------------------------------------------------------------------

    def cursor(self, helpdesk: str) -> str | None:
        with self._reading():
            row = self._db.execute("SELECT cursor FROM cursors WHERE helpdesk = ?", (helpdesk,)).fetchone()
        return row[0] if row else None

    def encode_tickets(self, tickets: Sequence[Ticket | StoredTicket]) -> list[StoredTicket]:
        return stored_tickets(tickets)

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket | StoredTicket], cursor: str | None) -> None:
        """Upsert the tickets and advance the cursor, atomically. The pages of a cold sync (into a store
        without tickets) are written without the ``_DEFERRED`` indexes; the first read builds them."""
        with self._transaction(indexed=False) as db:
            if not self._deferred:
                self._defer_indexes(db)
            _write_tickets(db, tickets)
            db.execute(
                "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
                (helpdesk, cursor, datetime.now(UTC).timestamp()),
            )

    def commit_tickets(self, tickets: Sequence[Ticket]) -> None:
        """Upsert the tickets in one transaction; the cursor stays where it is."""
        with self._transaction() as db:
            _write_tickets(db, tickets)

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
            return [ticket_from_row(r) for r in self._db.execute(sql, args)]

    def recently_solved(self, since: datetime, helpdesks: Iterable[str]) -> list[Ticket]:
        names = list(helpdesks)
        sql = (
            "SELECT * FROM tickets WHERE solved_at >= ? AND status IN ('solved','closed') "
            f"AND helpdesk IN ({','.join('?' * len(names))})"
        )
        with self._reading():
            return [ticket_from_row(r) for r in self._db.execute(sql, [since.timestamp(), *names])]

    def snapshot(
        self, now: datetime, helpdesks: Sequence[str], solved_window: timedelta = timedelta(days=7)
    ) -> Snapshot:
        """The open tickets of these helpdesks, and those solved within ``solved_window`` before now, as
        aggregates the rules query (store/aggregate.py): nothing is read until a rule asks."""
        query = TicketAggregates(self.query, now, helpdesks, now - solved_window, SQLITE, self._tickets, self.walk)
        stale = frozenset(h for h, s in self.poll_statuses(helpdesks).items() if s.last_success is None)
        return Snapshot(now=now, helpdesks=tuple(helpdesks), query=query, stale=stale)

    def count_tickets(self, helpdesk: str | None = None) -> int:
        with self._reading():
            if helpdesk is None:
                return int(self._db.execute("SELECT count(*) FROM tickets").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM tickets WHERE helpdesk = ?", (helpdesk,)).fetchone()[0])

    # -- the ticket change log (store/changelog.py) ---------------------------------------------------

    def tickets_as_of(self, moment: datetime, helpdesks: Iterable[str] | None = None) -> AsOf:
        with self._reading():
            return changelog.tickets_as_of(self.query, moment, helpdesks)

    def ticket_changes(
        self, since: datetime, until: datetime, helpdesks: Iterable[str] | None = None
    ) -> list[tuple[datetime, Ticket]]:
        return changelog.ticket_changes(self.query, since, until, helpdesks)

    def rewind(self, moment: datetime, helpdesks: Iterable[str] | None = None) -> AsOf:
        """Make this store (a scratch copy: ``--at``) hold what it held at ``moment`` as far as it can
        tell: the tickets as of then (tickets_as_of), the change log, KPI history, actions, silences and
        notification log cut at it, no alert state (it was not recorded) and no queued news, each
        helpdesk last polled then at the latest. Return what tickets_as_of said."""
        as_of = self.tickets_as_of(moment, helpdesks)
        when = moment.timestamp()
        written = stored_tickets(as_of.tickets)
        with self._transaction() as db:
            for table in ("tickets", "ticket_tags", "alerts", "outbox"):
                db.execute(f"DELETE FROM {table}")
            db.executemany(f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ({_TICKET_MARKS})", [r for r, _ in written])
            db.executemany("INSERT INTO ticket_tags VALUES (?, ?, ?)", [r for w in written for r in tag_rows(w)])
            for table, column in (
                ("ticket_changes", "at"),
                ("history", "at"),
                ("alert_actions", "at"),
                ("silences", "created_at"),
                ("notification_log", "sent_at"),
            ):
                db.execute(f"DELETE FROM {table} WHERE {column} > ?", (when,))
            db.execute(
                "UPDATE polls SET last_attempt = min(last_attempt, ?), last_success = min(last_success, ?), "
                "last_error = NULL, failures = 0, auth_failed = 0, failing_since = NULL",
                (when, when),
            )
        return as_of

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
            db.execute("INSERT OR REPLACE INTO polls VALUES (?,?,?,?,?,?,?,?)", poll_row(status))
        return status

    def poll_statuses(self, helpdesks: Iterable[str]) -> dict[str, PollStatus]:
        with self._reading():
            rows = self._db.execute("SELECT * FROM polls").fetchall()
        found = {str(row[0]): poll_from_row(row) for row in rows}
        return {name: found.get(name) or PollStatus(helpdesk=name) for name in helpdesks}

    def poll_status(self, helpdesk: str) -> PollStatus:
        with self._reading():
            row = self._db.execute("SELECT * FROM polls WHERE helpdesk = ?", (helpdesk,)).fetchone()
        if row is None:
            return PollStatus(helpdesk=helpdesk)
        return poll_from_row(row)

    def any_poll_succeeded(self) -> bool:
        with self._reading() as db:
            return db.execute("SELECT 1 FROM polls WHERE last_success IS NOT NULL LIMIT 1").fetchone() is not None

    # -- alerts and the notification log ---------------------------------------------------------------

    def load_alerts(self) -> dict[str, Alert]:
        with self._reading():
            rows = self._db.execute("SELECT fingerprint, body FROM alerts").fetchall()
            return self._alerts.decode(rows)

    def save_alerts(
        self,
        alerts: Mapping[str, Alert],
        stored: Mapping[str, Alert] | None = None,
        encode: Callable[[Alert], str] = alert_to_json,
    ) -> None:
        """Make the alert state ``alerts`` (what advance() returned), writing only what changed: new and
        changed rows, the gone ones deleted, in one transaction. Most evaluations change few alerts, so
        most rows are only compared, never rewritten (with ``stored``, not even encoded)."""
        changed = [a for fp, a in alerts.items() if stored is None or stored.get(fp) != a]
        rows = [(a.fingerprint, a.rule, a.state.value, encode(a)) for a in changed]
        with self._transaction() as db:
            if stored is None:
                db.execute(
                    "DELETE FROM alerts WHERE fingerprint NOT IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(alerts)),),
                )
            else:
                gone = [fp for fp in stored if fp not in alerts]
                db.execute(
                    "DELETE FROM alerts WHERE fingerprint IN (SELECT value FROM json_each(?))", (json.dumps(gone),)
                )
            db.executemany(
                "INSERT INTO alerts VALUES (?,?,?,?) ON CONFLICT (fingerprint) DO UPDATE"
                " SET rule = excluded.rule, state = excluded.state, body = excluded.body"
                " WHERE body IS NOT excluded.body",
                rows,
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
        return log_entry_from_row(row) if row is not None else None

    def log_entries(self, fingerprints: Collection[str]) -> dict[tuple[str, str], LogEntry]:
        entries: dict[tuple[str, str], LogEntry] = {}
        sql = "SELECT * FROM notification_log WHERE fingerprint IN (SELECT value FROM json_each(?)) ORDER BY rowid"
        with self._reading() as db:
            for row in db.execute(sql, (json.dumps(list(fingerprints)),)):
                entry = log_entry_from_row(row)
                entries[entry.fingerprint, entry.notifier] = entry  # the last one written wins
        return entries

    def record_sent(self, entry: LogEntry) -> None:
        """Written only after a successful send: a crash before it means a resend, never a loss."""
        with self._transaction() as db:
            sqlite_queues.record_sent(db, entry)

    # -- the outbox ------------------------------------------------------------------------------------

    def outbox_enqueue(self, news: Sequence[News], now: datetime, fold: Fold) -> None:
        with self._transaction() as db:
            sqlite_queues.enqueue(db, news, now, fold)

    def outbox_tail(self, fingerprint: str, notifier: str) -> QueuedNews | None:
        with self._reading() as db:
            return sqlite_queues.tail(db, fingerprint, notifier)

    def outbox_rows(self, due_at: datetime | None = None) -> list[QueuedNews]:
        with self._reading() as db:
            return sqlite_queues.rows(db, due_at)

    def outbox_complete(self, sent: Sequence[tuple[int, LogEntry]]) -> None:
        with self._transaction() as db:
            sqlite_queues.complete(db, sent)

    def outbox_claim(self, row_ids: Sequence[int], by: str) -> dict[int, str | None]:
        """One process owns the file: no other replica can have claimed a row, so nothing is recorded;
        the rows still queued are answered."""
        marks = ",".join("?" * len(row_ids))
        with self._reading() as db:
            found = db.execute(f"SELECT id FROM outbox WHERE id IN ({marks})", list(row_ids)).fetchall()
        return {int(row[0]): None for row in found}

    def outbox_reschedule(self, row_id: int, when: datetime, error: str) -> None:
        with self._transaction() as db:
            sqlite_queues.reschedule(db, row_id, when, error)

    def outbox_hold(self, notifier: str) -> None:
        with self._transaction() as db:
            sqlite_queues.hold(db, notifier)

    def outbox_drop(self, row_id: int) -> None:
        with self._transaction() as db:
            sqlite_queues.drop(db, row_id)

    # -- silences --------------------------------------------------------------------------------------

    def add_silence(self, silence: SilenceRecord) -> None:
        with self._transaction() as db:
            sqlite_queues.add_silence(db, silence)

    def silences(self) -> list[SilenceRecord]:
        with self._reading() as db:
            return sqlite_queues.silences(db)

    def end_silence(self, silence_id: str, at: datetime) -> None:
        with self._transaction() as db:
            sqlite_queues.end_silence(db, silence_id, at)

    # -- actions on alerts -------------------------------------------------------------------------

    def add_action(self, action: ActionRecord) -> None:
        with self._transaction() as db:
            sqlite_queues.add_action(db, action)

    def actions(self, since: datetime) -> list[ActionRecord]:
        with self._reading() as db:
            return sqlite_queues.actions(db, since)

    # -- KPI history -----------------------------------------------------------------------------------

    def record_kpis(self, now: datetime, values: Mapping[str, Mapping[str, float]]) -> None:
        with self._transaction() as db:
            sqlite_history.record(db, now, values)

    def kpi_rows(self, since: datetime, until: datetime) -> dict[str, list[tuple[float, dict[str, float]]]]:
        with self._reading() as db:
            return sqlite_history.rows(db, since, until)

    def kpis_at(self, moment: datetime, gap: timedelta) -> dict[str, tuple[float, dict[str, float]]]:
        with self._reading() as db:
            return sqlite_history.last_before(db, moment, gap)

    def kpi_scopes(self) -> list[str]:
        with self._reading() as db:
            return sqlite_history.scopes(db)

    def kpi_row_count(self) -> int:
        with self._reading() as db:
            return sqlite_history.count(db)


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
