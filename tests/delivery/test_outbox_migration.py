"""An outbox written by the previous schema (one row per alert and notifier) keeps its queued rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from backlog_watch.delivery.dedup import Reason
from backlog_watch.delivery.outbox import Outbox
from backlog_watch.models import Alert, AlertState
from backlog_watch.store import schema as store_module
from backlog_watch.store.codec import alert_to_json as _alert_to_json
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket


def test_migration_keeps_queued_rows_and_the_log_with_their_episode(tmp_path: Path) -> None:
    db = tmp_path / "bw.db"
    raw = sqlite3.connect(db, isolation_level=None)
    for number, script in enumerate(store_module.MIGRATIONS[:3], start=1):  # the issue-5 schema
        for statement in filter(str.strip, script.split(";")):
            raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {number}")
    alert = Alert(
        fingerprint="abc",
        rule="backlog-size",
        labels=(("helpdesk", "zendesk"),),
        state=AlertState.FIRING,
        level="warn",
        value=120,
        threshold=100,
        summary="open_tickets is 120",
        tickets=(ticket(id="7"),),
        ticket_count=120,
        active_since=NOW,
        firing_since=NOW,
        evaluated_at=NOW,
    )
    body = json.dumps(
        {
            "alert": json.loads(_alert_to_json(alert)),
            "rule": "backlog-size",
            "now": NOW.timestamp() + 60,
            "data_as_of": {},
            "escalation": None,
        }
    )
    raw.execute(
        "INSERT INTO outbox (fingerprint, notifier, reason, body, created_at, attempts, next_attempt_at, "
        "last_error) VALUES ('abc', 'slack', 'firing', ?, ?, 2, ?, 'HTTP 500')",
        (body, NOW.timestamp(), NOW.timestamp() + 120),
    )
    raw.execute(
        "INSERT INTO notification_log VALUES ('abc', 'email', ?, 'firing', 'warn', ?, '[]', NULL, NULL, 120)",
        (NOW.timestamp(), NOW.timestamp()),
    )
    raw.close()

    store = SqliteStore(db)
    assert store.schema_version == len(store_module.MIGRATIONS)
    (row,) = Outbox(store).rows()
    assert (row.fingerprint, row.notifier, row.reason, row.attempts, row.last_error) == (
        "abc",
        "slack",
        Reason.FIRING,
        2,
        "HTTP 500",
    )
    assert row.episode == NOW and row.body == body  # keyed by its episode now, retry schedule kept
    entry = store.log_entry("abc", "email", NOW)
    assert entry is not None and entry.ticket_count == 120
    told = Outbox(store).log_entry("abc", "slack")  # what planning sees: the queued news
    assert told is not None and told.state is AlertState.FIRING and told.episode == NOW
    store.close()
