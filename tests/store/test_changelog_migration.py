"""A store written before the ticket change log (issue 16) gains it at the upgrade, begun with one
"created" row per stored ticket, so `--at` works on it at once (approximate until a change is seen); a
dry run's copy of a PostgreSQL store not yet migrated to it (copied as it is) still answers, from the
tickets' rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg

from backlog_watch.models import Status
from backlog_watch.store import copy_store, schema
from backlog_watch.store.codec import TICKET_COLUMNS, ticket_row
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.postgres import schema as pg_schema
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket
from tests.helpers.sqlite_schema import store_at_version

OPEN = ticket(id="1", age=timedelta(days=3), idle=timedelta(days=1), assignee="Ada")
SOLVED = ticket(id="2", age=timedelta(days=5), status=Status.SOLVED, solved_at=NOW - timedelta(days=2))
LATE = ticket(id="3", age=timedelta(hours=2))


CHANGE_LOG = 8
"""The SQLite schema version that adds the change log."""


def test_the_sqlite_upgrade_begins_the_log_with_each_stored_ticket(tmp_path: Path) -> None:
    path = tmp_path / "bw.db"
    raw = store_at_version(path, CHANGE_LOG - 1)  # the schema before issue 16
    marks = ",".join("?" * len(ticket_row(OPEN)))
    raw.executemany(
        f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ({marks})", [ticket_row(t) for t in (OPEN, SOLVED, LATE)]
    )
    raw.close()

    store = SqliteStore(path)
    try:
        assert store.schema_version == len(schema.MIGRATIONS)
        as_of = store.tickets_as_of(NOW - timedelta(days=1))
        assert as_of.exact_since is None  # nothing seen change yet
        assert {t.id: t for t in as_of.tickets} == {"1": OPEN, "2": SOLVED}
        changes = store.ticket_changes(NOW - timedelta(days=9), NOW)
        assert [(at, t.id) for at, t in changes] == [(t.updated_at, t.id) for t in (SOLVED, OPEN, LATE)]
        moved = OPEN.model_copy(update={"assignee": "Bo", "updated_at": NOW})
        store.commit_page("zendesk", [moved], "c1")
        assert store.tickets_as_of(NOW).exact_since == NOW
        assert [t.assignee for t in store.tickets_as_of(NOW - timedelta(minutes=1)).tickets if t.id == "1"] == ["Ada"]
    finally:
        store.close()


def test_the_postgresql_upgrade_begins_the_log_too_and_a_copy_of_an_older_one_still_answers(
    pg_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as db:  # the schema before issue 16
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (%s)", (len(pg_schema.MIGRATIONS) - 1,))
        for script in pg_schema.MIGRATIONS[:-1]:
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
        marks = ",".join(["%s"] * len(ticket_row(OPEN)))
        with db.cursor() as cursor:
            cursor.executemany(f"INSERT INTO tickets VALUES ({marks})", [ticket_row(t) for t in (OPEN, SOLVED, LATE)])

    copy_store(pg_url, tmp_path / "copy.db")  # a dry run before the daemon migrated: copied as it is
    copy = SqliteStore(tmp_path / "copy.db")
    try:
        assert {t.id for t in copy.tickets_as_of(NOW - timedelta(days=1)).tickets} == {"1", "2"}
        assert {t.id: t for t in copy.tickets_as_of(NOW).tickets} == {"1": OPEN, "2": SOLVED, "3": LATE}
    finally:
        copy.close()
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT version FROM schema_version").fetchone() == (len(pg_schema.MIGRATIONS) - 1,)

    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == len(pg_schema.MIGRATIONS)
        changes = store.ticket_changes(NOW - timedelta(days=9), NOW)
        assert [(at, t.id) for at, t in changes] == [(t.updated_at, t.id) for t in (SOLVED, OPEN, LATE)]
        assert {t.id: t for t in store.tickets_as_of(NOW - timedelta(days=1)).tickets} == {"1": OPEN, "2": SOLVED}
    finally:
        store.close()
