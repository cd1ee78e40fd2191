"""What a connector is, how one is found (entry points), and the sync loop the framework owns.

A connector knows one vendor's API: ``fetch`` yields pages of raw records with the cursor that resumes
after each page, ``normalize`` turns one raw record into a Ticket. Everything else (saving the cursor
with the data it covers, skipping malformed records, detecting pagination loops) is done here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import httpx

from backlog_watch.errors import MalformedRecord, StoreError
from backlog_watch.models import Status, Ticket
from backlog_watch.plugins import entry_points
from backlog_watch.rows import StoredTicket, stored
from backlog_watch.sources.paginator import RepeatGuard
from backlog_watch.sources.settings import HelpdeskSettings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "backlog_watch.connectors"

Built = TypeVar("Built")

Cursor = str
"""An opaque position in a helpdesk's change stream, serialized by its connector."""


@dataclass(frozen=True)
class Page:
    """One page of raw records and the cursor that resumes right after it."""

    records: Sequence[Any]
    """What ``normalize`` takes: JSON objects, or the connector's typed records (``wire_record``)."""
    cursor: Cursor | None
    done: bool = False
    open_ids: frozenset[str] | None = None
    """Set by a reconciliation: every ticket id the helpdesk still has open. A stored open ticket not
    among them (and not in this page) is only *absent*: the framework asks the connector to confirm it
    (``ConfirmsAbsence``) before it leaves the backlog. For APIs such as Jira's search, where deleted
    records just disappear; a record that says it is deleted (a tombstone) is normalized as such instead."""
    listing_problem: str | None = None
    """Set instead of ``open_ids`` when the listing cannot be trusted (a malformed page): nothing is removed."""


@dataclass(frozen=True)
class Confirmation:
    """What direct reads of the tickets absent from a listing found, by stored ticket id."""

    gone: frozenset[str] = frozenset()
    """Confirmed deleted: the helpdesk answered 404 (or a bulk read did not return them)."""
    present: Sequence[Mapping[str, Any]] = ()
    """Raw records, read fresh, of tickets still in the queue (the listing lagged): upserted as read."""
    left: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Stored id -> the raw record, read fresh, of a ticket that exists but left this helpdesk's queue."""


@runtime_checkable
class ConfirmsAbsence(Protocol):
    """A connector that infers deletion from absence must confirm each absence with a direct read."""

    async def confirm_absent(self, ids: Sequence[str]) -> Confirmation:
        """Read the stored tickets ``ids`` (absent from the last listing) and say what became of them;
        an id in none of the three answers stays as stored."""
        ...


@runtime_checkable
class Assigns(Protocol):
    """A connector that can assign a ticket to an agent ("Take oldest" from Slack)."""

    async def assign(self, ticket_id: str, agent_email: str) -> str:
        """Assign the ticket to the agent with this email and return the agent's name; raise
        RequestError when no agent has it or the ticket is unknown, AuthError when the credentials may
        not write (the helpdesk's refusal, as its message)."""
        ...


@runtime_checkable
class Connector(Protocol):
    """One helpdesk vendor. Instances are built with their settings and a shared httpx client."""

    kind: ClassVar[str]
    Settings: ClassVar[type[HelpdeskSettings]]

    settings: HelpdeskSettings

    def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        """Yield the records changed since ``since`` (everything when None), page by page."""
        ...

    def normalize(self, raw: Any) -> Ticket:
        """Turn one raw record (a JSON object, or the connector's typed record) into a Ticket; raise
        MalformedRecord when it cannot."""
        ...


@runtime_checkable
class ReadsTickets(Protocol):
    """A connector that reads named tickets directly, without the lag of its change stream: what a hook
    naming tickets (a Zendesk trigger's ``{{ticket.id}}``) is answered with."""

    listing_lag: ClassVar[float]
    """Seconds a change takes to show in ``fetch`` (Zendesk's export hides the last minute, so 61): a
    hook that names no ticket asks one more poll this long after it. 0: the stream has no lag."""

    async def fetch_ids(self, ids: Sequence[str]) -> list[Any]:
        """The raw records of ``ids`` as the helpdesk has them now, for ``normalize``; a ticket it no
        longer returns (deleted) is left out, not reported."""
        ...


class ConnectorFactory(Protocol):
    kind: ClassVar[str]
    Settings: ClassVar[type[HelpdeskSettings]]

    def __call__(self, settings: Any, client: httpx.AsyncClient) -> Connector: ...


