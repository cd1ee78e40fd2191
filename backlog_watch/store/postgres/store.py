"""The PostgreSQL store (``store: postgresql://user:password@host/db``): the shared one.

psycopg 3 with its ConnectionPool, synchronous because the ``Store`` protocol is: the daemon calls
it as it calls SQLite (the web server from worker threads, which the pool serves side by side). An
async port goes with an async Store protocol, a later change. Connections run in autocommit; every
write goes through ``_transaction`` (one place, where a lease's fencing check joins each write
transaction: store/leases.py), every read through ``_reading``.

The password is a secret: the store shows its URL only through ``redact_url`` (errors, repr,
/readyz), and a driver error is scrubbed of it before it becomes a ``StoreError``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import ConnectionPool

from backlog_watch.errors import LeaseLost, StoreError
from backlog_watch.models import OPEN_STATUSES, Alert, LogEntry, PollStatus, Snapshot, Ticket
from backlog_watch.store import changelog
from backlog_watch.store.aggregate import POSTGRESQL, TicketAggregates
from backlog_watch.store.codec import (
    POLL_COLUMNS,
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
)
from backlog_watch.store.leases import Fence, current_fence
from backlog_watch.store.postgres import changelog as pg_changelog
from backlog_watch.store.postgres import history as pg_history
from backlog_watch.store.postgres import queues as pg_queues
from backlog_watch.store.postgres.leases import PostgresLeaseTable, check_fence
from backlog_watch.store.postgres.schema import Db, migrate, schema_version
from backlog_watch.store.records import ActionRecord, AsOf, Fold, News, QueuedNews, SilenceRecord
from backlog_watch.store.urls import redact_url

if TYPE_CHECKING:
    from backlog_watch.store.read_model import ReadModel

_PAGE_TABLE = "CREATE TEMP TABLE IF NOT EXISTS page_in (LIKE tickets) ON COMMIT DELETE ROWS"
"""A page on its way in: one per connection, emptied by each commit."""
_VALUES = TICKET_COLUMNS.split(", ")[2:]
_NEW = ", ".join(f"EXCLUDED.{c}" for c in _VALUES)
_MERGE_PAGE = (
    f"INSERT INTO tickets ({TICKET_COLUMNS}) SELECT {TICKET_COLUMNS} FROM page_in ON CONFLICT (helpdesk, id) "
    f"DO UPDATE SET ({', '.join(_VALUES)}) = ({_NEW}) "
    f"WHERE ({', '.join(f'tickets.{c}' for c in _VALUES)}) IS DISTINCT FROM ({_NEW}) RETURNING helpdesk, id"
)
"""A ticket seen again unchanged (an overlapping window, a re-sync) is not rewritten: no dead row, no
index update; the rows returned are those inserted or changed, whose tags are then replaced."""
_DROP_TAGS = "DELETE FROM ticket_tags WHERE (helpdesk, id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
_UPSERT_CURSOR = (
    "INSERT INTO cursors (helpdesk, cursor, updated_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (helpdesk) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at"
)
_UPSERT_POLL = (
    f"INSERT INTO polls ({POLL_COLUMNS}) VALUES ({','.join(['%s'] * 8)}) ON CONFLICT (helpdesk) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in POLL_COLUMNS.split(", ")[1:])
)
_OPEN = [s.value for s in OPEN_STATUSES]
TABLES = (
    "tickets",
    "ticket_tags",
    "cursors",
    "polls",
    "alerts",
    "notification_log",
    "history",
    "outbox",
    "silences",
    "alert_actions",
    "ticket_changes",
)
_HOLD_LIMIT = "SELECT set_config('idle_in_transaction_session_timeout', %s, true)"
_STILL_HELD = "SELECT 1 FROM leases WHERE name = %s AND holder = %s AND token = %s AND expires_at > now()"
POOL_SIZE = 4
"""Connections at most: the daemon's writes, the web server's reads, a report, with one to spare."""
CONNECT_TIMEOUT = 10


class PostgresStore:
    """The shared store. ``migrate_schema=False`` opens it as it is (a dry run's copy must not change it)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.where = redact_url(url)
        self._url = url
        self._password = urlsplit(url).password
        self._alerts = AlertCache()
        self._tickets = TicketCache()
        self._alerts_lock = threading.Lock()
        self.failing: str | None = None
        """Why the last write failed (one line), or None once a write succeeds again."""
        self._hold_limit: float | None = None
        """Seconds a transaction holding lease rows may sit idle (the lease TTL, once leases are kept)."""
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as db:
                self.schema_version = migrate(db, self.where) if migrate_schema else schema_version(db)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the store at {self.where}: {self._why(exc)}") from exc
        self._pool: ConnectionPool[Db] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            check=ConnectionPool.check_connection,  # a server restart costs one failed check, not a failed write
            name="backlog-watch-store",
            open=True,
        )

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    def close(self) -> None:
        self._pool.close()  # a second close does nothing

    def _why(self, exc: BaseException) -> str:
        """The driver's reason on one line, never with the password in it."""
        text = " ".join((str(exc) or type(exc).__name__).split())
        return text.replace(self._password, "***") if self._password else text

    def _failed(self, action: str, exc: BaseException) -> StoreError:
        self.failing = f"the store at {self.where} cannot be {action}: {self._why(exc)}"
        return StoreError(self.failing)

    @contextmanager
    def _reading(self) -> Iterator[Db]:
        try:
            with self._pool.connection() as db:
                yield db
        except psycopg.Error as exc:
            raise self._failed("read", exc) from exc

    @contextmanager
    def _transaction(self, *, fence: bool = True) -> Iterator[Db]:
        """Every write: one transaction, or nothing. Inside a fenced block (store/leases.py) it first
        checks the lease and holds it until the commit, so a replica that lost it writes nothing
        (``LeaseLost``); the lease table's own writes pass ``fence=False``.

        Once this store keeps leases, a transaction that holds lease rows (fenced, or the lease table's)
        may sit idle at most the lease TTL: a replica paused inside one (SIGSTOP) has its session ended
        by the server, so its locks never hold up the replica taking over. It wakes up to LeaseLost."""
        held = current_fence() if fence else None
        try:
            with self._pool.connection() as db, db.transaction():
                if self._hold_limit is not None and (held is not None or not fence):
                    db.execute(_HOLD_LIMIT, (f"{int(self._hold_limit * 1000)}ms",))
                check_fence(db, held)
                yield db
        except psycopg.Error as exc:
            if held is not None and not self._still_held(held):  # ended while paused: the lease is gone
                raise LeaseLost(
                    f"lease {held.lease} (token {held.token}) was lost while {held.holder} was writing: "
                    "nothing was written",
                    lease=held.lease,
                    token=held.token,
                ) from exc
            raise self._failed("written", exc) from exc
        self.failing = None

    def _still_held(self, fence: Fence) -> bool:
        """Whether the lease is still the fence's (True when that cannot be read: the store failed)."""
        try:
            with self._pool.connection() as db:
                row = db.execute(_STILL_HELD, (fence.lease, fence.holder, fence.token)).fetchone()
        except psycopg.Error:
            return True
        return row is not None

    def probe_write(self) -> None:
        """Write the schema version back in a transaction: StoreError now rather than at the first poll."""
        with self._transaction() as db:
            db.execute("UPDATE schema_version SET version = version")

    def lease_table(self, replica: str, ttl: float) -> PostgresLeaseTable:
        """The lease rows as ``replica`` sees them (cluster.py keeps its leases through it)."""
        self._hold_limit = ttl
        return PostgresLeaseTable(lambda: self._transaction(fence=False), replica, ttl, self._url)

    def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Rows of a read query written with ``?`` placeholders (the read model's SQL, shared with
        SQLite), for the read model and the store copier, not for other packages."""
        with self._reading() as db:
            return db.execute(_placeholders(sql), list(args)).fetchall()

    def read_model(self) -> ReadModel:
        from backlog_watch.store.read_model import ReadModel

        return ReadModel(self)

    def copy_to(self, path: Path) -> None:
        """Everything stored, copied into a new SQLite store at ``path`` (a dry run works on it); a
        database that holds no store yet leaves nothing at ``path``."""
        if self.schema_version is None:
            return
        from backlog_watch.store.sqlite import SqliteStore
        from backlog_watch.store.transfer import transfer

        copy = SqliteStore(path)
        try:
            transfer(self, copy)
        finally:
            copy.close()

    # -- the copier's access (store/transfer.py) ----------------------------------------------------------

    def load_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Append rows to a table as they are, in ONE transaction; identities continue after them."""
        names = ", ".join(columns)
        with self._transaction() as db:
            with db.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({','.join(['%s'] * len(columns))})", list(rows)
                )
            if table == "outbox":
                db.execute("SELECT setval(pg_get_serial_sequence('outbox', 'id'), coalesce(max(id), 0) + 1, false) "
                           "FROM outbox")  # fmt: skip

    def clear(self) -> None:
        """Delete every row of every table (the schema stays)."""
        with self._transaction() as db:
            db.execute(f"TRUNCATE {', '.join(TABLES)}")

    # -- tickets and cursors -------------------------------------------------------------------------

    def cursor(self, helpdesk: str) -> str | None:
        with self._reading() as db:
            row = db.execute("SELECT cursor FROM cursors WHERE helpdesk = %s", (helpdesk,)).fetchone()
        return row[0] if row else None

    def encode_tickets(self, tickets: Sequence[Ticket | StoredTicket]) -> list[StoredTicket]:
        return stored_tickets(tickets)

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket | StoredTicket], cursor: str | None) -> None:
        """Upsert the tickets and their tags and advance the cursor, in one transaction."""
        with self._transaction() as db:
            _write_tickets(db, tickets)
            db.execute(_UPSERT_CURSOR, (helpdesk, cursor, datetime.now(UTC).timestamp()))

    def commit_tickets(self, tickets: Sequence[Ticket]) -> None:
        """Upsert the tickets in one transaction; the cursor stays where it is."""
        with self._transaction() as db:
            _write_tickets(db, tickets)

    def tickets(self, helpdesks: Iterable[str] | None = None, *, open_only: bool = True) -> list[Ticket]:
        clauses: list[str] = []
        args: list[object] = []
        if open_only:
            clauses.append("status = ANY(%s)")
            args.append(_OPEN)
        if helpdesks is not None:
            clauses.append("helpdesk = ANY(%s)")
            args.append(list(helpdesks))
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        with self._reading() as db:
            return [ticket_from_row(r) for r in db.execute(f"SELECT {TICKET_COLUMNS} FROM tickets{where}", args)]

    def recently_solved(self, since: datetime, helpdesks: Iterable[str]) -> list[Ticket]:
        sql = (
            f"SELECT {TICKET_COLUMNS} FROM tickets WHERE solved_at >= %s AND status IN ('solved','closed') "
            "AND helpdesk = ANY(%s)"
        )
        with self._reading() as db:
            return [ticket_from_row(r) for r in db.execute(sql, (since.timestamp(), list(helpdesks)))]

    def snapshot(
        self, now: datetime, helpdesks: Sequence[str], solved_window: timedelta = timedelta(days=7)
    ) -> Snapshot:
        """The open tickets of these helpdesks, and those solved within ``solved_window`` before now, as
        aggregates the rules query: store/aggregate.py's portable SQL, through ``query``."""
        query = TicketAggregates(self.query, now, helpdesks, now - solved_window, POSTGRESQL, self._tickets)
        stale = frozenset(h for h, s in self.poll_statuses(helpdesks).items() if s.last_success is None)
        return Snapshot(now=now, helpdesks=tuple(helpdesks), query=query, stale=stale)

    def count_tickets(self, helpdesk: str | None = None) -> int:
        with self._reading() as db:
            if helpdesk is None:
                row = db.execute("SELECT count(*) FROM tickets").fetchone()
            else:
                row = db.execute("SELECT count(*) FROM tickets WHERE helpdesk = %s", (helpdesk,)).fetchone()
        return int(row[0]) if row else 0

    # -- the ticket change log (store/changelog.py) ---------------------------------------------------

    def tickets_as_of(self, moment: datetime, helpdesks: Iterable[str] | None = None) -> AsOf:
        return changelog.tickets_as_of(self.query, moment, helpdesks)

    def ticket_changes(
        self, since: datetime, until: datetime, helpdesks: Iterable[str] | None = None
    ) -> list[tuple[datetime, Ticket]]:
        return changelog.ticket_changes(self.query, since, until, helpdesks)

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
        """Remember how a poll went (failures count consecutive errors, an outage starts when its
        first failed poll started); read and written under the row's lock."""
        with self._transaction() as db:
            row = db.execute(f"SELECT {POLL_COLUMNS} FROM polls WHERE helpdesk = %s FOR UPDATE", (helpdesk,)).fetchone()
            previous = poll_from_row(row) if row is not None else PollStatus(helpdesk=helpdesk)
            failing_since = None
            if error is not None:
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
            db.execute(_UPSERT_POLL, poll_row(status))
        return status

    def poll_statuses(self, helpdesks: Iterable[str]) -> dict[str, PollStatus]:
        with self._reading() as db:
            rows = db.execute(f"SELECT {POLL_COLUMNS} FROM polls").fetchall()
        found = {str(row[0]): poll_from_row(row) for row in rows}
        return {name: found.get(name) or PollStatus(helpdesk=name) for name in helpdesks}

    def poll_status(self, helpdesk: str) -> PollStatus:
        with self._reading() as db:
            row = db.execute(f"SELECT {POLL_COLUMNS} FROM polls WHERE helpdesk = %s", (helpdesk,)).fetchone()
        return poll_from_row(row) if row is not None else PollStatus(helpdesk=helpdesk)

    def any_poll_succeeded(self) -> bool:
        with self._reading() as db:
            return db.execute("SELECT 1 FROM polls WHERE last_success IS NOT NULL LIMIT 1").fetchone() is not None

    # -- alerts and the notification log ---------------------------------------------------------------

    def load_alerts(self) -> dict[str, Alert]:
        with self._reading() as db:
            rows = db.execute("SELECT fingerprint, body FROM alerts").fetchall()
        with self._alerts_lock:
            return self._alerts.decode(rows)

    def save_alerts(
        self,
        alerts: Mapping[str, Alert],
        stored: Mapping[str, Alert] | None = None,
        encode: Callable[[Alert], str] = alert_to_json,
    ) -> None:
        """Make the alert state ``alerts`` (what advance() returned), writing only what changed: new and
        changed rows, the gone ones deleted, in one transaction (with ``stored``, the rows the same as it
        are not even encoded)."""
        changed = [a for fp, a in alerts.items() if stored is None or stored.get(fp) != a]
        with self._transaction() as db:
            if stored is None:
                db.execute("DELETE FROM alerts WHERE NOT (fingerprint = ANY(%s))", (list(alerts),))
            else:
                db.execute(
                    "DELETE FROM alerts WHERE fingerprint = ANY(%s)", ([fp for fp in stored if fp not in alerts],)
                )
            with db.cursor() as c:
                c.executemany(
                    "INSERT INTO alerts (fingerprint, rule, state, body) VALUES (%s,%s,%s,%s) "
                    "ON CONFLICT (fingerprint) DO UPDATE SET rule = EXCLUDED.rule, state = EXCLUDED.state, "
                    "body = EXCLUDED.body WHERE alerts.body IS DISTINCT FROM EXCLUDED.body",
                    [(a.fingerprint, a.rule, a.state.value, encode(a)) for a in changed],
                )
            # an alert gone from the store keeps its log while news of it is queued: its thread is still needed
            db.execute(
                "DELETE FROM notification_log WHERE fingerprint NOT IN (SELECT fingerprint FROM alerts) "
                "AND fingerprint NOT IN (SELECT fingerprint FROM outbox)"
            )

    def log_entry(self, fingerprint: str, notifier: str, episode: datetime | None = None) -> LogEntry | None:
        """The entry of ``episode`` (the thread its news replies in), or else the last one written."""
        with self._reading() as db:
            row = pg_queues.log_entry(db, fingerprint, notifier, episode)
        return log_entry_from_row(row) if row is not None else None

    def log_entries(self, fingerprints: Collection[str]) -> dict[tuple[str, str], LogEntry]:
        if not fingerprints:
            return {}
        with self._reading() as db:
            rows = pg_queues.log_entries(db, list(dict.fromkeys(fingerprints)))
        entries: dict[tuple[str, str], LogEntry] = {}
        for row in rows:
            entry = log_entry_from_row(row)
            entries[entry.fingerprint, entry.notifier] = entry  # the last one written wins
        return entries

    def record_sent(self, entry: LogEntry) -> None:
        """Written only after a successful send: a crash before it means a resend, never a loss."""
        with self._transaction() as db:
            pg_queues.record_sent(db, entry)

    # -- the outbox ------------------------------------------------------------------------------------

    def outbox_enqueue(self, news: Sequence[News], now: datetime, fold: Fold) -> None:
        with self._transaction() as db:
            pg_queues.enqueue(db, news, now, fold)

    def outbox_tail(self, fingerprint: str, notifier: str) -> QueuedNews | None:
        with self._reading() as db:
            return pg_queues.tail(db, fingerprint, notifier)

    def outbox_rows(self, due_at: datetime | None = None) -> list[QueuedNews]:
        with self._reading() as db:
            return pg_queues.rows(db, due_at)

    def outbox_complete(self, sent: Sequence[tuple[int, LogEntry]]) -> None:
        with self._transaction() as db:
            pg_queues.complete(db, sent)

    def outbox_claim(self, row_ids: Sequence[int], by: str) -> dict[int, str | None]:
        """Record that ``by`` is sending these rows (with the fence's token), in the fenced transaction."""
        fence = current_fence()
        with self._transaction() as db:
            return pg_queues.claim(db, row_ids, by, fence.token if fence is not None else None)

    def outbox_reschedule(self, row_id: int, when: datetime, error: str) -> None:
        with self._transaction() as db:
            pg_queues.reschedule(db, row_id, when, error)

    def outbox_hold(self, notifier: str) -> None:
        with self._transaction() as db:
            pg_queues.hold(db, notifier)

    def outbox_drop(self, row_id: int) -> None:
        with self._transaction() as db:
            pg_queues.drop(db, row_id)

    # -- silences --------------------------------------------------------------------------------------

    def add_silence(self, silence: SilenceRecord) -> None:
        with self._transaction() as db:
            pg_queues.add_silence(db, silence)

    def silences(self) -> list[SilenceRecord]:
        with self._reading() as db:
            return pg_queues.silences(db)

    def end_silence(self, silence_id: str, at: datetime) -> None:
        with self._transaction() as db:
            pg_queues.end_silence(db, silence_id, at)

    def add_action(self, action: ActionRecord) -> None:
        with self._transaction() as db:
            pg_queues.add_action(db, action)

    def actions(self, since: datetime) -> list[ActionRecord]:
        with self._reading() as db:
            return pg_queues.actions(db, since)

    # -- KPI history -----------------------------------------------------------------------------------

    def record_kpis(self, now: datetime, values: Mapping[str, Mapping[str, float]]) -> None:
        with self._transaction() as db:
            pg_history.record(db, now, values)

    def kpi_rows(self, since: datetime, until: datetime) -> dict[str, list[tuple[float, dict[str, float]]]]:
        with self._reading() as db:
            return pg_history.rows(db, since, until)

    def kpis_at(self, moment: datetime, gap: timedelta) -> dict[str, tuple[float, dict[str, float]]]:
        with self._reading() as db:
            return pg_history.last_before(db, moment, gap)

    def kpi_scopes(self) -> list[str]:
        with self._reading() as db:
            return pg_history.scopes(db)

    def kpi_row_count(self) -> int:
        with self._reading() as db:
            return pg_history.count(db)


