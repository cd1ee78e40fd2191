"""A store written before issue 12 (schema 5) gains the evaluation's columns and tag rows, backfilled from
the tickets it holds, so its first evaluation after the upgrade counts them as before."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from backlog_watch.models import ALL_TICKETS, Listing, Sla, Status, TicketFilter
from backlog_watch.store import schema
from backlog_watch.store.codec import ticket_row
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket

ZENDESK = (("helpdesk", "zendesk"),)


def test_the_upgrade_backfills_open_sla_and_tags_from_the_stored_tickets(tmp_path: Path) -> None:
    path = tmp_path / "bw.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(schema.MIGRATIONS[:5], start=1):  # the schema before issue 12
        assert isinstance(script, str)
        for statement in filter(str.strip, script.split(";")):
            raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {number}")
    due = NOW + timedelta(minutes=20)
    tickets = [
        ticket(id="1", tags=("vip", "bug"), sla=Sla(first_response_due=due, resolution_due=due + timedelta(hours=1))),
        ticket(id="2", sla=Sla(resolution_due=NOW - timedelta(hours=1), paused=True)),
        ticket(id="3", status=Status.SOLVED, solved_at=NOW - timedelta(days=1), tags=("vip",)),
    ]
    raw.executemany("INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [ticket_row(t)[:14] for t in tickets])
    raw.close()

    store = SqliteStore(path)
    assert store.schema_version == len(schema.MIGRATIONS)
    query = store.snapshot(NOW, ["zendesk"]).query
    assert query.kpis(ALL_TICKETS, ["helpdesk"], {})[ZENDESK]["open_tickets"] == 2
    risk = query.sla_risk(ALL_TICKETS, ["helpdesk"], NOW + timedelta(minutes=30), None)[ZENDESK]
    assert (risk.tracked, risk.critical, risk.breached) == (1, 1, 0)  # ticket 2 is paused: not tracked
    vip = query.listed(TicketFilter(tags=("vip",)), ZENDESK, Listing("newest", open_only=False), None)
    assert sorted(t.id for t in vip) == ["1", "3"]
    by_tag = query.kpis(ALL_TICKETS, ["tag"], {})
    assert {scope: values["open_tickets"] for scope, values in by_tag.items()} == {
        (("tag", "(no tag)"),): 1,
        (("tag", "bug"),): 1,
        (("tag", "vip"),): 1,
    }
    store.close()
