"""The store: the only package that speaks SQL. ``Store`` is what the rest of the code may ask of it.

Every operation is in domain terms (a page and its cursor, a poll, the alerts, the notification log,
the outbox's queued news, silences, KPI history), so the daemon, delivery, the CLI and the web server
work with any implementation: ``SqliteStore`` (sqlite/, the embedded default) or ``PostgresStore``
(postgres/, the shared one).
``backlog_watch.store.testing`` is the conformance suite each implementation passes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from backlog_watch.errors import StoreError
from backlog_watch.models import Alert, LogEntry, PollStatus, Snapshot, Ticket
from backlog_watch.store.codec import StoredTicket, alert_to_json
from backlog_watch.store.records import ActionRecord, AsOf, Fold, News, QueuedNews, SilenceRecord
from backlog_watch.store.urls import is_postgres, redact_url

if TYPE_CHECKING:
    from backlog_watch.store.read_model import ReadModel

__all__ = [
    "ActionRecord",
    "AsOf",
    "Fold",
    "News",
    "QueuedNews",
    "SilenceRecord",
    "SqlStore",
    "Store",
    "StoreError",
    "copy_store",
    "open_store",
    "rewind_copy",
]


class Store(Protocol):
    """What the rest of backlog-watch needs from a store. Writes raise ``StoreError`` (one line)."""

    failing: str | None
    """Why the last write failed, or None once a write succeeds again (/readyz and the daemon read it)."""

    def close(self) -> None: ...

    def probe_write(self) -> None:
        """Take a write now, so a store that cannot be written is found before the first poll."""
        ...

    def copy_to(self, path: Path) -> None:
        """A consistent copy of everything stored, as a SQLite file at ``path`` (a dry run works on it)."""
        ...

    def read_model(self) -> ReadModel:
        """The queries reports, the wallboard, /api/backlog and /metrics share (store/read_model.py)."""
        ...

    # -- tickets and cursors -----------------------------------------------------------------------

    def cursor(self, helpdesk: str) -> str | None: ...

    def encode_tickets(self, tickets: Sequence[Ticket | StoredTicket]) -> list[StoredTicket]:
        """What the store writes of these tickets (rows.py ``StoredTicket``; one a connector built already
        stays as it is), built now, in the caller's thread: a sync hands these to ``commit_page``
        (sources/connector.py ``EncodesTickets``)."""
        ...

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket | StoredTicket], cursor: str | None) -> None:
        """Upsert the tickets (or their ``encode_tickets``) and advance the cursor in ONE transaction:
        after a crash the cursor never points past data the store does not have."""
        ...

    def commit_tickets(self, tickets: Sequence[Ticket]) -> None:
        """Upsert tickets read outside the change stream (a hook named them) in ONE transaction, leaving
        the cursor as it is: the stream still owes everything after it."""
        ...

    def tickets(self, helpdesks: Iterable[str] | None = None, *, open_only: bool = True) -> list[Ticket]: ...

    def recently_solved(self, since: datetime, helpdesks: Iterable[str]) -> list[Ticket]: ...

    def snapshot(self, now: datetime, helpdesks: Sequence[str], solved_window: timedelta = ...) -> Snapshot:
        """The open tickets of these helpdesks, those solved within ``solved_window``, and which of
        them have never been polled successfully (stale)."""
        ...

    def count_tickets(self, helpdesk: str | None = None) -> int: ...

    # -- the ticket change log (store/changelog.py: written by commit_page and commit_tickets) ----------

    def tickets_as_of(self, moment: datetime, helpdesks: Iterable[str] | None = None) -> AsOf:
        """Every ticket that existed at ``moment`` (open and solved), with its tracked fields as they were
        then, and since when the log is exact (before it the answer is approximate)."""
        ...

    def ticket_changes(
        self, since: datetime, until: datetime, helpdesks: Iterable[str] | None = None
    ) -> list[tuple[datetime, Ticket]]:
        """Each ticket's state right after each change recorded in (since, until], in time order."""
        ...

    # -- polls -------------------------------------------------------------------------------------

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
        """Remember how a poll went; ``failures`` counts consecutive errors, an outage starts when its
        first failed poll started."""
        ...

    def poll_status(self, helpdesk: str) -> PollStatus: ...

    def poll_statuses(self, helpdesks: Iterable[str]) -> dict[str, PollStatus]:
        """``poll_status`` of each helpdesk, read at once (an evaluation of a thousand helpdesks asks them all)."""
        ...

    def any_poll_succeeded(self) -> bool:
        """Whether any helpdesk was ever polled successfully (a report of an empty store would lie)."""
        ...

    # -- alerts and the notification log -----------------------------------------------------------

    def load_alerts(self) -> dict[str, Alert]: ...

    def save_alerts(
        self,
        alerts: Mapping[str, Alert],
        stored: Mapping[str, Alert] | None = None,
        encode: Callable[[Alert], str] = alert_to_json,
    ) -> None:
        """Make ``alerts`` the alert state, in one transaction, writing only the rows that changed (an
        evaluation changes few): new and changed ones written, gone ones deleted, the rest left as they
        are. Log entries of alerts gone (and with no queued news) go too. ``stored``: what the table
        holds, when the caller knows it (the evaluator, its one writer, keeps what it saved last): only
        the alerts that differ from it are encoded and sent, only those gone from it deleted. ``encode``:
        an alert's body (an evaluation's ``AlertBodies``, shared with the outbox rows it queues)."""
        ...

    def log_entry(self, fingerprint: str, notifier: str, episode: datetime | None = None) -> LogEntry | None:
        """The entry of ``episode`` (the thread its news replies in), or else the last one written."""
        ...

    def log_entries(self, fingerprints: Collection[str]) -> dict[tuple[str, str], LogEntry]:
        """The last entry written for each (fingerprint, notifier) of these alerts, in one query (an
        evaluation plans thousands of alert+notifier pairs: not a round trip each)."""
        ...

    def record_sent(self, entry: LogEntry) -> None:
        """Log a send (only after it succeeded); older episodes' entries no queued news needs go."""
        ...

    # -- the outbox --------------------------------------------------------------------------------

    def outbox_enqueue(self, news: Sequence[News], now: datetime, fold: Fold) -> None:
        """Append each news behind the queue of its alert and notifier, in ONE transaction; ``fold``
        may instead rewrite the row waiting last (it returns the reason to give it)."""
        ...

    def outbox_tail(self, fingerprint: str, notifier: str) -> QueuedNews | None:
        """The news queued last for this alert and notifier."""
        ...

    def outbox_rows(self, due_at: datetime | None = None) -> list[QueuedNews]:
        """Queued news in queue order; only what is due at ``due_at`` when given."""
        ...

    def outbox_complete(self, sent: Sequence[tuple[int, LogEntry]]) -> None:
        """Log each delivery and delete its row, all in ONE transaction (the at-least-once boundary)."""
        ...

    def outbox_claim(self, row_ids: Sequence[int], by: str) -> dict[int, str | None]:
        """Record that replica ``by`` is about to send these rows (a shared store keeps who and under
        which lease token; until ``outbox_complete`` a crash leaves the claim behind). Per row still
        queued: the replica whose earlier claim never completed (its send may have landed, so this one
        is a redelivery), or None. A row missing from the answer is gone: it must not be sent."""
        ...

    def outbox_reschedule(self, row_id: int, when: datetime, error: str) -> None:
        """Count a failed attempt and set when the next one is due (a claim ends with it)."""
        ...

    def outbox_hold(self, notifier: str) -> None:
        """Mark every row of the notifier held (its quiet hours are on)."""
        ...

    def outbox_drop(self, row_id: int) -> None: ...

    # -- silences ----------------------------------------------------------------------------------

    def add_silence(self, silence: SilenceRecord) -> None: ...

    def silences(self) -> list[SilenceRecord]:
        """Every silence, expired ones too, oldest first."""
        ...

    def end_silence(self, silence_id: str, at: datetime) -> None:
        """Make the silence end at ``at`` (a silence already ended is left as it is)."""
        ...

    # -- actions on alerts -------------------------------------------------------------------------

    def add_action(self, action: ActionRecord) -> None: ...

    def actions(self, since: datetime) -> list[ActionRecord]:
        """The actions taken at or after ``since``, oldest first."""
        ...

    # -- KPI history -------------------------------------------------------------------------------

    def record_kpis(self, now: datetime, values: Mapping[str, Mapping[str, float]]) -> None:
        """Store ``{scope key: {metric: value}}`` at now, in place of each scope's row of the same 5
        minutes (epoch-aligned buckets), then thin aged rows when it is time."""
        ...

    def kpi_rows(self, since: datetime, until: datetime) -> dict[str, list[tuple[float, dict[str, float]]]]:
        """Per scope key, the rows in [since, until] as (epoch seconds, kpis), oldest first."""
        ...

    def kpis_at(self, moment: datetime, gap: timedelta) -> dict[str, tuple[float, dict[str, float]]]:
        """Per scope key, the last row in (moment - gap, moment]."""
        ...

    def kpi_scopes(self) -> list[str]: ...

    def kpi_row_count(self) -> int: ...


