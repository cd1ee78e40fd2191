"""A store holding a history of known shape, for the reports' numbers (daily and weekly, Paris time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from backlog_watch.models import Priority, Sla, Status
from backlog_watch.store import Store
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import ticket

TZ = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Paris


def at(days_ago: float, hour: int = 10) -> datetime:
    """``days_ago`` local days before today, at ``hour`` Paris time."""
    local = NOW.astimezone(TZ).replace(hour=hour, minute=0) - timedelta(days=days_ago)
    return local.astimezone(UTC)


def seeded_store(tmp_path: Path) -> SqliteStore:
    """The seeded history (``seed``) in a SQLite store on disk."""
    store = SqliteStore(tmp_path / "bw.db")
    seed(store)
    return store


def seed(store: Store) -> None:
    """A history of known shape:
    - 10 tickets still open, created 1..10 days ago at 10:00 (one urgent, the oldest in Billing);
    - 6 tickets created 3 days ago and solved yesterday at 15:00 (4 met their SLA, 2 breached);
    - 2 tickets created yesterday at 11:00, still open, tagged "outage";
    - 1 open ticket with an SLA due at 14:00 today.
    """
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


def briefing_store(tmp_path: Path) -> SqliteStore:
    """The seeded history plus what the staffing figures need, every number worked out by hand:
    - p1 pending (Grace, 2 days old; its SLA due at 11:00 today is paused), h1 on hold (unassigned, 5 days);
    - u1 new and unassigned, urgent, created at 08:00 today, its first response due at 11:30 (before noon);
    - a spike yesterday 14:00-15:00: four tickets (Grace), three tagged "login";
    - w1, w2 created 12 days ago, solved 5 and 3 days ago at 12:00 (open on the same day last week).
    Open now 20 (13 + 7); agents on record: Ada (the factory's) and Grace.
    """
    store = seeded_store(tmp_path)
    spike_tags = [("login",), ("login", "vip"), ("login",), ("billing",)]
    extras = [
        ticket(
            id="p1",
            status=Status.PENDING,
            assignee="Grace",
            created_at=at(2),
            updated_at=at(2),
            sla=Sla(first_response_due=at(0, hour=11), paused=True),
        ),
        ticket(id="h1", status=Status.ON_HOLD, assignee=None, created_at=at(5), updated_at=at(5)),
        ticket(
            id="u1",
            status=Status.NEW,
            assignee=None,
            priority=Priority.URGENT,
            created_at=at(0, hour=8),
            updated_at=at(0, hour=8),
            sla=Sla(first_response_due=at(0, hour=11) + timedelta(minutes=30)),
        ),
        *(
            ticket(
                id=f"k{n}",
                assignee="Grace",
                created_at=at(1, hour=14) + timedelta(minutes=10 * n),
                updated_at=at(1, hour=14),
                tags=tags,
            )
            for n, tags in enumerate(spike_tags)
        ),
        *(
            ticket(
                id=f"w{n}",
                status=Status.SOLVED,
                created_at=at(12),
                updated_at=at(days, hour=12),
                solved_at=at(days, hour=12),
            )
            for n, days in ((1, 5), (2, 3))
        ),
    ]
    store.commit_page("zendesk", extras, None)
    return store
