"""The ticket change log: what each sync saw change on each ticket, so the backlog can be rebuilt as it
was at any past moment (``--at``, ``replay``).

One row per change of a ticket's tracked fields (status, priority, group, assignee, tags, solved_at,
SLA), holding the ticket's whole tracked state right after it, at the change's time: the ticket's
``updated_at``, or the sync's time when the helpdesk did not move ``updated_at`` forward. A ticket's
first sight writes nothing: until its first change, its stored row IS its state as first seen (a cold
sync of 100k tickets wrote 100k log rows that only repeated the tickets, a sixth of its SQL). The first
change writes two rows: the state it changes from, as a ``created`` row at the stored row's
``updated_at`` (unless a row is there already), then the change. A sync compares each ticket of a page
with its stored row on the tracked fields only and writes rows only for a real change, in the page's
transaction (the write paths: sqlite/changelog.py ``record``, postgres/changelog.py ``record``). The
untracked fields (subject, channel, created_at, url) are read from the ticket's current row.

Since every row holds a full state, the state at a moment is the ticket's last row at or before it, and
a ticket without rows is its stored row. Thinning therefore only drops rows: rows older than 2 days
keep the last of each hour per ticket, older than 30 days the last of each day, older than 2 years only
the last (the KPI history's tiers, sqlite/history.py). A bucket is (boundary - size, boundary], so the
state at every bucket boundary stays exact. It runs on write, at most once per quarter of an hour of
change time, over the rows aged into a tier since it last ran.

Exactness: the first sync sees each ticket's state at its ``updated_at`` only, not what came before.
``exact_since`` is the first recorded change of a known ticket; before it, a ticket's state at a
moment before its first known state is approximate (it existed if created by then; solved if solved by
then, else open; its other fields as first seen). A store from before the log began it at its upgrade
with one ``created`` row per stored ticket. The SQL below is portable (``?`` placeholders), run
through ``SqlStore.query`` by both stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from backlog_watch.models import Status, Ticket
from backlog_watch.store.codec import at, ticket_columns, ticket_from_row
from backlog_watch.store.records import AsOf

CHANGE_COLUMNS = "helpdesk, id, at, kind, status, priority, grp, assignee, tags, solved_at, sla"
"""The columns of ``ticket_changes``, in the order ``change_rows`` fills them."""
TRACKED_COLUMNS = "status, priority, grp, assignee, tags, solved_at, sla"
"""The ticket columns a change is about, as ``tickets`` stores them."""
_tracked = itemgetter(2, 3, 5, 6, 7, 11, 12)
"""The tracked columns of a ``ticket_row`` (TICKET_COLUMNS order), as a tuple."""
_UPDATED_AT = 10

CREATED, CHANGED = "created", "changed"

TIERS: tuple[tuple[timedelta, int], ...] = (
    (timedelta(days=2), 3600),
    (timedelta(days=30), 86400),
)
"""(rows older than this, keep the last per ticket of each bucket of these seconds)."""
RETENTION = timedelta(days=730)
"""Rows older than this: only each ticket's last one is kept (its state at the cut)."""
THIN_EVERY = 900.0

Query = Callable[[str, Sequence[object]], list[tuple[object, ...]]]
Stored = Mapping[tuple[str, str], tuple[Any, ...]]
"""(helpdesk, id) -> the stored row's tracked columns (TRACKED_COLUMNS order), then its updated_at."""


def stored_state(row: Sequence[Any]) -> tuple[Any, ...]:
    """A stored ticket row's (TICKET_COLUMNS order) entry of ``Stored``."""
    return (*_tracked(row), row[_UPDATED_AT])