class SqlStore(Store, Protocol):
    """A store that also answers SQL: what the read model (read_model.py), the rules' aggregates
    (aggregate.py) and the copier (transfer.py) speak to. Queries are written with ``?`` placeholders in
    SQL both engines run; the copier's one difference (which column orders rows as written) goes by
    ``dialect``."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]: ...

    def load_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Append rows to a table as they are, in ONE transaction (the copier's write)."""
        ...

    def clear(self) -> None:
        """Delete every row of every table; the schema stays."""
        ...


def open_store(url: str) -> SqlStore:
    """The store a config's ``store:`` URL names: ``sqlite:///relative.db``, ``sqlite:////abs.db`` or
    ``postgresql://user:password@host/db`` (migrated at open; its password is never shown)."""
    scheme = url.split("://", 1)[0] if "://" in url else url
    if scheme == "sqlite" and url.startswith("sqlite:///"):
        from backlog_watch.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    if is_postgres(url):
        return _postgres(url)
    raise StoreError(f'store "{scheme}://..." is not supported (use sqlite:///path or postgresql://user@host/db)')


def _postgres(url: str, *, migrate_schema: bool = True) -> SqlStore:
    try:
        from backlog_watch.store.postgres import PostgresStore
    except ImportError as exc:  # the optional extra is missing
        raise StoreError(
            f"store {redact_url(url)} needs the postgres extra: pip install 'backlog-watch[postgres]' ({exc.name})"
        ) from None
    return PostgresStore(url, migrate_schema=migrate_schema)


def copy_store(url: str, path: Path) -> None:
    """Copy the store at ``url`` to a SQLite file at ``path`` without writing to it (not even a
    migration): a dry run starts from the real state and throws its changes away with the copy.
    A store that does not exist yet leaves nothing at ``path``."""
    if url.startswith("sqlite:///"):
        from backlog_watch.store.sqlite import copy_file

        copy_file(Path(url.removeprefix("sqlite:///")), path)
        return
    store = _postgres(url, migrate_schema=False) if is_postgres(url) else open_store(url)
    try:
        store.copy_to(path)
    finally:
        store.close()


def rewind_copy(path: Path, moment: datetime, helpdesks: Iterable[str] | None = None) -> AsOf:
    """Make the scratch copy at ``path`` (``copy_store``'s) hold the store as it was at ``moment``, as far
    as the change log and the KPI history tell (``SqliteStore.rewind``); what ``tickets_as_of`` said."""
    from backlog_watch.store.sqlite import SqliteStore

    copy = SqliteStore(path)
    try:
        return copy.rewind(moment, helpdesks)
    finally:
        copy.close()
