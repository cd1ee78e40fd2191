"""What a connector is, how one is found (entry points), and the sync loop the framework owns.

A connector knows one vendor's API: ``fetch`` yields pages of raw records with the cursor that resumes
after each page, ``normalize`` turns one raw record into a Ticket. Everything else (saving the cursor
with the data it covers, skipping malformed records, detecting pagination loops) is done here, once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from backlog_watch.errors import MalformedRecord, PaginationError
from backlog_watch.models import Status, Ticket
from backlog_watch.settings import HelpdeskSettings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "backlog_watch.connectors"

Cursor = str
"""An opaque position in a helpdesk's change stream, serialized by its connector."""


@dataclass(frozen=True)
class Page:
    """One page of raw records and the cursor that resumes right after it."""

    records: Sequence[Mapping[str, Any]]
    cursor: Cursor | None
    done: bool = False
    open_ids: frozenset[str] | None = None
    """Set by a reconciliation: every ticket id the helpdesk still has open. A stored open ticket not
    among them (and not in this page) is gone (deleted, or moved out of the query) and is marked deleted:
    for APIs such as Jira's search, where deleted records just disappear."""


@runtime_checkable
class Connector(Protocol):
    """One helpdesk vendor. Instances are built with their settings and a shared httpx client."""

    kind: ClassVar[str]
    Settings: ClassVar[type[HelpdeskSettings]]

    settings: HelpdeskSettings

    def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        """Yield the records changed since ``since`` (everything when None), page by page."""
        ...

    def normalize(self, raw: Mapping[str, Any]) -> Ticket:
        """Turn one raw record into a Ticket; raise MalformedRecord when it cannot."""
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

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket], cursor: Cursor | None) -> None: ...


@dataclass
class SyncResult:
    """What one poll of one helpdesk did."""

    helpdesk: str
    pages: int = 0
    stored: int = 0
    skipped: int = 0
    skipped_ids: list[str] = field(default_factory=list)


def normalize_page(connector: Connector, records: Sequence[Mapping[str, Any]]) -> tuple[list[Ticket], list[str]]:
    """Normalize every record; a malformed one is logged, counted and skipped, never fatal."""
    tickets: list[Ticket] = []
    skipped: list[str] = []
    name = connector.settings.name
    for raw in records:
        try:
            tickets.append(connector.normalize(raw))
        except MalformedRecord as exc:
            record_id = exc.record_id or str(raw.get("id", "?")) if isinstance(raw, Mapping) else "?"
            skipped.append(record_id)
            log.warning("skipped malformed record %s: %s", record_id, exc, extra={"helpdesk": name})
    return tickets, skipped


def vanished(store: CommitPages, helpdesk: str, open_ids: frozenset[str]) -> list[Ticket]:
    """The stored open tickets of ``helpdesk`` missing from ``open_ids``, now marked deleted."""
    stored = getattr(store, "tickets", None)
    if stored is None:
        raise TypeError(f"{type(store).__name__} cannot list tickets: it cannot reconcile {helpdesk}")
    gone = [t for t in stored([helpdesk]) if t.id not in open_ids]
    if gone:
        log.info("%d open tickets no longer exist: marked deleted", len(gone), extra={"helpdesk": helpdesk})
    return [t.model_copy(update={"status": Status.DELETED}) for t in gone]


async def sync(connector: Connector, store: CommitPages) -> SyncResult:
    """Fetch everything new since the stored cursor; each page is committed with its cursor."""
    name = connector.settings.name
    result = SyncResult(helpdesk=name)
    since = store.cursor(name)
    seen_cursors: set[Cursor] = set()
    async for page in connector.fetch(since):
        if not page.done and page.cursor is not None:
            if page.cursor in seen_cursors or page.cursor == since:
                raise PaginationError(f"the API returned cursor {page.cursor!r} twice", helpdesk=name)
            seen_cursors.add(page.cursor)
        tickets, skipped = normalize_page(connector, page.records)
        if page.open_ids is not None:
            tickets += vanished(store, name, page.open_ids | {t.id for t in tickets})
        # An absent cursor keeps the previous position: the upsert makes re-reading harmless.
        store.commit_page(name, tickets, page.cursor if page.cursor is not None else since)
        result.pages += 1
        result.stored += len(tickets)
        result.skipped += len(skipped)
        result.skipped_ids.extend(skipped)
        if page.cursor is not None:
            since = page.cursor
    return result