def available_connectors() -> dict[str, ConnectorFactory]:
    """Every connector installed under the ``backlog_watch.connectors`` entry-point group, by kind."""
    found: dict[str, ConnectorFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.load()
    return found


class CommitPages(Protocol):
    """The part of the store the sync loop needs."""

    def cursor(self, helpdesk: str) -> Cursor | None: ...

    def commit_page(self, helpdesk: str, tickets: Sequence[Any], cursor: Cursor | None) -> None:
        """Store the tickets (or what ``EncodesTickets.encode_tickets`` made of them) with the cursor."""
        ...


@runtime_checkable
class EncodesTickets(Protocol):
    """A store that writes tickets as ``StoredTicket`` rows (rows.py) and whose ``commit_page`` takes them:
    the sync builds them as soon as a page is read (straight from the records when the connector
    ``StoresRows``), so the tickets waiting for a write are plain values rather than models the cycle
    collector walks again at every collection, and a cold sync builds no Ticket per record."""

    def encode_tickets(self, tickets: Sequence[Ticket | StoredTicket]) -> list[Any]:
        """Each Ticket as ``StoredTicket`` (rows.py), each StoredTicket as it is."""
        ...


class CommitTickets(Protocol):
    """The part of the store a direct read of named tickets needs."""

    def commit_tickets(self, tickets: Sequence[Ticket]) -> None: ...


@dataclass
class SyncResult:
    """What one poll of one helpdesk did."""

    helpdesk: str
    pages: int = 0
    stored: int = 0
    skipped: int = 0
    skipped_ids: list[str] = field(default_factory=list)


@runtime_checkable
class StoresRows(Protocol):
    """A connector that turns a record straight into what the store writes (``HttpConnector.stored``)."""

    def stored(self, raw: Any) -> StoredTicket:
        """``normalize``, as the store writes the Ticket (rows.py); MalformedRecord when it cannot."""
        ...


def normalize_page(connector: Connector, records: Sequence[Any]) -> tuple[list[Ticket], list[str]]:
    """Normalize every record; a malformed one is logged, counted and skipped, never fatal."""
    return _each_record(connector, records, connector.normalize)


def stored_page(connector: Connector, records: Sequence[Any]) -> tuple[list[StoredTicket], list[str]]:
    """``normalize_page``, as the store writes the tickets (``StoredTicket``): built straight from the
    records by a connector that ``StoresRows``, from its Tickets otherwise."""
    if isinstance(connector, StoresRows):
        return _each_record(connector, records, connector.stored)
    return _each_record(connector, records, lambda raw: stored(connector.normalize(raw)))


def _each_record(
    connector: Connector, records: Sequence[Any], build: Callable[[Any], Built]
) -> tuple[list[Built], list[str]]:
    """``build`` of every record; a malformed one is logged, counted and skipped, never fatal."""
    tickets: list[Built] = []
    skipped: list[str] = []
    name = connector.settings.name
    for raw in records:
        try:
            tickets.append(build(raw))
        except MalformedRecord as exc:
            record_id = exc.record_id or (str(raw.get("id", "?")) if isinstance(raw, Mapping) else "?")
            skipped.append(record_id)
            log.warning("skipped malformed record %s: %s", record_id, exc, extra={"helpdesk": name})
    return tickets, skipped


MAX_REMOVED_SHARE = 0.1
"""A listing that would take more than this share of the open backlog away removes nothing: a short or
broken listing must never erase a backlog (one absent ticket is always looked at, however small it is)."""


async def reconcile(connector: Connector, store: CommitPages, page: Page, listed: set[str]) -> list[Ticket]:
    """The stored open tickets absent from a listing (``page.open_ids`` plus ``listed``, the ids of this
    sync's pages), as what a direct read of each confirms: deleted, left the queue, or still there.

    Absence alone proves nothing (index lag, a short page), so nothing is removed without a confirmation,
    nor when the listing is malformed or would remove more than a tenth of the open backlog.
    """
    helpdesk = connector.settings.name
    if page.listing_problem is not None or page.open_ids is None:
        log.warning(
            "reconciliation skipped, nothing deleted: %s",
            page.listing_problem or "no listing",
            extra={"helpdesk": helpdesk},
        )
        return []
    stored = getattr(store, "tickets", None)
    if stored is None:
        raise TypeError(f"{type(store).__name__} cannot list tickets: it cannot reconcile {helpdesk}")
    backlog = {t.id: t for t in stored([helpdesk])}
    absent = sorted(backlog.keys() - page.open_ids - listed)
    if not absent:
        return []
    if len(absent) > 1 and len(absent) > MAX_REMOVED_SHARE * len(backlog):
        log.warning(
            "reconciliation skipped, nothing deleted: the listing lacks %d of %d open tickets "
            "(more than %d%%), which looks like a broken listing rather than deletions",
            len(absent),
            len(backlog),
            int(MAX_REMOVED_SHARE * 100),
            extra={"helpdesk": helpdesk},
        )
        return []
    if not isinstance(connector, ConfirmsAbsence):
        log.warning(
            "%d open tickets are missing from the listing, but %s cannot confirm a deletion: kept",
            len(absent),
            type(connector).__name__,
            extra={"helpdesk": helpdesk},
        )
        return []
    return _confirmed(connector, backlog, await connector.confirm_absent(absent))


def _confirmed(connector: Connector, backlog: Mapping[str, Ticket], found: Confirmation) -> list[Ticket]:
    """The tickets to commit for what ``confirm_absent`` found."""
    helpdesk = connector.settings.name
    gone = [backlog[i].model_copy(update={"status": Status.DELETED}) for i in sorted(found.gone) if i in backlog]
    if gone:
        log.info(
            "%d open tickets were deleted (confirmed by a direct read): %s",
            len(gone),
            ", ".join(t.id for t in gone),
            extra={"helpdesk": helpdesk},
        )
    fresh, _ = normalize_page(connector, found.present)
    moved: list[Ticket] = []
    for stored_id, raw in sorted(found.left.items()):
        read, _ = normalize_page(connector, [raw])
        base = read[0] if read else backlog[stored_id]
        moved.append(base.model_copy(update={"id": stored_id, "status": Status.MOVED}))
    if moved:
        log.info(
            "%d open tickets left this helpdesk's queue (they exist, but its query no longer selects "
            "them): out of the backlog as moved: %s",
            len(moved),
            ", ".join(t.id for t in moved),
            extra={"helpdesk": helpdesk},
        )
    return [*gone, *fresh, *moved]


async def sync(connector: Connector, store: CommitPages) -> SyncResult:
    """Fetch everything new since the stored cursor; each page is committed with its cursor.

    The next page is asked for before this one is normalized and stored (every cursor so far is in
    the page body or its links, not in the store), so the helpdesk builds it while we work: a cold sync
    takes about the longer of the two, not their sum. A page that reconciles is the exception: its
    direct reads go first, so a connector never has two requests in flight.

    Pages are written by ``PageWriter``, off the event loop: the daemon's other helpdesks and its web
    server go on while SQLite writes, and pages that arrive during a write go into the next transaction
    with the cursor of the last of them (a cold sync commits fewer, larger transactions; the cursor
    never points past what is stored). Pages read before a failure are stored before it is raised.
    """
    name = connector.settings.name
    result = SyncResult(helpdesk=name)
    since = store.cursor(name)
    cursors = RepeatGuard(name, "the cursor", start=since)
    listed: set[str] = set()
    writer = PageWriter(store, name)
    pages = aiter(connector.fetch(since))
    following: asyncio.Future[Page | None] | None = asyncio.ensure_future(anext(pages, None))
    try:
        while following is not None and (page := await writer.alongside(following)) is not None:
            if not page.done:
                cursors.see(page.cursor)
            reconciles = page.open_ids is not None or page.listing_problem is not None
            following = None if reconciles else asyncio.ensure_future(anext(pages, None))
            tickets, skipped = await _normalize_yielding(connector, page.records, rows=writer.encodes)
            listed.update(t.id if isinstance(t, Ticket) else str(t[0][1]) for t in tickets)
            if reconciles:
                await writer.drain()  # the reconciliation reads the stored backlog: every page before is in it
                tickets += await reconcile(connector, store, page, listed)
                following = asyncio.ensure_future(anext(pages, None))
            # An absent cursor keeps the previous position: the upsert makes re-reading harmless.
            await writer.add(tickets, page.cursor if page.cursor is not None else since)
            result.pages += 1
            result.stored += len(tickets)
            result.skipped += len(skipped)
            result.skipped_ids.extend(skipped)
            if page.cursor is not None:
                since = page.cursor
        await writer.drain()
    except StoreError:
        raise
    except Exception:
        await writer.salvage()
        raise
    finally:
        if following is not None:  # a failure above: stop the read-ahead (and retrieve what it raised)
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await following
        await writer.settle()
    return result


COMMIT_MOST = 10_000
"""Tickets at most waiting for a write: a sync that reads faster than the store writes waits here."""
COMMIT_LEAST = 5_000
"""Tickets a write waits for before it starts (the last write of a sync takes what is left). A commit
costs the B-tree pages it dirties, and a cold sync's tickets land all over its indexes (the export is in
update order, not id order): 1,000 tickets dirty about as many pages as 5,000. At 1,000 per write, COMMIT
was a third of the SQL of a cold sync of 100k tickets; at 5,000 it is 40% of what it was."""


class PageWriter:
    """Commits a sync's pages with their cursors in a worker thread, one transaction at a time.

    ``add`` hands over a page and its cursor: written once ``COMMIT_LEAST`` tickets wait and no write is
    running, with the pages before and after it, in ONE transaction with the last cursor (a page and the
    cursor after it stay atomic); ``drain`` writes what is left. The event loop only waits when
    ``COMMIT_MOST`` tickets are waiting, or in ``drain``.
    """

    def __init__(self, store: CommitPages, helpdesk: str) -> None:
        self.store = store
        self.helpdesk = helpdesk
        self.encodes = isinstance(store, EncodesTickets)
        """Whether the store takes ``StoredTicket`` rows (then the sync builds them, not Tickets)."""
        self.encode: Callable[[Sequence[Ticket | StoredTicket]], Sequence[Any]] = (
            store.encode_tickets if isinstance(store, EncodesTickets) else list
        )
        self.waiting: list[Any] = []
        """Tickets as the store will write them (``EncodesTickets``), or as they are."""
        self.cursor: Cursor | None = None
        self.pages = 0
        self.running: asyncio.Future[None] | None = None

    async def add(self, tickets: Sequence[Ticket | StoredTicket], cursor: Cursor | None) -> None:
        self.waiting += self.encode(tickets)
        self.cursor = cursor
        self.pages += 1
        if self.running is not None and self.running.done():
            await self._finished()
        if self.running is not None and len(self.waiting) >= COMMIT_MOST:
            await self._finished()
        if self.running is None and len(self.waiting) >= COMMIT_LEAST:
            self._start()

    async def alongside(self, following: asyncio.Future[Page | None]) -> Page | None:
        """The next page; a write failing meanwhile raises its StoreError at once, not after the page."""
        running = self.running
        if running is not None and not following.done():
            await asyncio.wait((following, running), return_when=asyncio.FIRST_COMPLETED)
            if running.done() and not running.cancelled() and running.exception() is not None:
                await self._finished()
        return await following

    async def drain(self) -> None:
        """Return once every page handed over is committed (a failed write raises its StoreError)."""
        await self._finished()
        if self.pages:
            self._start()
            await self._finished()

    async def salvage(self) -> None:
        """After a failure to read or normalize: commit the pages read before it (the caller raises the
        failure; a store failing here too is logged, and said again by the next write)."""
        try:
            await self.drain()
        except StoreError as exc:
            log.warning("pages read before the failure not stored: %s", exc, extra={"helpdesk": self.helpdesk})

    async def settle(self) -> None:
        """Wait for a write still running (a cancelled sync: its transaction finishes, whole, in its thread)."""
        if self.running is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.running)

    def _start(self) -> None:
        tickets, cursor = self.waiting, self.cursor
        self.waiting, self.pages = [], 0
        self.running = asyncio.ensure_future(asyncio.to_thread(self.store.commit_page, self.helpdesk, tickets, cursor))

    async def _finished(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            await running


NORMALIZE_SLICE = 100
"""Records normalized between two turns of the event loop: the read-ahead request goes out (and the
daemon's web server answers) while a 1000-record page is being normalized."""


async def _normalize_yielding(
    connector: Connector, records: Sequence[Any], *, rows: bool
) -> tuple[list[Ticket | StoredTicket], list[str]]:
    """The page's tickets (as the store writes them, when ``rows``), a slice between two turns of the loop."""
    tickets: list[Ticket | StoredTicket] = []
    skipped: list[str] = []
    each = stored_page if rows else normalize_page
    for start in range(0, len(records), NORMALIZE_SLICE):
        await asyncio.sleep(0)
        read, bad = each(connector, records[start : start + NORMALIZE_SLICE])
        tickets += read
        skipped += bad
    return tickets, skipped


async def read_named(connector: Connector, store: CommitTickets, ids: Sequence[str]) -> SyncResult:
    """Read the tickets ``ids`` now and store them, the cursor untouched.

    The change stream still brings them (later) in its turn, so nothing is lost or doubled. A ticket the
    read does not return is left as stored: a deletion is for the stream or the reconciliation to say.
    """
    if not isinstance(connector, ReadsTickets):
        raise TypeError(f"{type(connector).__name__} cannot read tickets by id")
    tickets, skipped = normalize_page(connector, await connector.fetch_ids(ids))
    store.commit_tickets(tickets)
    return SyncResult(connector.settings.name, 1, len(tickets), len(skipped), skipped)
