"""What the store keeps for the outbox, the silences, the actions on alerts and the ticket change log,
as plain records.

The outbox and silence logic lives above the store (delivery/outbox.py orders and backs off,
alerting/silences.py matches); the store only keeps their rows. These records are what crosses
that line, so a store imports nothing from delivery or alerting and every store implementation
speaks the same types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backlog_watch.models import Ticket


@dataclass(frozen=True)
class News:
    """One notification to append to the queue of its alert and notifier."""

    fingerprint: str
    notifier: str
    reason: str
    body: str
    """The notification, encoded by the outbox (JSON): the store keeps it as it is."""
    episode: datetime


@dataclass(frozen=True)
class QueuedNews:
    """A queued notification as the store keeps it (the outbox turns it into an ``OutboxRow``)."""

    id: int
    """Grows with every append: the order of the queue."""
    fingerprint: str
    notifier: str
    reason: str
    body: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    held: bool
    episode: datetime


Matcher = tuple[str, str, str]
"""(key, op, value) of one silence matcher; alerting/silences.py parses and applies them."""


@dataclass(frozen=True)
class SilenceRecord:
    """One silence as the store keeps it."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime


Fold = Callable[[QueuedNews, News], str | None]
"""Given the news waiting last in a queue and new news for it, the reason to rewrite that row with
(the new news then replaces its body), or None to append the new news behind it."""


@dataclass(frozen=True)
class ActionRecord:
    """One thing a person did to an alert (from Slack: acknowledge, snooze, take a ticket), or the
    daemon's own clearing of an acknowledgement; kept so the team sees who did what, and when."""

    fingerprint: str
    episode: datetime
    """The alert's ``firing_since`` when it was acted on: an acknowledgement holds for that episode only."""
    action: str
    actor: str
    at: datetime
    detail: str = ""
    level: str = ""
    """The alert's level when acted on (a later critical clears a warn acknowledgement)."""
    ticket_count: int = 0
    """How many tickets the alert had when acted on (many more clear an acknowledgement)."""


@dataclass(frozen=True)
class AsOf:
    """The backlog as it was at a past moment, rebuilt from the ticket change log (store/changelog.py)."""

    tickets: list[Ticket]
    """Every ticket that existed then (created at or before it), open and solved, with its tracked
    fields (status, priority, group, assignee, tags, solved_at, SLA) as they were then."""
    exact_since: datetime | None
    """The first change the log recorded (None: none yet). Before it the answer is approximate: a
    ticket's state then is guessed from its created and solved times and the first state the log saw."""

    def approximate(self, moment: datetime) -> bool:
        """Whether the answer for ``moment`` is a guess (before the first recorded change)."""
        return self.exact_since is None or moment < self.exact_since
