"""Checks a fetch makes every so often besides following changes: Jira lists its open issues to notice
deleted ones, Freshdesk lists its deleted tickets.

Both need the same two rules, written once here: whether the check is due is decided against the time
the poll started, and the check is stamped when it *ends*, so that a long (throttled) check or cold sync
does not make the very next poll check again. And a reconciliation listing that comes back malformed
must remove nothing: it becomes a ``listing_problem`` instead of a short list of open ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from backlog_watch.errors import PaginationError


class PeriodicCheck:
    """A check last made at ``last`` (wall time, None: never), due again every ``every``; ``clock`` is the
    connector's wall clock, read once now (the poll's start) and again by ``done``."""

    def __init__(self, last: float | None, every: timedelta, clock: Callable[[], float]) -> None:
        self.last = last
        self.every = every
        self.clock = clock
        self.started = clock()

    @property
    def due(self) -> bool:
        """Whether the check is due in this poll: never made, or ``every`` passed before the poll started."""
        return self.last is None or self.started - self.last >= self.every.total_seconds()

    def done(self) -> float:
        """Stamp the check as made now (when it ended), and answer that time for the cursor."""
        self.last = self.clock()
        return self.last


async def listed_ids(listing: Awaitable[frozenset[str]], what: str) -> tuple[frozenset[str] | None, str | None]:
    """Await a reconciliation listing: ``(open ids, None)``, or ``(None, problem)`` when a page of it was
    malformed (PaginationError), so the framework removes nothing on a listing it cannot trust."""
    try:
        return await listing, None
    except PaginationError as exc:
        return None, f"{what} is malformed ({exc})"
