"""sync() asks for the next page while it normalizes and stores this one, except after a page that
reconciles; a failure while storing stops the request in flight instead of leaving it behind. Small pages
are gathered into writes of ``COMMIT_LEAST`` tickets (1 here, unless a test says otherwise, so that each
page of one record is a write)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from backlog_watch import HelpdeskSettings, Page, Status, Ticket
from backlog_watch.errors import HelpdeskError, StoreError
from backlog_watch.sources import connector
from backlog_watch.sources.connector import sync

T0 = datetime(2024, 5, 6, 14, 28, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def page_by_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connector, "COMMIT_LEAST", 1)


class Recording:
    """A connector of three pages (one record each) that writes down when each page is asked for and
    when each record is normalized; ``stuck`` pages wait for a request that never answers."""

    kind: ClassVar[str] = "recording"
    Settings: ClassVar[type[HelpdeskSettings]] = HelpdeskSettings

    def __init__(self, events: list[str], *, reconciling: int | None = None, stuck: int | None = None) -> None:
        self.settings = HelpdeskSettings(name="rec", type="recording", url="http://127.0.0.1")
        self.events = events
        self.reconciling = reconciling
        self.stuck = stuck

    async def fetch(self, since: str | None) -> AsyncIterator[Page]:
        for n in (1, 2, 3):
            self.events.append(f"ask {n}")
            if n == self.stuck:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    self.events.append(f"cancelled {n}")
                    raise
            open_ids = frozenset() if n == self.reconciling else None
            yield Page(records=[{"id": str(n)}], cursor=f"c{n}", done=n == 3, open_ids=open_ids)

    def normalize(self, raw: Mapping[str, Any]) -> Ticket:
        self.events.append(f"normalize {raw['id']}")
        return Ticket(helpdesk="rec", id=raw["id"], status=Status.OPEN, created_at=T0, updated_at=T0)


class Store:
    def __init__(self, events: list[str], *, failing_on: str | None = None) -> None:
        self.events = events
        self.failing_on = failing_on

    def cursor(self, helpdesk: str) -> str | None:
        return None

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket], cursor: str | None) -> None:
        if cursor == self.failing_on:
            raise StoreError("disk full")
        self.events.append(f"commit {cursor}")

    def tickets(self, helpdesks: Sequence[str] | None = None) -> list[Ticket]:
        return []


async def test_the_next_page_is_asked_for_before_this_one_is_normalized_and_stored() -> None:
    events: list[str] = []
    result = await sync(Recording(events), Store(events))
    assert result.stored == 3
    assert events.index("ask 2") < events.index("normalize 1") < events.index("commit c1")
    assert events.index("ask 3") < events.index("normalize 2")
    commits = [e for e in events if e.startswith("commit")]
    assert commits[0] == "commit c1" and commits[-1] == "commit c3"  # pages in order, the last cursor last
    assert commits == sorted(commits)


class Slow(Store):
    """A store whose first write waits (in its worker thread) until the third record is normalized."""

    def __init__(self, events: list[str], release: threading.Event) -> None:
        super().__init__(events)
        self.release = release
        self.written: list[tuple[list[str], str | None]] = []

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket], cursor: str | None) -> None:
        if not self.written:
            self.events.append(f"released {self.release.wait(timeout=30)}")
        self.written.append(([t.id for t in tickets], cursor))


async def test_pages_read_while_a_write_runs_go_into_the_next_write_with_the_last_cursor() -> None:
    events: list[str] = []
    release = threading.Event()

    class Releasing(Recording):
        def normalize(self, raw: Mapping[str, Any]) -> Ticket:
            if raw["id"] == "3":
                release.set()
            return super().normalize(raw)

    store = Slow(events, release)
    result = await sync(Releasing(events), store)
    assert "released True" in events  # the loop went on normalizing while the first write waited
    assert store.written == [(["1"], "c1"), (["2", "3"], "c3")]
    assert (result.pages, result.stored) == (3, 3)


async def test_pages_read_before_a_helpdesk_failure_are_stored_with_their_cursor() -> None:
    events: list[str] = []

    class Failing(Recording):
        async def fetch(self, since: str | None) -> AsyncIterator[Page]:
            async for page in super().fetch(since):
                if page.cursor == "c3":
                    raise HelpdeskError("502 from the helpdesk", helpdesk="rec")
                yield page

    with pytest.raises(HelpdeskError):
        await sync(Failing(events), Store(events))
    assert [e for e in events if e.startswith("commit")][-1] == "commit c2"


async def test_after_a_page_that_reconciles_the_next_is_asked_for_only_once_it_is_done() -> None:
    events: list[str] = []
    await sync(Recording(events, reconciling=1), Store(events))
    assert events.index("normalize 1") < events.index("ask 2")
    assert events.index("ask 3") < events.index("normalize 2")  # the pages after it read ahead again


async def test_a_store_failure_cancels_the_request_in_flight() -> None:
    events: list[str] = []
    with pytest.raises(StoreError, match="disk full"):
        await asyncio.wait_for(sync(Recording(events, stuck=2), Store(events, failing_on="c1")), timeout=30)
    assert events == ["ask 1", "ask 2", "normalize 1", "cancelled 2"]


async def test_small_pages_are_gathered_into_writes_of_commit_least_tickets_and_the_last_takes_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connector, "COMMIT_LEAST", 2)
    written: list[tuple[list[str], str | None]] = []

    class Gathered(Store):
        def commit_page(self, helpdesk: str, tickets: Sequence[Ticket], cursor: str | None) -> None:
            written.append(([t.id for t in tickets], cursor))

    result = await sync(Recording([]), Gathered([]))
    assert written == [(["1", "2"], "c2"), (["3"], "c3")]  # each write with the cursor of its last page
    assert (result.pages, result.stored) == (3, 3)


async def test_a_store_that_encodes_is_handed_each_page_encoded_as_soon_as_it_is_normalized(tmp_path: Any) -> None:
    """The SQLite store's ``encode_tickets``: the tickets waiting for a write are tuples of plain values
    (no model the cycle collector would walk), encoded in the sync's thread right after normalize."""
    from backlog_watch.store.sqlite import SqliteStore

    events: list[str] = []
    store = SqliteStore(tmp_path / "bw.db")
    handed: list[list[Any]] = []
    plain = str | int | float | type(None)

    def commit_page(helpdesk: str, tickets: Sequence[Any], cursor: str | None) -> None:
        handed.append(list(tickets))
        SqliteStore.commit_page(store, helpdesk, tickets, cursor)

    encode = store.encode_tickets

    def encode_tickets(tickets: Sequence[Any]) -> list[Any]:
        # A connector without ``stored`` (this one): the sync built each page's rows from its Tickets.
        assert not any(isinstance(t, Ticket) for t in tickets)
        events.append(f"encode {','.join(str(row[1]) for row, _ in tickets)}")
        return encode(tickets)

    store.commit_page = commit_page  # type: ignore[method-assign]
    store.encode_tickets = encode_tickets  # type: ignore[method-assign]
    try:
        result = await sync(Recording(events), store)
        assert result.stored == 3 and [t.id for t in store.tickets()] == ["1", "2", "3"]
        assert events.index("normalize 1") < events.index("encode 1") < events.index("normalize 2")
        waiting = [item for page in handed for item in page]
        assert len(waiting) == 3 and not any(isinstance(item, Ticket) for item in waiting)
        assert all(isinstance(v, plain) for row, tags in waiting for v in (*row, *tags))
    finally:
        store.close()
