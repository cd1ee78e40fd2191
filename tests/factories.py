"""Tickets for table tests: a realistic default, every field overridable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from backlog_watch.models import Priority, Sla, Snapshot, Status, Ticket
from backlog_watch.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SIM_START = datetime(2024, 5, 6, 14, 30, tzinfo=UTC)
"""A Monday afternoon: every simulated backlog in the tests is generated relative to it (the sim_clock fixture)."""
_ids = count(1000)


def ticket(*, age: timedelta = timedelta(hours=1), idle: timedelta | None = None, **fields: Any) -> Ticket:
    """An open ticket created ``age`` before NOW, last updated ``idle`` before NOW (default: at creation)."""
    number = fields.pop("id", None) or str(next(_ids))
    created = NOW - age
    values: dict[str, Any] = {
        "helpdesk": "zendesk",
        "id": number,
        "subject": f"Ticket {number}",
        "status": Status.OPEN,
        "priority": Priority.NORMAL,
        "group": "Support",
        "assignee": "Ada",
        "created_at": created,
        "updated_at": NOW - idle if idle is not None else created,
        "sla": Sla(),
        "url": f"https://acme.zendesk.com/agent/tickets/{number}",
    }
    values.update(fields)
    return Ticket(**values)


def snapshot_of(
    now: datetime,
    helpdesks: Iterable[str],
    tickets: Iterable[Ticket],
    solved_window: timedelta = timedelta(days=36_500),
    **context: Any,
) -> Snapshot:
    """The snapshot at ``now`` of a real SQLite store (in memory) holding ``tickets``, so a rule test runs
    the store's SQL (store/aggregate.py): every ticket given is in it (by default solved ones of any age)."""
    stored = list(tickets)
    store = SqliteStore(":memory:")
    for helpdesk in {t.helpdesk for t in stored}:
        store.commit_page(helpdesk, [t for t in stored if t.helpdesk == helpdesk], None)
    names = tuple(helpdesks)
    everyone = sorted({*names, *(t.helpdesk for t in stored)})
    snapshot = store.snapshot(now, everyone, solved_window)
    return replace(snapshot, helpdesks=names, stale=frozenset(), **context)
