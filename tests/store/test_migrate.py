"""`backlog-watch store migrate`: SQLite -> PostgreSQL -> SQLite gives back every row, in the order that
matters (the log as written, the outbox in queue order), through the real command and the real server."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from backlog_watch.models import AlertState, LogEntry, Sla, Status
from backlog_watch.store import ActionRecord, News, SilenceRecord
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.store.transfer import TABLES
from tests.factories import NOW, ticket
from tests.helpers.alerts import alert
from tests.helpers.cli import cli

PASSWORD = "migrate-pw-4242"


def _entry(fingerprint: str, episode_hours_ago: int, ts: str) -> LogEntry:
    episode = NOW - timedelta(hours=episode_hours_ago)
    return LogEntry(fingerprint, "slack", episode, AlertState.FIRING, "warn", episode, ("1", "2"), "C1", ts, 2)


def filled(path: Path) -> None:
    """A store holding something in every table, the log's last-written entry not its newest episode."""
    store = SqliteStore(path)
    try:
        store.commit_page(
            "zendesk", [ticket(id=str(n), tags=("vip", "billing"), age=timedelta(days=n)) for n in range(30)], "z9"
        )
        reassigned = ticket(id="1", tags=("vip", "billing"), age=timedelta(days=1), assignee="Bo", idle=timedelta(0))
        store.commit_page("zendesk", [reassigned], "z10")  # a change: the log writes the state it left and the change
        store.commit_page(
            "jira",
            [ticket(id="J-1", helpdesk="jira", status=Status.SOLVED, solved_at=NOW, sla=Sla(resolution_due=NOW))],
            "j3",
        )
        store.record_poll("zendesk", NOW)
        store.record_poll("jira", NOW, error="503", started=NOW - timedelta(minutes=3))
        firing = alert("backlog-size")
        store.save_alerts({firing.fingerprint: firing})
        fp = firing.fingerprint
        store.outbox_enqueue([News(fp, "slack", "firing", '{"n": 1}', NOW - timedelta(hours=2))], NOW, lambda *_: None)
        store.record_sent(_entry(fp, 1, "1700000000.000200"))  # the newer episode's thread ...
        store.record_sent(_entry(fp, 2, "1700000000.000100"))  # ... then the older one's, written last
        store.outbox_enqueue([News(fp, "email", "firing", '{"n": 2}', NOW)], NOW, lambda *_: None)
        (held, *_) = store.outbox_rows()
        store.outbox_reschedule(held.id, NOW + timedelta(minutes=5), "HTTP 503")
        store.outbox_hold("email")
        store.add_silence(
            SilenceRecord("s1", (("rule", "=", "aging"),), NOW, NOW + timedelta(hours=2), "ann", "x", NOW)
        )
        store.record_kpis(NOW - timedelta(hours=1), {'[["helpdesk","zendesk"]]': {"open_tickets": 30.0}})
        store.record_kpis(NOW, {'[["helpdesk","zendesk"]]': {"open_tickets": 29.0}})
        store.add_action(ActionRecord(fp, NOW - timedelta(hours=1), "acknowledge", "alice", NOW, "", "warn", 2))
    finally:
        store.close()


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, as SQLite holds it, in the copier's order (tickets by key)."""
    with sqlite3.connect(path) as db:
        found = {"tickets": db.execute("SELECT * FROM tickets ORDER BY helpdesk, id").fetchall()}
        for table, (columns, order) in TABLES.items():
            found[table] = db.execute(f"SELECT {columns} FROM {table} ORDER BY {order['sqlite']}").fetchall()
    return found


async def test_sqlite_to_postgresql_and_back_keeps_every_row(tmp_path: Path, pg_url: str) -> None:
    filled(tmp_path / "origin.db")
    parts = urlsplit(pg_url)
    target = urlunsplit(parts._replace(netloc=f"{parts.username}:${{PG_PASSWORD}}@{parts.hostname}:{parts.port}"))
    env = {"PG_PASSWORD": PASSWORD}
    code, out, err = await cli("store", "migrate", "--from", f"sqlite:///{tmp_path}/origin.db", "--to", target, env=env)
    assert code == 0, err
    counts = dict(line.split() for line in out.splitlines()[1:])
    assert counts == {
        "tickets": "31", "cursors": "2", "polls": "2", "alerts": "1", "notification_log": "2", "outbox": "2",
        "silences": "1", "history": "2", "alert_actions": "1", "ticket_changes": "2",
    }  # fmt: skip
    assert ":***@" in out and PASSWORD not in out + err

    shared = PostgresStore(pg_url)
    try:
        fp = alert("backlog-size").fingerprint
        last = shared.log_entry(fp, "slack")
        assert last is not None and last.ts == "1700000000.000100"  # still the one written last: no re-alert
        assert [r.held for r in shared.outbox_rows()] == [False, True]
        before = max(r.id for r in shared.outbox_rows())
        shared.outbox_enqueue([News("f9", "slack", "firing", "{}", NOW)], NOW, lambda *_: None)
        assert max(r.id for r in shared.outbox_rows()) > before  # the queue goes on after the copied rows
        shared.outbox_drop(max(r.id for r in shared.outbox_rows()))
    finally:
        shared.close()

    code, _, err = await cli("store", "migrate", "--from", pg_url, "--to", f"sqlite:///{tmp_path}/back.db")
    assert code == 0, err
    assert dump(tmp_path / "back.db") == dump(tmp_path / "origin.db")


async def test_a_target_holding_data_is_refused_unless_forced(tmp_path: Path, pg_url: str) -> None:
    filled(tmp_path / "origin.db")
    origin = f"sqlite:///{tmp_path}/origin.db"
    assert (await cli("store", "migrate", "--from", origin, "--to", pg_url))[0] == 0
    code, out, err = await cli("store", "migrate", "--from", origin, "--to", pg_url)
    assert code == 1 and out == ""
    assert "the target store is not empty (31 tickets, 2 cursors" in err and "--force" in err
    code, out, err = await cli("store", "migrate", "--from", origin, "--to", pg_url, "--force")
    assert code == 0 and " 31\n" in out, err
    shared = PostgresStore(pg_url)
    try:
        assert shared.count_tickets() == 31  # replaced, not doubled
    finally:
        shared.close()
    code, _, err = await cli("store", "migrate", "--from", f"sqlite:///{tmp_path}/absent.db", "--to", pg_url)
    assert code == 1 and "no store at sqlite:///" in err and not (tmp_path / "absent.db").exists()
