"""A SQLite store file at an older schema version, for the tests of an upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backlog_watch.store import schema


def store_at_version(path: Path, version: int) -> sqlite3.Connection:
    """Create a store at ``path`` with the first ``version`` migrations applied, as that release left it;
    return an autocommit connection to it (the caller writes its old rows, then closes it)."""
    raw = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(schema.MIGRATIONS[:version], start=1):
        raw.execute("BEGIN")
        if isinstance(script, str):
            for statement in filter(str.strip, script.split(";")):
                raw.execute(statement)
        else:
            script(raw)
        raw.execute(f"PRAGMA user_version = {number}")
        raw.execute("COMMIT")
    return raw