def change_rows(
    rows: Iterable[Sequence[Any]], stored: Stored, sync_time: float
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The change-log rows a page of ticket rows (``ticket_row``, TICKET_COLUMNS order) makes against the
    stored rows: (first, changes). ``changes``: a ``changed`` row for each ticket whose tracked columns
    differ from its stored row's; ``first``: for each of them, the stored state as a ``created`` row at
    its ``updated_at``, written only where the ticket has no row at that time yet (its first change). A
    ticket never stored, or unchanged, makes none. A ticket twice in the page: the later row wins."""
    page = {(row[0], row[1]): row for row in rows}
    first: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    for key, row in page.items():
        before = stored.get(key)
        if before is None:
            continue
        tracked = _tracked(row)
        if before[:-1] != tracked:
            updated, previous = row[_UPDATED_AT], before[-1]
            first.append((*key, previous, CREATED, *before[:-1]))
            changes.append((*key, updated if updated > previous else max(sync_time, previous), CHANGED, *tracked))
    return first, changes


def thin_slices(last: float | None, now: float) -> list[tuple[float, float, int | None]]:
    """The (from, to, bucket seconds) ranges of row times that aged into a tier since thinning last ran
    (its last write was ``last``; None: never, all of it); bucket None is the retention cut."""
    since = None if last is None else last - last % THIN_EVERY
    found: list[tuple[float, float, int | None]] = []
    for older, bucket in (*TIERS, (RETENTION, None)):
        span = older.total_seconds()
        start = float("-inf") if since is None else since - span - (bucket or 86400)
        found.append((start, now - span, bucket))
    return found


def due_to_thin(last: float | None, now: float) -> bool:
    return last is None or int(now // THIN_EVERY) != int(last // THIN_EVERY)


# -- reading -----------------------------------------------------------------------------------------

_TICKET_AS_STORED = (
    "t.helpdesk, t.id, c.status, c.priority, t.channel, c.grp, c.assignee, c.tags, t.subject, t.created_at, "
    "c.at, c.solved_at, c.sla, t.url"
)
"""A ticket as ``ticket_from_row`` reads it, its tracked fields from the change row, updated_at its time."""
_TICKET = ticket_columns("t")
"""The same of a ticket without rows: its stored row is its only known state."""
_TICKET_OR_AS_STORED = (
    "t.helpdesk, t.id, COALESCE(c.status, t.status), COALESCE(c.priority, t.priority), t.channel, "
    "CASE WHEN c.id IS NULL THEN t.grp ELSE c.grp END, CASE WHEN c.id IS NULL THEN t.assignee ELSE c.assignee END, "
    "COALESCE(c.tags, t.tags), t.subject, t.created_at, COALESCE(c.at, t.updated_at), "
    "CASE WHEN c.id IS NULL THEN t.solved_at ELSE c.solved_at END, CASE WHEN c.id IS NULL THEN t.sla ELSE c.sla END, "
    "t.url"
)
"""The same, or the ticket's stored row where the log has none of it (a store copied from one older than
the log)."""


def _helpdesk_clause(column: str, helpdesks: Iterable[str] | None) -> tuple[str, list[object]]:
    if helpdesks is None:
        return "", []
    names = list(helpdesks)
    if not names:
        return " AND 1 = 0", []
    return f" AND {column} IN ({','.join('?' * len(names))})", list(names)


def exact_since(query: Query, helpdesks: Iterable[str] | None = None) -> datetime | None:
    """The first change of a known ticket the log holds (not a first sight)."""
    where, args = _helpdesk_clause("helpdesk", helpdesks)
    rows = query(f"SELECT min(at) FROM ticket_changes WHERE kind = ?{where}", [CHANGED, *args])
    first = rows[0][0] if rows else None
    return at(float(first)) if first is not None else None  # type: ignore[arg-type]


def tickets_as_of(query: Query, moment: datetime, helpdesks: Iterable[str] | None = None) -> AsOf:
    """Every ticket created at or before ``moment``, as it was then (see the module's docstring)."""
    names = None if helpdesks is None else list(helpdesks)
    where, args = _helpdesk_clause("t.helpdesk", names)
    when = moment.timestamp()
    rows = query(
        f"SELECT {_TICKET_OR_AS_STORED} FROM tickets t LEFT JOIN ticket_changes c ON c.helpdesk = t.helpdesk "
        "AND c.id = t.id AND c.at = COALESCE("
        " (SELECT max(m.at) FROM ticket_changes m WHERE m.helpdesk = t.helpdesk AND m.id = t.id AND m.at <= ?),"
        " (SELECT min(m.at) FROM ticket_changes m WHERE m.helpdesk = t.helpdesk AND m.id = t.id))"
        f" WHERE t.created_at <= ?{where} ORDER BY t.helpdesk, t.id",
        [when, when, *args],
    )
    tickets = [_as_of(ticket_from_row(row), moment) for row in rows]
    return AsOf(tickets=tickets, exact_since=exact_since(query, names))


def _as_of(ticket: Ticket, moment: datetime) -> Ticket:
    """A ticket whose first known state is after ``moment``: its guess at ``moment``."""
    if ticket.updated_at <= moment:
        return ticket
    solved = ticket.solved_at is not None and ticket.solved_at <= moment
    if solved or ticket.status.is_open:
        return ticket.model_copy(update={"updated_at": ticket.created_at})
    return ticket.model_copy(update={"status": Status.OPEN, "solved_at": None, "updated_at": ticket.created_at})


def ticket_changes(
    query: Query, since: datetime, until: datetime, helpdesks: Iterable[str] | None = None
) -> list[tuple[datetime, Ticket]]:
    """Each ticket's state right after each change recorded in (since, until], in time order; a ticket
    without rows (never changed since its first sight) is its stored row, at its ``updated_at``."""
    logged, args = _helpdesk_clause("c.helpdesk", helpdesks)
    stored, stored_args = _helpdesk_clause("t.helpdesk", helpdesks)
    span = [since.timestamp(), until.timestamp()]
    rows = query(
        f"SELECT {_TICKET_AS_STORED} FROM ticket_changes c JOIN tickets t ON t.helpdesk = c.helpdesk AND t.id = c.id"
        f" WHERE c.at > ? AND c.at <= ?{logged}"
        f" UNION ALL SELECT {_TICKET} FROM tickets t WHERE t.updated_at > ? AND t.updated_at <= ?{stored}"
        " AND NOT EXISTS (SELECT 1 FROM ticket_changes m WHERE m.helpdesk = t.helpdesk AND m.id = t.id)"
        " ORDER BY 11, 1, 2",
        [*span, *args, *span, *stored_args],
    )
    changes = [ticket_from_row(row) for row in rows]
    return [(t.updated_at, t) for t in changes]
