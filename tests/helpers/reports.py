"""A store holding a history of known shape, for the reports' numbers (daily and weekly, Paris time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from backlog_watch.models import Priority, Sla, Status
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import ticket

TZ = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Paris


def at(days_ago: float, hour: int = 10) -> datetime:
    """``days_ago`` local days before today, at ``hour`` Paris time."""
    local = NOW.astimezone(TZ).replace(hour=hour, minute=0) - timedelta(days=days_ago)
    return local.astimezone(UTC)


def seeded_store(tmp_path: Path) -> SqliteStore:
    """A history of known shape:
    - 10 tickets still open, created 1..10 days ago at 10:00 (one urgent, the oldest in Billing);
    - 6 tickets created 3 days ago and solved yesterday at 15:00 (4 met their SLA, 2 breached);
    - 2 tickets created yesterday at 11:00, still open, tagged "outage";
    - 1 open ticket with an SLA due at 14:00 today.
    """
    store = SqliteStore(tmp_path / "bw.db")
    tickets = []
    for n in range(1, 11):
        tickets.append(
            ticket(
                id=f"o{n}",
                created_at=at(n),
                updated_at=at(n),
                priority=Priority.URGENT if n == 1 else Priority.NORMAL,
                group="Billing" if n == 10 else "Support",
                tags=("billing",) if n == 10 else (),
            )
        )
    for n in range(6):
        due = at(1, hour=16) if n < 4 else at(1, hour=12)
        tickets.append(
            ticket(
                id=f"s{n}",
                status=Status.SOLVED,
                created_at=at(3),
                updated_at=at(1, 15),
                solved_at=at(1, hour=15),
                sla=Sla(resolution_due=due, breached=n >= 4),
            )
        )
    for n in range(2):
        tickets.append(ticket(id=f"y{n}", created_at=at(1, hour=11), updated_at=at(1, hour=11), tags=("outage",)))
    tickets.append(
        ticket(
            id="risk",
            created_at=at(0, hour=7),
            updated_at=at(0, hour=7),
            sla=Sla(first_response_due=at(0, hour=14)),
            priority=Priority.HIGH,
        )
    )
    store.commit_page("zendesk", tickets, None)
    store.record_poll("zendesk", NOW)
    return store
