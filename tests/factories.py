"""Tickets for table tests: a realistic default, every field overridable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from backlog_watch.models import Priority, Sla, Status, Ticket

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
