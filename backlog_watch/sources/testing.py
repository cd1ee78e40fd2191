"""The connector conformance suite, shipped so a third-party connector runs the same tests as the bundled
ones (meltano's ``get_tap_test_class`` is the model).

A connector's test module subclasses ``ConnectorConformance``, names its entry point (``kind``), and says
how to start a stand-in of its helpdesk (a local HTTP server on loopback, on a ``SimClock``) and how to
read that stand-in's ground truth as the tickets the store must hold::

    from backlog_watch.sources.testing import ConnectorConformance, Expected

    class TestAcmeQueue(ConnectorConformance):
        kind = "acme_queue"
        bad_credentials = {"token": "wrong"}

        def start_helpdesk(self, clock): return AcmeStandIn(clock=clock)   # an async context manager
        def truth(self, helpdesk): return {str(k): Expected(...) for k, t in helpdesk.tickets.items()}

The suite syncs with the framework's ``sync()`` into SQLite on disk, as the daemon does. Time is simulated
only: the connector's injected sleep advances the stand-in's clock, so a Retry-After costs no wall time.
Requires pytest and pytest-asyncio (every test is a coroutine marked ``asyncio``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

import httpx
import pytest
import pytest_asyncio

from backlog_watch.errors import AuthError
from backlog_watch.models import Priority, Status
from backlog_watch.sim.clock import SimClock
from backlog_watch.sources.connector import Connector, ReadsTickets, available_connectors, read_named, sync
from backlog_watch.store.sqlite import SqliteStore

SIM_START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
"""Where the suite's simulated clock starts (a Monday morning)."""


class Expected(NamedTuple):
    """What the store must hold of one ticket, read from the helpdesk's own truth."""

    status: Status
    priority: Priority
    created_at: datetime
    updated_at: datetime
    subject: str


class HelpdeskStandIn(Protocol):
    """What the suite asks of a helpdesk stand-in: its data, changes to it, injected faults."""

    clock: SimClock
    requests: Sequence[Any]
    """Every request served, in order (the suite counts them)."""

    def settings(self, name: str, **extra: Any) -> dict[str, Any]:
        """A helpdesk block pointing at the stand-in (url, credentials), with ``extra`` keys."""
        ...

    def open_ids(self) -> set[Any]:
        """The internal ids of the tickets the helpdesk shows open."""
        ...

    def create_ticket(self, **fields: Any) -> Mapping[str, Any]:
        """A new open ticket (``priority``, ``tags`` given); its record, with its internal ``id``."""
        ...

    def update_ticket(self, ticket_id: Any, **fields: Any) -> Any: ...

    def solve_ticket(self, ticket_id: Any) -> Any: ...

    def delete_ticket(self, ticket_id: Any) -> Any: ...

    def inject_malformed(self, ticket: Mapping[str, Any] | Any) -> Any:
        """Corrupt a ticket (an id) or add a malformed record (a mapping); answers the internal id."""
        ...

    def fail_next(self, n: int = 1, status: int = 500) -> None: ...

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None: ...


class Rig:
    """A stand-in, a store on disk, and connectors whose sleeps advance the stand-in's clock."""

    def __init__(
        self,
        kind: str,
        sim: Any,
        path: Path,
        client: httpx.AsyncClient,
        *,
        settings: Mapping[str, Any] | None = None,
        tune: Callable[[Any], None] | None = None,
        key: Callable[[Any, Any], str] | None = None,
    ) -> None:
        self.name = kind
        self.sim = sim
        self.path = path
        self.client = client
        self.settings = dict(settings or {})
        self._tune = tune
        self._key = key
        self.store = SqliteStore(path)
        self.sleeps: list[float] = []

    @property
    def clock(self) -> SimClock:
        clock: SimClock = self.sim.clock
        return clock

    async def sleep(self, seconds: float) -> None:
        """The connector's sleep: noted, and the simulated clock moves instead of the wall clock."""
        self.sleeps.append(seconds)
        self.sim.clock.advance(seconds)

    def connector(self, **settings: Any) -> Any:
        """A new connector found by entry point, as the daemon builds one, on the simulated clock."""
        factory = available_connectors()[self.name]
        built = factory(  # type: ignore[call-arg]
            self.sim.settings(self.name, **{**self.settings, **settings}),
            self.client,
            sleep=self.sleep,
            clock=self.sim.clock.timestamp,
        )
        if self._tune is not None:
            self._tune(built)
        return built

    def reopen(self) -> None:
        """Close and reopen the store: what a restart keeps."""
        self.store.close()
        self.store = SqliteStore(self.path)

    def key(self, ticket_id: Any) -> str:
        """The ticket id the store uses for the stand-in's internal id."""
        return self._key(self.sim, ticket_id) if self._key is not None else str(ticket_id)

    def stored(self) -> dict[str, Any]:
        return {t.id: t for t in self.store.tickets([self.name], open_only=False)}

    def assert_store_matches(self, truth: Mapping[str, Expected]) -> None:
        """The store holds every ticket the helpdesk shows, with its values; a deleted ticket is stored
        deleted or not at all; the open backlog is exactly the stand-in's."""
        stored = self.stored()
        live = {k for k, e in truth.items() if e.status is not Status.DELETED}
        assert live <= stored.keys(), f"missing {sorted(live - stored.keys())[:5]}"
        for ticket_id, ticket in stored.items():
            expected = truth.get(ticket_id)
            if expected is None:  # gone from the API (deleted records disappear): must be stored as deleted
                assert ticket.status is Status.DELETED, ticket_id
                continue
            got = Expected(ticket.status, ticket.priority, ticket.created_at, ticket.updated_at, ticket.subject)
            assert got == expected, ticket_id
        backlog = {t.id for t in self.store.tickets([self.name])}
        assert backlog == {self.key(i) for i in self.sim.open_ids()}


