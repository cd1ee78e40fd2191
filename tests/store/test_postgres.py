"""What is PostgreSQL's own in the shared store, on the real server (a throwaway database): migrations
that two replicas may run at once, bulk pages, the password never shown, a dry run's copy."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from backlog_watch.errors import StoreError
from backlog_watch.models import Status
from backlog_watch.store import copy_store, open_store
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.postgres.schema import MIGRATIONS
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket
from tests.helpers.postgres import ensure_running, start_command

PASSWORD = "pg-pass-31337"


def with_password(url: str) -> str:
    """The URL with a password (the loopback server trusts every connection, so any works)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}"))


def test_replicas_starting_at_once_migrate_once(pg_url: str) -> None:
    start = threading.Barrier(4)
    opened: list[PostgresStore] = []
    failed: list[BaseException] = []

    def replica() -> None:
        start.wait()
        try:
            opened.append(PostgresStore(pg_url))
        except BaseException as exc:  # collected: the assertion below names it
            failed.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failed == [] and len(opened) == 4
        assert {store.schema_version for store in opened} == {len(MIGRATIONS)}
        with psycopg.connect(pg_url) as db:
            assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
    finally:
        for store in opened:
            store.close()


def test_a_schema_newer_than_this_version_is_refused(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 3,))
    with pytest.raises(StoreError, match="newer than this version knows"):
        PostgresStore(pg_url)


def test_a_large_page_is_one_upsert_and_a_page_seen_again_rewrites_only_what_changed(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        assert isinstance(store, PostgresStore)
        page = [ticket(id=str(n), tags=("vip", "bug"), age=timedelta(hours=n % 50)) for n in range(5000)]
        store.commit_page("zendesk", page, "c1")
        with psycopg.connect(pg_url) as db:
            versions = dict(db.execute("SELECT id, xmin::text FROM tickets WHERE id IN ('0', '1')").fetchall())
        solved = ticket(id="0", tags=("bug",), status=Status.SOLVED, solved_at=NOW)
        store.commit_page("zendesk", [*page[:10], solved], "c2")  # ticket 0 twice: the later row wins
        assert store.count_tickets("zendesk") == 5000 and store.cursor("zendesk") == "c2"
        assert len(store.tickets(["zendesk"])) == 4999
        with psycopg.connect(pg_url) as db:
            after = dict(db.execute("SELECT id, xmin::text FROM tickets WHERE id IN ('0', '1')").fetchall())
            tags = db.execute("SELECT id, tag FROM ticket_tags WHERE id IN ('0', '1') ORDER BY 1, 2").fetchall()
            assert db.execute("SELECT count(*) FROM ticket_tags").fetchone() == (9999,)
        assert after["1"] == versions["1"] and after["0"] != versions["0"]  # ticket 1 came back unchanged
        assert tags == [("0", "bug"), ("1", "bug"), ("1", "vip")]
    finally:
        store.close()


def test_the_password_is_in_no_repr_error_or_failing_reason(pg_url: str) -> None:
    store = PostgresStore(with_password(pg_url))
    try:
        assert PASSWORD not in repr(store) and ":***@" in repr(store)
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("DROP TABLE polls")  # a write now fails on the server's side
        with pytest.raises(StoreError) as caught:
            store.record_poll("zendesk", NOW)
        assert "cannot be written" in str(caught.value) and ":***@" in str(caught.value)
        assert store.failing == str(caught.value) and PASSWORD not in store.failing
    finally:
        store.close()
    missing = urlunsplit(urlsplit(with_password(pg_url))._replace(path="/no_such_database_bw"))
    with pytest.raises(StoreError, match="cannot open the store at postgresql://") as refused:
        PostgresStore(missing)
    assert "no_such_database_bw" in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_dry_runs_copy_holds_the_store_and_changes_nothing(pg_url: str, tmp_path: Path) -> None:
    copy_store(pg_url, tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()  # nothing stored yet: nothing copied, nothing created
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)  # not migrated either
    store = PostgresStore(pg_url)
    try:
        store.commit_page("zendesk", [ticket(id="1"), ticket(id="2")], "c1")
        store.record_poll("zendesk", NOW)
    finally:
        store.close()
    copy_store(pg_url, tmp_path / "copy.db")
    copy = SqliteStore(tmp_path / "copy.db")
    try:
        assert copy.cursor("zendesk") == "c1" and sorted(t.id for t in copy.tickets()) == ["1", "2"]
        assert copy.poll_status("zendesk").last_success == NOW
    finally:
        copy.close()


def test_the_tests_fail_saying_why_when_no_server_can_be_started() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with pytest.raises(pytest.fail.Exception) as failed:
        ensure_running(down, ["false"])
    said = str(failed.value)
    assert said.startswith(f"PostgreSQL is needed at {down}") and "`false` said: 1" in said
    assert start_command()[:2] == ["pg_ctlcluster", "--skip-systemctl-redirect"]
