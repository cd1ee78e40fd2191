"""Issue 12's write path on SQLite: tickets in a rowid table (migrated from the WITHOUT ROWID one with
their rows and tags), and a page that repeats stored tickets rewrites only those that changed, their tag
rows only when their tags changed. SQLite triggers count the writes the store really makes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from backlog_watch.models import ALL_TICKETS, Listing, Sla, Status, TicketFilter
from backlog_watch.store import schema
from backlog_watch.store.codec import TICKET_COLUMNS, ticket_row
from backlog_watch.store.sqlite import SqliteStore, batch
from tests.factories import NOW, ticket
from tests.helpers.sqlite_schema import store_at_version

ZENDESK = (("helpdesk", "zendesk"),)
COUNTERS = """
CREATE TABLE writes (what TEXT NOT NULL);
CREATE TRIGGER ticket_inserted AFTER INSERT ON tickets BEGIN INSERT INTO writes VALUES ('ticket'); END;
CREATE TRIGGER ticket_updated AFTER UPDATE ON tickets BEGIN INSERT INTO writes VALUES ('ticket'); END;
CREATE TRIGGER tag_inserted AFTER INSERT ON ticket_tags BEGIN INSERT INTO writes VALUES ('tag'); END;
CREATE TRIGGER tag_deleted AFTER DELETE ON ticket_tags BEGIN INSERT INTO writes VALUES ('tag'); END;
"""


def counted(path: Path) -> SqliteStore:
    """A store at ``path`` whose ticket and tag writes are counted in a ``writes`` table."""
    store = SqliteStore(path)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.executescript(COUNTERS)
    raw.close()
    return store


def writes(path: Path) -> dict[str, int]:
    """The writes counted since the last call, by kind; the counter starts again from zero."""
    raw = sqlite3.connect(path, isolation_level=None)
    found = dict(raw.execute("SELECT what, count(*) FROM writes GROUP BY what").fetchall())
    raw.execute("DELETE FROM writes")
    raw.close()
    return {"ticket": found.get("ticket", 0), "tag": found.get("tag", 0)}


def test_a_resync_rewrites_only_the_changed_tickets_and_only_changed_tags(tmp_path: Path) -> None:
    path = tmp_path / "bw.db"
    store = counted(path)
    page = [ticket(id=str(n), tags=("vip", f"t{n}")) for n in range(10)]
    store.commit_page("zendesk", page, "c1")
    assert writes(path) == {"ticket": 10, "tag": 20}

    store.commit_page("zendesk", page, "c2")  # the same page again: compared, not written
    assert writes(path) == {"ticket": 0, "tag": 0}
    assert store.cursor("zendesk") == "c2"  # the cursor still moves with its page

    changed = [
        page[0].model_copy(update={"assignee": "bob", "updated_at": NOW}),  # row only
        page[1].model_copy(update={"tags": ("vip",), "updated_at": NOW}),  # row and tags
        *page[2:],
    ]
    store.commit_page("zendesk", changed, "c3")
    assert writes(path) == {"ticket": 2, "tag": 2 + 1}  # ticket 1: two tag rows dropped, one written
    assert {t.id: t for t in store.tickets(["zendesk"])} == {t.id: t for t in changed}
    vip_only = store.snapshot(NOW, ["zendesk"]).query.kpis(TicketFilter(tags=("t1",)), ["helpdesk"], {})
    assert vip_only == {}  # ticket 1's old tag is gone from the tag rows
    store.close()


def test_a_ticket_twice_in_a_page_is_stored_as_its_later_copy(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bw.db")
    first = ticket(id="7", tags=("a",))
    later = first.model_copy(update={"tags": ("b",), "status": Status.SOLVED, "solved_at": NOW})
    store.commit_page("zendesk", [first, later], None)
    assert store.tickets(["zendesk"], open_only=False) == [later]
    by_tag = store.snapshot(NOW, ["zendesk"]).query.kpis(ALL_TICKETS, ["tag"], {})
    assert set(by_tag) == {(("tag", "b"),)}
    store.close()


def test_the_upgrade_moves_tickets_into_a_rowid_table_with_their_tags(tmp_path: Path) -> None:
    path = tmp_path / "bw.db"
    raw = store_at_version(path, 8)  # version 9 moved the tickets into a rowid table
    raw.close()
    due = NOW + timedelta(minutes=20)
    tickets = [
        ticket(id="1", tags=("vip", "bug"), sla=Sla(first_response_due=due)),
        ticket(id="2", status=Status.SOLVED, solved_at=NOW - timedelta(days=1), tags=("vip",)),
    ]
    raw = sqlite3.connect(path, isolation_level=None)
    marks = ",".join("?" * len(TICKET_COLUMNS.split(",")))
    raw.executemany(f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ({marks})", [ticket_row(t) for t in tickets])
    raw.executemany("INSERT INTO ticket_tags VALUES ('zendesk', ?, ?)", [("1", "vip"), ("1", "bug"), ("2", "vip")])
    assert "WITHOUT ROWID" in raw.execute("SELECT sql FROM sqlite_master WHERE name = 'tickets'").fetchone()[0]
    raw.close()

    store = SqliteStore(path)
    assert store.schema_version == len(schema.MIGRATIONS)
    table = store.query("SELECT sql FROM sqlite_master WHERE name = 'tickets'")[0][0]
    assert "WITHOUT ROWID" not in str(table)
    indexes = {str(r[0]) for r in store.query("SELECT name FROM sqlite_master WHERE tbl_name = 'tickets'")}
    assert {"tickets_key", "tickets_open", "tickets_solved", "tickets_by_created", "tickets_by_status"} <= indexes
    assert sorted(store.tickets(["zendesk"], open_only=False), key=lambda t: t.id) == tickets
    query = store.snapshot(NOW, ["zendesk"]).query
    vip = query.listed(TicketFilter(tags=("vip",)), ZENDESK, Listing("newest", open_only=False), None)
    assert sorted(t.id for t in vip) == ["1", "2"]
    store.commit_page("zendesk", [tickets[0].model_copy(update={"subject": "renamed"})], None)  # an upsert
    assert store.count_tickets("zendesk") == 2
    assert {t.subject for t in store.tickets(["zendesk"])} == {"renamed"}
    store.close()


def test_loading_alerts_decodes_only_those_whose_stored_body_changed(tmp_path: Path) -> None:
    from backlog_watch.models import Alert, AlertState

    store = SqliteStore(tmp_path / "bw.db")

    def alert(fingerprint: str, value: float) -> Alert:
        return Alert(
            fingerprint=fingerprint,
            rule="backlog-size",
            labels=(("helpdesk", "zendesk"),),
            state=AlertState.FIRING,
            level="warn",
            value=value,
            threshold=50,
            summary=f"{value} open",
            tickets=(ticket(id="1"),),
            ticket_count=1,
            active_since=NOW,
        )

    store.save_alerts({"a": alert("a", 60), "b": alert("b", 70)})
    first = store.load_alerts()
    store.save_alerts({"a": first["a"], "b": alert("b", 80)})
    second = store.load_alerts()
    assert second["a"] is first["a"]  # unchanged body: the alert decoded before
    assert second["b"] is not first["b"] and second["b"].value == 80
    assert second["b"].tickets is first["b"].tickets  # the same tickets listed: not decoded again
    store.save_alerts({"b": second["b"]})
    assert set(store.load_alerts()) == {"b"}
    store.close()


DEFERRED = {"tickets_by_status", "tickets_open", "tickets_solved", "tickets_by_created"}


def ticket_indexes(path: Path) -> set[str]:
    """The indexes of ``tickets`` in the file, as another connection sees them (what is committed)."""
    raw = sqlite3.connect(path)
    found = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'tickets'")}
    raw.close()
    return found - {"tickets"}


def test_a_cold_sync_writes_its_pages_without_the_ticket_indexes_and_the_first_read_builds_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bw.db"
    store = SqliteStore(path)
    assert ticket_indexes(path) == {"tickets_key", *DEFERRED}
    store.commit_page("zendesk", [ticket(id="1", tags=("vip",)), ticket(id="2", status=Status.PENDING)], "c1")
    store.commit_page("zendesk", [ticket(id="3"), ticket(id="1", status=Status.SOLVED, solved_at=NOW)], "c2")
    assert ticket_indexes(path) == {"tickets_key"}  # the unique key stays: the upsert needs it
    assert store.cursor("zendesk") == "c2"  # a read: the indexes are built first
    assert ticket_indexes(path) == {"tickets_key", *DEFERRED}
    assert store.query("SELECT count(*) FROM deferred_indexes") == [(0,)]
    assert sorted(t.id for t in store.tickets(["zendesk"])) == ["2", "3"]
    changes = store.query("SELECT id, kind FROM ticket_changes ORDER BY id, at")
    assert changes == [("1", "created"), ("1", "changed")]  # first sights write none; a change, the state it left
    store.commit_page("zendesk", [ticket(id="4")], "c3")  # the store holds tickets: nothing deferred
    assert ticket_indexes(path) == {"tickets_key", *DEFERRED}
    store.close()


def test_indexes_a_stopped_cold_sync_left_unbuilt_are_built_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "bw.db"
    store = SqliteStore(path)
    store.commit_page("zendesk", [ticket(id="1")], "c1")
    assert ticket_indexes(path) == {"tickets_key"}
    stopped = tmp_path / "stopped.db"  # the file as a process killed now leaves it (no close)
    raw = sqlite3.connect(stopped)
    store._db.backup(raw)
    raw.close()
    assert ticket_indexes(stopped) == {"tickets_key"}
    reopened = SqliteStore(stopped)
    assert ticket_indexes(stopped) == {"tickets_key", *DEFERRED}
    assert [t.id for t in reopened.tickets(["zendesk"])] == ["1"]
    reopened.close()
    store.close()
    assert ticket_indexes(path) == {"tickets_key", *DEFERRED}  # closing builds them too


def test_a_page_is_written_in_a_statement_per_batch_of_rows_not_one_per_row(tmp_path: Path) -> None:
    """executemany steps once per row and hands the GIL over around each step (beside a sync's busy
    event loop, a contended hand-over per row): a page's ticket and tag rows go in multi-row INSERTs."""
    store = SqliteStore(tmp_path / "bw.db")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    page = [ticket(id=str(n), tags=("vip", f"t{n}")) for n in range(1_200)]
    store.commit_page("zendesk", store.encode_tickets(page), "c1")
    store._db.set_trace_callback(None)
    inserts = [s.split(" VALUES ")[0] for s in statements if s.startswith("INSERT")]
    per_statement = batch.ROWS_PER_STATEMENT
    assert inserts.count(f"INSERT INTO tickets ({TICKET_COLUMNS})") == -(-1_200 // per_statement)
    assert inserts.count("INSERT OR IGNORE INTO ticket_tags") == -(-2_400 // per_statement)
    assert sorted(int(t.id) for t in store.tickets()) == list(range(1_200))
    assert store.count_tickets() == 1_200
    assert len(store.query("SELECT * FROM ticket_tags", ())) == 2_400
    store.close()


def test_rows_in_one_call_run_in_order_across_statements(tmp_path: Path, monkeypatch: Any) -> None:
    """A later row meets an earlier one's conflict as executemany's would, across statement bounds."""
    monkeypatch.setattr(batch, "ROWS_PER_STATEMENT", 3)
    db = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    rows = [(n % 4, f"v{n}") for n in range(10)]  # each key four times or so, across the bounds of 3
    batch.insert_rows(db, "INSERT INTO t (k, v)", rows, " ON CONFLICT (k) DO UPDATE SET v = excluded.v")
    assert db.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [(0, "v8"), (1, "v9"), (2, "v6"), (3, "v7")]
    db.execute("DELETE FROM t")
    batch.insert_rows(db, "INSERT OR IGNORE INTO t (k, v)", rows)
    assert db.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [(0, "v0"), (1, "v1"), (2, "v2"), (3, "v3")]
    batch.insert_rows(db, "INSERT INTO t (k, v)", [])  # nothing: no statement (an empty VALUES is an error)
    db.close()
