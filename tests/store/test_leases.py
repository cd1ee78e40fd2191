"""Leases on the real PostgreSQL: the lease conformance suite (backlog_watch.store.testing), two replicas
(cluster.PostgresLeases) sharing four helpdesks and one evaluator, takeover, and migrations at once."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from backlog_watch.store import Store
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.testing import LeaseConformance


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
