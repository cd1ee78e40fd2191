"""The store conformance suite (backlog_watch.store.testing) run against SqliteStore on disk and PostgresStore
on the real PostgreSQL (a throwaway database, tests/helpers/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backlog_watch.store import Store
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.store.testing import StoreConformance


class TestSqliteStore(StoreConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "data" / "bw.db")


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def open_store(self, pg_url: str) -> Callable[[], Store]:
        return lambda: PostgresStore(pg_url)
