"""The outbox: every notification is written to the store before it is sent, and cleared after.

    plan (against what each notifier has been told OR has queued: ``Outbox.log_entry``) -> enqueue
    (appended after the news already queued for that alert and notifier) -> claim the head of each
    alert+notifier queue that is due -> send -> complete: the notification-log entry is written and
    the row deleted in ONE transaction; on failure, the row is kept with ``next_attempt_at`` from
    tenacity's backoff (or the Retry-After asked for), and the rows behind it wait for it.

So a notifier outage delays and never loses, across polls and restarts: an alert that fires, resolves
and fires again while Slack is down is told all three, in order, and the resolved notice edits the
parent of ITS episode (the log keeps one entry per episode until no queued news needs its thread).
Only firing news of the same episode is folded into a row still waiting (the parent then shows the
newest state); a firing, a resolved notice and a new episode are never folded together. A crash
between a send and its mark redoes that one send (at-least-once, duplicates only in that window).
Claims live in this object, not in the store: a process that dies releases them with its memory.
A notifier with ``quiet_hours`` keeps its rows "held" while its calendar is closed and sends them
as one digest when it opens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tenacity import RetryCallState, wait_exponential
from tenacity.wait import wait_base

from backlog_watch.alerting.alerts import AlertState
from backlog_watch.alerting.escalation import EscalationStep
from backlog_watch.delivery.dedup import Notification, Notifier, Reason, same_episode
from backlog_watch.errors import NotifyError
from backlog_watch.rules.backlog import RuleBase
from backlog_watch.store.sqlite import (
    LOG_INSERT,
    LOG_PRUNE,
    LogEntry,
    SqliteStore,
    _alert_from_json,
    _alert_to_json,
    log_prune_row,
    log_row,
)

log = logging.getLogger(__name__)

DEFAULT_BACKOFF: wait_base = wait_exponential(multiplier=30, max=3600)
"""30s, 1m, 2m, 4m ... at most 1h between attempts of one notification."""
FATAL_BACKOFF = timedelta(hours=1)
"""A non-retryable failure (a revoked token, an unknown channel) is tried again hourly, not dropped."""


class DigestNotifier(Notifier, Protocol):
    async def send_digest(self, notifications: Sequence[Notification]) -> None:
        """Deliver several notifications as one message (quiet hours ending)."""
        ...


@dataclass(frozen=True)
class OutboxRow:
    """A notification waiting to be delivered."""

    id: int
    fingerprint: str
    notifier: str
    reason: Reason
    body: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    held: bool
    episode: datetime


def _encode(notification: Notification) -> str:
    return json.dumps(
        {
            "alert": json.loads(_alert_to_json(notification.alert)),
            "rule": notification.rule.name,
            "now": notification.now.timestamp(),
            "data_as_of": {k: v.timestamp() if v else None for k, v in notification.data_as_of.items()},
            "escalation": notification.escalation.model_dump(mode="json") if notification.escalation else None,
        }
    )


def _epoch(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _episode(notification: Notification) -> float:
    """The episode a notification belongs to, as the log keys it."""
    return (notification.alert.firing_since or notification.now).timestamp()


_COLUMNS = "id, fingerprint, notifier, reason, body, created_at, attempts, next_attempt_at, last_error, held, episode"
_TAIL = "SELECT id, episode, body, reason FROM outbox WHERE fingerprint = ? AND notifier = ? ORDER BY id DESC LIMIT 1"


class Outbox:
    """The outbox table of a SqliteStore."""

    def __init__(self, store: SqliteStore, *, backoff: wait_base = DEFAULT_BACKOFF) -> None:
        self.store = store
        self.backoff = backoff
        self._claimed: set[int] = set()

    def enqueue(self, due: Sequence[tuple[str, Notification]], now: datetime) -> None:
        """Write what is due before anything is sent, after the news already queued for each alert."""
        with self.store._transaction() as db:
            for name, n in due:
                tail = db.execute(_TAIL, (n.alert.fingerprint, name)).fetchone()
                if tail is not None and self._foldable(tail, n):
                    reason = Reason.FIRING if tail[3] == Reason.FIRING.value else n.reason
                    db.execute(
                        "UPDATE outbox SET reason = ?, body = ? WHERE id = ?", (reason.value, _encode(n), tail[0])
                    )
                    continue
                db.execute(
                    "INSERT INTO outbox (fingerprint, notifier, reason, body, created_at, next_attempt_at, episode) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (
                        n.alert.fingerprint,
                        name,
                        n.reason.value,
                        _encode(n),
                        now.timestamp(),
                        now.timestamp(),
                        _episode(n),
                    ),
                )

    def _foldable(self, tail: tuple[int, float, str, str], notification: Notification) -> bool:
        """Whether news may replace the row waiting last: firing news of the same episode, not being sent
        (a parent not yet posted then shows the newest state; nothing an episode went through is lost)."""
        row_id, episode, body, _ = tail
        return (
            row_id not in self._claimed
            and notification.alert.state is AlertState.FIRING
            and json.loads(body)["alert"]["state"] == AlertState.FIRING.value
            and abs(episode - _episode(notification)) < 0.001
        )

    def log_entry(self, fingerprint: str, notifier: str) -> LogEntry | None:
        """What this notifier will have been told once its queue drains: the newest queued news, else the
        log. Planning against this (not the log alone) is what keeps a delayed episode from being
        overwritten or planned twice."""
        with self.store._lock:
            tail = self.store._db.execute(_TAIL, (fingerprint, notifier)).fetchone()
        if tail is None:
            return self.store.log_entry(fingerprint, notifier)
        body = json.loads(tail[2])
        alert = body["alert"]
        return LogEntry(
            fingerprint=fingerprint,
            notifier=notifier,
            episode=_epoch(tail[1]),
            state=AlertState(alert["state"]),
            level=alert["level"],
            sent_at=_epoch(body["now"]),
            ticket_ids=tuple(str(t["id"]) for t in alert["tickets"]),
            ticket_count=alert["ticket_count"],
        )

    def record_sent(self, entry: LogEntry) -> None:
        """The log write of a send outside the outbox (dispatch.deliver)."""
        self.store.record_sent(entry)

    def rows(self, due_at: datetime | None = None) -> list[OutboxRow]:
        """Pending rows, oldest first; only those due at ``due_at`` when given."""
        sql = f"SELECT {_COLUMNS} FROM outbox"
        args: list[object] = []
        if due_at is not None:
            sql += " WHERE next_attempt_at <= ?"
            args.append(due_at.timestamp())
        with self.store._lock:
            found = self.store._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            OutboxRow(
                r[0], r[1], r[2], Reason(r[3]), r[4], _epoch(r[5]), r[6], _epoch(r[7]), r[8], bool(r[9]), _epoch(r[10])
            )
            for r in found
        ]

    def claim(self, now: datetime, *, skip: Collection[str] = ()) -> list[OutboxRow]:
        """The head of every alert+notifier queue that is due and not already being sent, claimed for
        sending (a later row waits for every earlier one of its alert and notifier, so news arrives in
        order). Each claim ends with ``mark_sent``, ``mark_failed``, ``drop`` or ``release``."""
        heads: dict[tuple[str, str], OutboxRow] = {}
        for row in self.rows():
            heads.setdefault((row.fingerprint, row.notifier), row)
        ready = [
            r
            for r in heads.values()
            if r.next_attempt_at <= now and r.id not in self._claimed and r.notifier not in skip
        ]
        self._claimed.update(r.id for r in ready)
        return ready

    def release(self, rows: Sequence[OutboxRow]) -> None:
        """Give claimed rows back untouched (their notifier is not sending now)."""
        self._claimed.difference_update(r.id for r in rows)

    def notification(self, row: OutboxRow, rules: Mapping[str, RuleBase]) -> Notification | None:
        """The notification of a row, replying to what the log says was sent last (None: rule gone)."""
        body = json.loads(row.body)
        rule = rules.get(body["rule"])
        if rule is None:
            return None
        alert = _alert_from_json(json.dumps(body["alert"]))
        entry = self.store.log_entry(row.fingerprint, row.notifier, row.episode)  # the thread of THIS episode
        previous = entry if entry is not None and same_episode(entry, alert) else None
        return Notification(
            alert=alert,
            reason=row.reason,
            rule=rule,
            now=_epoch(body["now"]),
            previous=previous,
            data_as_of={k: _epoch(v) if v is not None else None for k, v in body["data_as_of"].items()},
            escalation=EscalationStep.model_validate(body["escalation"]) if body["escalation"] else None,
        )

    def mark_sent(self, sent: Sequence[tuple[OutboxRow, LogEntry]]) -> None:
        """Record the deliveries and clear their rows, atomically (the at-least-once boundary)."""
        with self.store._transaction() as db:
            for row, entry in sent:  # in queue order: each alert's log ends at its newest news
                db.execute(LOG_INSERT, log_row(entry))
                db.execute("DELETE FROM outbox WHERE id = ?", (row.id,))
                db.execute(LOG_PRUNE, log_prune_row(entry))
        self._claimed.difference_update(row.id for row, _ in sent)

    def mark_failed(self, row: OutboxRow, now: datetime, error: NotifyError) -> datetime:
        """Count the attempt and schedule the next one; returns when that is."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = row.attempts + 1
        wait = timedelta(seconds=self.backoff(state))
        if not error.retryable:
            wait = max(wait, FATAL_BACKOFF)
        if error.retry_after:
            wait = max(wait, timedelta(seconds=error.retry_after))
        when = now + wait
        with self.store._transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (when.timestamp(), str(error), row.id),
            )
        self._claimed.discard(row.id)
        return when

    def hold(self, notifier: str) -> list[OutboxRow]:
        """Hold every row of a notifier whose quiet hours are on (sent as one digest when they end)."""
        with self.store._transaction() as db:
            db.execute("UPDATE outbox SET held = 1 WHERE notifier = ?", (notifier,))
        return [r for r in self.rows() if r.notifier == notifier]

    def claim_held(self, notifier: str) -> list[OutboxRow]:
        """Every held row of a notifier not being sent, oldest first: the digest, once its quiet hours end."""
        rows = [r for r in self.rows() if r.notifier == notifier and r.held and r.id not in self._claimed]
        self._claimed.update(r.id for r in rows)
        return rows

    def drop(self, row: OutboxRow) -> None:
        with self.store._transaction() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (row.id,))
        self._claimed.discard(row.id)
