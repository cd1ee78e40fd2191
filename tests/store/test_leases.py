"""Leases on the real PostgreSQL: the lease conformance suite (backlog_watch.store.testing), two replicas
(cluster.PostgresLeases) sharing four helpdesks and one evaluator, takeover, and migrations at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psycopg
import pytest

from backlog_watch.errors import LeaseLost
from backlog_watch.store import Store
from backlog_watch.store.leases import Fence, ForwardedRequest, fenced
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.testing import LeaseConformance
from tests.helpers.waiting import until


def lapse_in(url: str) -> Callable[[str], None]:
    """Make a replica's leases and heartbeat expire now: what a TTL without renewal does."""

    def lapse(replica: str) -> None:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("UPDATE leases SET expires_at = now() - interval '1 second' WHERE holder = %s", (replica,))
            db.execute("UPDATE replicas SET expires_at = now() - interval '1 second' WHERE id = %s", (replica,))

    return lapse


class TestPostgresLeases(LeaseConformance):
    @pytest.fixture
    def open_store(self, pg_url: str) -> Callable[[], Store]:
        return lambda: PostgresStore(pg_url)

    @pytest.fixture
    def lapse(self, pg_url: str) -> Callable[[str], None]:
        return lapse_in(pg_url)


def test_a_replica_paused_inside_a_fenced_write_holds_up_nobody_and_wakes_to_lease_lost(pg_url: str) -> None:
    """SIGSTOP between two statements of a write: its lock on the lease row must not stop the takeover.
    The server ends the paused session after the TTL idle in its transaction; the claim never waits."""
    store_a, store_b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        a, b = store_a.lease_table("a", 1.0), store_b.lease_table("b", 1.0)
        store_a._hold_limit = 3.0  # a's paused session outlives its lease a while (by default: the same TTL)
        claim = a.claim("helpdesk:zendesk")
        assert claim is not None
        with fenced(Fence("helpdesk:zendesk", "a", claim.token)):
            paused = store_a._transaction()  # a write begun (lease checked and locked), then a is stopped
            db = paused.__enter__()
        db.execute("INSERT INTO cursors (helpdesk, cursor, updated_at) VALUES ('zendesk', 'stale', 0)")
        deadline = time.monotonic() + 15
        with psycopg.connect(pg_url, autocommit=True) as watch:  # the lease runs out (a read waits for no lock)
            while watch.execute("SELECT bool_or(expires_at > now()) FROM leases").fetchone() != (False,):
                assert time.monotonic() < deadline, "the lease never expired"
                time.sleep(0.05)
        started = time.monotonic()
        assert b.claim("helpdesk:zendesk") is None  # locked by a's write: skipped, not waited for
        assert time.monotonic() - started < 0.5
        deadline = time.monotonic() + 15
        while (taken := b.claim("helpdesk:zendesk")) is None:  # the server ends a's idle session
            assert time.monotonic() < deadline, "the paused session's lock was never released"
            time.sleep(0.05)
        assert taken.token > claim.token
        with pytest.raises(LeaseLost, match="helpdesk:zendesk"):  # a wakes up and commits: refused
            paused.__exit__(None, None, None)
        assert store_b.cursor("zendesk") is None and store_a.failing is None
    finally:
        store_a.close()
        store_b.close()


async def test_forwarded_work_is_announced_to_the_replicas_listening(pg_url: str) -> None:
    store_a, store_b = PostgresStore(pg_url), PostgresStore(pg_url)
    heard: list[int] = []
    listening = asyncio.create_task(store_a.lease_table("a", 3.0).listen(lambda: heard.append(1)))
    try:
        await until(lambda: heard, timeout=10, what="the listener up (it says so once)")
        heard.clear()
        store_b.lease_table("b", 3.0).forward(ForwardedRequest("poll", "zendesk"))
        await until(lambda: heard, timeout=5, what="the NOTIFY of the forwarded request")
        assert heard == [1]
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        store_a.close()
        store_b.close()