def _write_tickets(db: Db, tickets: Sequence[Ticket | StoredTicket]) -> None:
    """Upsert tickets (or what a sync built of them, ``stored_ticket``) inside the caller's transaction,
    the one writer of ticket rows (pages and hooks): COPY into a session table, the change log's step
    (postgres/changelog.py), one INSERT ... ON CONFLICT that rewrites only tickets new or changed (a
    ticket twice in a page: the later wins), then the tags of those replaced by COPY."""
    page = stored_by_key(tickets)
    db.execute(_PAGE_TABLE)
    with db.cursor() as c:
        with c.copy(f"COPY page_in ({TICKET_COLUMNS}) FROM STDIN") as copy:
            for row, _ in page.values():
                copy.write_row(row)
        pg_changelog.record(db)  # the change log's step: the page against the rows stored before it
        changed = [(h, i) for h, i in c.execute(_MERGE_PAGE).fetchall()]
        c.execute(_DROP_TAGS, ([h for h, _ in changed], [i for _, i in changed]))
        with c.copy("COPY ticket_tags (helpdesk, id, tag) FROM STDIN") as copy:
            for key in changed:
                for tag in tag_rows(page[key]):
                    copy.write_row(tag)


def _placeholders(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` escaped first)."""
    return sql.replace("%", "%%").replace("?", "%s")