@pytest.mark.asyncio
class ConnectorConformance:
    """Subclass as ``Test<Name>`` and fill in the class attributes and the two methods."""

    kind: ClassVar[str]
    """The connector's name in the ``backlog_watch.connectors`` entry-point group."""
    settings: ClassVar[Mapping[str, Any]] = {}
    """Extra keys for the helpdesk block (small pages, so the backlog crosses page boundaries)."""
    bad_credentials: ClassVar[Mapping[str, Any]] = {}
    """Settings the stand-in refuses with 401; their values must never appear in the error."""
    min_tickets: ClassVar[int] = 1
    """The stand-in's backlog holds at least this many tickets at the start."""
    settle: ClassVar[timedelta] = timedelta(minutes=31)
    """How long after a change every poll must see it (index delays, deletion checks)."""

    def start_helpdesk(self, clock: SimClock) -> AbstractAsyncContextManager[Any]:
        """An async context manager serving the stand-in (a ``HelpdeskStandIn``) on loopback."""
        raise NotImplementedError

    def truth(self, helpdesk: Any) -> Mapping[str, Expected]:
        """The stand-in's tickets as the store must hold them, by store id (a deleted one may be absent)."""
        raise NotImplementedError

    def key(self, helpdesk: Any, ticket_id: Any) -> str:
        """The store id of the stand-in's internal ticket id."""
        return str(ticket_id)

    def tune(self, connector: Any) -> None:
        """Adjust a connector to the stand-in after it is built (a lower page cap, say)."""

    def malformed_record(self) -> Mapping[str, Any]:
        """A record the connector must skip and count (never fatal)."""
        return {"id": 99999, "status": "open", "created_at": "yesterday"}

    @pytest_asyncio.fixture
    async def rig(self, tmp_path: Path) -> AsyncIterator[Rig]:
        clock = SimClock(SIM_START)
        async with self.start_helpdesk(clock) as sim, httpx.AsyncClient() as client:
            clock.advance(120)
            rig = Rig(self.kind, sim, tmp_path / "bw.db", client, settings=self.settings, tune=self.tune, key=self.key)
            try:
                yield rig
            finally:
                rig.store.close()

    async def test_the_connector_is_found_by_entry_point(self, rig: Rig) -> None:
        factory = available_connectors()[self.kind]
        assert factory.kind == self.kind
        connector = rig.connector()
        assert callable(connector.fetch) and callable(connector.normalize)

    async def test_a_cold_sync_stores_the_ground_truth(self, rig: Rig) -> None:
        result = await sync(rig.connector(), rig.store)
        assert result.skipped == 0 and result.stored == len(self.truth(rig.sim)) >= self.min_tickets
        rig.assert_store_matches(self.truth(rig.sim))
        assert rig.sleeps == []

    async def test_an_incremental_sync_brings_back_exactly_the_changes(self, rig: Rig) -> None:
        await sync(rig.connector(), rig.store)
        sim = rig.sim
        open_ids = sorted(sim.open_ids())
        created = sim.create_ticket(priority="urgent", tags=["outage"])["id"]
        sim.clock.advance(3)
        sim.update_ticket(open_ids[0], priority="low", subject="Now low")
        sim.solve_ticket(open_ids[1])
        sim.delete_ticket(open_ids[2])
        sim.clock.advance(3)
        # Many tickets changed in one second: they cross page boundaries.
        same_second = open_ids[3:28]
        for key in same_second:
            sim.update_ticket(key, tags=["bulk-edit"])
        rig.clock.advance(self.settle)
        result = await sync(rig.connector(), rig.store)
        assert result.skipped == 0
        assert result.stored == 4 + len(same_second)  # each change once: none lost, none repeated
        rig.assert_store_matches(self.truth(sim))
        stored = rig.stored()
        assert stored[rig.key(created)].is_open and stored[rig.key(open_ids[0])].subject == "Now low"
        assert stored[rig.key(open_ids[1])].status in (Status.SOLVED, Status.CLOSED)
        assert stored[rig.key(open_ids[2])].status is Status.DELETED
        assert all(stored[rig.key(k)].tags == ("bulk-edit",) for k in same_second)

    async def test_a_poll_with_no_change_makes_one_request(self, rig: Rig) -> None:
        connector = rig.connector()
        await sync(connector, rig.store)
        cursor = rig.store.cursor(rig.name)
        assert cursor
        before = len(rig.sim.requests)
        rig.clock.advance(120)
        result = await sync(connector, rig.store)
        assert len(rig.sim.requests) - before == 1
        assert result.stored == 0 and rig.store.cursor(rig.name) == cursor

    async def test_a_429_is_waited_out(self, rig: Rig) -> None:
        rig.sim.rate_limit_next(1, retry_after=7)
        connector = rig.connector()
        result = await sync(connector, rig.store)
        assert rig.sleeps == [7.0] and connector.rate_limited == 1
        assert result.stored == len(self.truth(rig.sim))
        rig.assert_store_matches(self.truth(rig.sim))

    async def test_refused_credentials_stop_with_a_clear_error(self, rig: Rig) -> None:
        assert self.bad_credentials, "set bad_credentials: settings the stand-in refuses with 401"
        pattern = r"credentials refused \(401 .+\): polling of this helpdesk stops"
        with pytest.raises(AuthError, match=pattern) as caught:
            await sync(rig.connector(**self.bad_credentials), rig.store)
        assert caught.value.helpdesk == rig.name and caught.value.status == 401
        for secret in self.bad_credentials.values():
            assert str(secret) not in str(caught.value)
        assert len(rig.sim.requests) == 1 and rig.sleeps == []
        assert rig.store.cursor(rig.name) is None and rig.store.count_tickets() == 0

    async def test_a_burst_of_server_errors_is_retried(self, rig: Rig) -> None:
        rig.sim.fail_next(3, status=503)
        connector = rig.connector()
        result = await sync(connector, rig.store)
        assert connector.retries == 3 and len(rig.sleeps) == 3
        assert result.stored == len(self.truth(rig.sim))
        rig.assert_store_matches(self.truth(rig.sim))

    async def test_malformed_records_are_skipped_and_counted(self, rig: Rig) -> None:
        victim = min(rig.sim.open_ids())
        rig.sim.inject_malformed(victim)
        added = rig.sim.inject_malformed(self.malformed_record())
        rig.clock.advance(self.settle)
        result = await sync(rig.connector(), rig.store)
        assert result.skipped == 2 and set(result.skipped_ids) == {rig.key(victim), rig.key(added)}
        assert rig.key(victim) not in rig.stored() and rig.key(added) not in rig.stored()
        assert result.stored >= self.min_tickets - 1

    async def test_the_cursor_survives_a_restart(self, rig: Rig) -> None:
        await sync(rig.connector(), rig.store)
        cursor = rig.store.cursor(rig.name)
        count = rig.store.count_tickets(rig.name)
        rig.reopen()
        assert rig.store.cursor(rig.name) == cursor and rig.store.count_tickets(rig.name) == count
        solved = min(rig.sim.open_ids())
        rig.sim.solve_ticket(solved)
        rig.clock.advance(120)
        result = await sync(rig.connector(), rig.store)  # a new connector: nothing kept in memory
        assert result.stored == 1
        rig.assert_store_matches(self.truth(rig.sim))
        assert rig.key(solved) not in {t.id for t in rig.store.tickets([rig.name])}

    async def test_tickets_named_by_id_are_read_now_and_the_cursor_stays(self, rig: Rig) -> None:
        connector: Connector = rig.connector()
        if not isinstance(connector, ReadsTickets):
            pytest.skip(f"{self.kind} does not read tickets by id: its hooks poll")
        await sync(connector, rig.store)
        cursor = rig.store.cursor(rig.name)
        open_ids = sorted(rig.sim.open_ids())
        created = rig.sim.create_ticket(priority="urgent", tags=["outage"])["id"]
        rig.sim.update_ticket(open_ids[0], subject="Read at once")
        rig.sim.delete_ticket(open_ids[1])
        named = [rig.key(created), rig.key(open_ids[0]), rig.key(open_ids[1])]
        result = await read_named(connector, rig.store, named)
        assert result.stored == 2 and result.skipped == 0 and rig.store.cursor(rig.name) == cursor
        stored, truth = rig.stored(), self.truth(rig.sim)
        for key in named[:2]:
            ticket = stored[key]
            got = Expected(ticket.status, ticket.priority, ticket.created_at, ticket.updated_at, ticket.subject)
            assert got == truth[key], key
        assert stored[named[2]].is_open  # a deletion is for the change stream to say, not a hook's read
