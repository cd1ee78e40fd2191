"""A SQLite store file at an older schema version, for the tests of an upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backlog_watch.store import schema


def store_at_version(path: Path, version: int) -> sqlite3.Connection:
    """Create a store at ``path`` with the first ``version`` migrations applied, as that release left it;
    return an autocommit connection to it (the caller writes its old rows, then closes it)."""
    raw = sqlite3.connect(path, isolation_level=None)

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        raw.execute("BEGIN")
        yield raw
        raw.execute("COMMIT")

    schema.migrate(0, transaction, str(path), until=version)
    return raw
