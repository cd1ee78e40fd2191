"""The SQLite store on disk: migrations, atomic page + cursor, poll health, alerts and the notification log."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from backlog_watch.errors import StoreError
from backlog_watch.models import ALL_TICKETS, Alert, AlertState, Listing, LogEntry, Sla, Status
from backlog_watch.store import schema as store_module
from backlog_watch.store.codec import TicketCache, ticket_row
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bw.db"


def test_new_store_is_migrated_and_in_wal_mode(db_path: Path) -> None:
    store = SqliteStore(db_path)
    assert store.schema_version == len(store_module.MIGRATIONS)
    store.close()
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    raw.close()
    assert {"tickets", "cursors", "polls", "alerts", "notification_log"} <= tables


def test_a_store_from_a_newer_version_is_refused(db_path: Path) -> None:
    SqliteStore(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {len(store_module.MIGRATIONS) + 5}")
    raw.close()
    with pytest.raises(StoreError, match="newer than this version"):
        SqliteStore(db_path)


def test_from_url_accepts_sqlite_only(tmp_path: Path) -> None:
    store = SqliteStore.from_url(f"sqlite:///{tmp_path}/x.db")
    assert store.path == tmp_path / "x.db"
    store.close()
    with pytest.raises(StoreError, match="not supported yet"):
        SqliteStore.from_url("postgresql://u:secret@host/db")


def test_page_and_cursor_survive_a_restart_and_upsert_keeps_one_row(db_path: Path) -> None:
    store = SqliteStore(db_path)
    due = NOW + timedelta(hours=2)
    store.commit_page("zendesk", [ticket(id="1", sla=Sla(first_response_due=due)), ticket(id="2")], "c1")
    store.commit_page("zendesk", [ticket(id="1", status=Status.SOLVED, solved_at=NOW)], "c2")
    store.close()

    store = SqliteStore(db_path)
    assert store.cursor("zendesk") == "c2"
    assert store.cursor("freshdesk") is None
    assert store.count_tickets("zendesk") == 2
    assert [t.id for t in store.tickets(["zendesk"])] == ["2"]
    solved = store.recently_solved(NOW - timedelta(days=1), ["zendesk"])
    assert [(t.id, t.status) for t in solved] == [("1", Status.SOLVED)]
    assert solved[0].sla.first_response_due is None  # the newer version replaced the row whole
    store.close()


def test_a_failed_page_leaves_neither_tickets_nor_cursor(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(db_path)
    store.commit_page("zendesk", [ticket(id="1")], "c1")

    real_execute = sqlite3.Connection.execute

    class Boom(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.startswith("INSERT OR REPLACE INTO cursors"):
                raise sqlite3.OperationalError("disk I/O error")
            return real_execute(self, sql, *args)

    broken = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, factory=Boom)
    monkeypatch.setattr(store, "_db", broken)
    with pytest.raises(StoreError, match="cannot be written: disk I/O error"):
        store.commit_page("zendesk", [ticket(id="2"), ticket(id="3")], "c2")
    broken.close()

    reopened = SqliteStore(db_path)
    assert reopened.cursor("zendesk") == "c1"
    assert {t.id for t in reopened.tickets()} == {"1"}
    reopened.close()


def test_snapshot_holds_open_and_recently_solved_of_the_named_helpdesks(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.commit_page(
        "zendesk",
        [
            ticket(id="1"),
            ticket(id="2", status=Status.PENDING),
            ticket(id="3", status=Status.SOLVED, solved_at=NOW - timedelta(days=2)),
            ticket(id="4", status=Status.CLOSED, solved_at=NOW - timedelta(days=30)),
            ticket(id="5", status=Status.DELETED),
        ],
        "c",
    )
    store.commit_page("other", [ticket(id="9", helpdesk="other")], "c")
    snap = store.snapshot(NOW, ["zendesk"])
    zendesk = (("helpdesk", "zendesk"),)
    seen = snap.query.listed(ALL_TICKETS, zendesk, Listing("newest", open_only=False), None)
    assert sorted(t.id for t in seen) == ["1", "2", "3"]
    assert sorted(t.id for t in snap.query.listed(ALL_TICKETS, zendesk, Listing("newest"), None)) == ["1", "2"]
    assert snap.query.kpis(ALL_TICKETS, ["helpdesk"], {})[zendesk]["open_tickets"] == 2
    assert snap.stale == frozenset({"zendesk"})  # never polled successfully yet
    store.close()


def test_poll_status_counts_consecutive_failures_and_skips(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.record_poll("zendesk", NOW, skipped=2)
    store.record_poll("zendesk", NOW + timedelta(minutes=1), error="HTTP 503")
    status = store.record_poll("zendesk", NOW + timedelta(minutes=2), error="HTTP 503")
    assert (status.failures, status.last_success, status.skipped_total) == (2, NOW, 2)
    store.close()
    store = SqliteStore(db_path)
    recovered = store.record_poll("zendesk", NOW + timedelta(minutes=3))
    assert (recovered.failures, recovered.last_error) == (0, None)
    assert store.poll_status("zendesk").last_success == NOW + timedelta(minutes=3)
    store.close()


def test_alerts_and_log_round_trip_and_the_log_follows_the_alerts(db_path: Path) -> None:
    store = SqliteStore(db_path)
    alert = Alert(
        fingerprint="abc",
        rule="backlog-size",
        labels=(("helpdesk", "zendesk"),),
        state=AlertState.FIRING,
        level="critical",
        value=120,
        threshold=100,
        summary="open_tickets is 120",
        tickets=(ticket(id="7"),),
        ticket_count=120,
        active_since=NOW,
        firing_since=NOW,
        evaluated_at=NOW,
    )
    store.save_alerts({"abc": alert})
    entry = LogEntry(
        "abc",
        "slack",
        episode=NOW,
        state=AlertState.FIRING,
        level="critical",
        sent_at=NOW,
        ticket_ids=("7",),
        channel="C1",
        ts="1700000000.000100",
    )
    store.record_sent(entry)
    store.close()

    store = SqliteStore(db_path)
    assert store.load_alerts() == {"abc": alert}
    assert store.log_entry("abc", "slack") == entry
    assert store.log_entry("abc", "email") is None
    store.save_alerts({})
    assert store.log_entry("abc", "slack") is None
    store.close()


def test_saving_alerts_writes_only_the_rows_that_changed(db_path: Path) -> None:
    """An evaluation that changes one alert of fifty writes one row, not fifty (SQLite's own count)."""
    store = SqliteStore(db_path)

    def written() -> int:
        return int(store.query("SELECT total_changes()")[0][0])  # rows inserted, updated or deleted so far

    alerts = {
        f"f{i}": Alert(
            f"f{i}", "backlog-size", (("helpdesk", f"desk{i}"),), AlertState.FIRING, "warn", 12, 10,
            "12 open tickets", (ticket(id="7"),), 12, NOW, NOW, evaluated_at=NOW,
        )
        for i in range(50)
    }  # fmt: skip
    store.save_alerts(alerts)
    before = written()
    store.save_alerts(alerts)
    assert written() == before  # nothing changed: nothing written
    changed = dict(alerts)
    changed["f3"] = replace(alerts["f3"], value=13, summary="13 open tickets")
    del changed["f4"]
    store.save_alerts(changed)
    assert written() == before + 2  # one row updated, one deleted
    assert store.load_alerts() == changed
    store.close()


def test_the_ticket_cache_builds_a_ticket_once_per_row_and_again_when_its_row_changed() -> None:
    """Each evaluation lists the same tickets again: a row seen before gives the very ticket built from
    it (so an unchanged alert compares equal at once); a changed row gives a new one; past its limit the
    cache starts over."""
    cache = TicketCache(limit=2)
    first = ticket(id="1")
    row = ticket_row(first)
    built = cache.ticket(row)
    assert built == first and cache.ticket(list(row)) is built
    changed = cache.ticket(ticket_row(first.model_copy(update={"subject": "Printer on fire"})))
    assert changed is not built and changed.subject == "Printer on fire"
    cache.ticket(ticket_row(ticket(id="2")))
    cache.ticket(ticket_row(ticket(id="3")))  # past the limit: the cache starts over
    assert cache.ticket(ticket_row(first.model_copy(update={"subject": "Printer on fire"}))) is not changed
