"""The outbox: every notification is written to the store before it is sent, and cleared after.

    plan -> enqueue (one pending row per alert and notifier: the newest news replaces older news not
    yet delivered, keeping its retry schedule) -> deliver the rows that are due -> on success, the
    notification-log entry is written and the row deleted in ONE transaction; on failure, the row is
    kept with ``next_attempt_at`` from tenacity's backoff (or the Retry-After asked for).

So a notifier outage delays and never loses, across polls and restarts; a crash between a send and
its mark redoes that one send (at-least-once, duplicates only in that window). A notifier with
``quiet_hours`` keeps its rows "held" while its calendar is closed and sends them as one digest when
it opens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tenacity import RetryCallState, wait_exponential
from tenacity.wait import wait_base

from backlog_watch.calendar import BusinessCalendar
from backlog_watch.dispatch import DispatchResult, Notification, Notifier, Reason, same_episode
from backlog_watch.errors import NotifyError
from backlog_watch.escalation import EscalationStep
from backlog_watch.rules import RuleBase
from backlog_watch.store import LOG_INSERT, LogEntry, SqliteStore, _alert_from_json, _alert_to_json, log_row

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


def _encode(notification: Notification) -> str:
    return json.dumps({
        "alert": json.loads(_alert_to_json(notification.alert)),
        "rule": notification.rule.name,
        "now": notification.now.timestamp(),
        "data_as_of": {k: v.timestamp() if v else None for k, v in notification.data_as_of.items()},
        "escalation": notification.escalation.model_dump(mode="json") if notification.escalation else None,
    })


def _epoch(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


class Outbox:
    """The outbox table of a SqliteStore."""

    def __init__(self, store: SqliteStore, *, backoff: wait_base = DEFAULT_BACKOFF) -> None:
        self.store = store
        self.backoff = backoff

    def enqueue(self, due: Sequence[tuple[str, Notification]], now: datetime) -> None:
        """Write what is due before anything is sent; newer news for a pending row replaces it."""
        rows = [(n.alert.fingerprint, name, n.reason.value, _encode(n), now.timestamp(), now.timestamp())
                for name, n in due]
        with self.store._transaction() as db:
            db.executemany(
                "INSERT INTO outbox (fingerprint, notifier, reason, body, created_at, next_attempt_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (fingerprint, notifier) "
                "DO UPDATE SET reason = excluded.reason, body = excluded.body", rows)

    def rows(self, due_at: datetime | None = None) -> list[OutboxRow]:
        """Pending rows, oldest first; only those due at ``due_at`` when given."""
        sql = "SELECT * FROM outbox"
        args: list[object] = []
        if due_at is not None:
            sql += " WHERE next_attempt_at <= ?"
            args.append(due_at.timestamp())
        with self.store._lock:
            found = self.store._db.execute(sql + " ORDER BY id", args).fetchall()
        return [OutboxRow(r[0], r[1], r[2], Reason(r[3]), r[4], _epoch(r[5]), r[6], _epoch(r[7]), r[8], bool(r[9]))
                for r in found]

    def notification(self, row: OutboxRow, rules: Mapping[str, RuleBase]) -> Notification | None:
        """The notification of a row, replying to what the log says was sent last (None: rule gone)."""
        body = json.loads(row.body)
        rule = rules.get(body["rule"])
        if rule is None:
            return None
        alert = _alert_from_json(json.dumps(body["alert"]))
        entry = self.store.log_entry(row.fingerprint, row.notifier)
        previous = entry if entry is not None and same_episode(entry, alert) else None
        return Notification(
            alert=alert, reason=row.reason, rule=rule, now=_epoch(body["now"]), previous=previous,
            data_as_of={k: _epoch(v) if v is not None else None for k, v in body["data_as_of"].items()},
            escalation=EscalationStep.model_validate(body["escalation"]) if body["escalation"] else None,
        )

    def mark_sent(self, sent: Sequence[tuple[OutboxRow, LogEntry]]) -> None:
        """Record the deliveries and clear their rows, atomically (the at-least-once boundary)."""
        with self.store._transaction() as db:
            db.executemany(LOG_INSERT, [log_row(entry) for _, entry in sent])
            db.executemany("DELETE FROM outbox WHERE id = ?", [(row.id,) for row, _ in sent])

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
            db.execute("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                       (when.timestamp(), str(error), row.id))
        return when

    def hold(self, rows: Sequence[OutboxRow]) -> None:
        with self.store._transaction() as db:
            db.executemany("UPDATE outbox SET held = 1 WHERE id = ?", [(r.id,) for r in rows])

    def drop(self, row: OutboxRow) -> None:
        with self.store._transaction() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (row.id,))


def log_entry_for(name: str, notification: Notification, channel: str | None, ts: str | None) -> LogEntry:
    alert, previous = notification.alert, notification.previous
    return LogEntry(
        fingerprint=alert.fingerprint, notifier=name, episode=alert.firing_since or notification.now,
        state=alert.state, level=alert.level, sent_at=notification.now,
        ticket_ids=tuple(t.id for t in alert.tickets),
        channel=channel or (previous.channel if previous else None),
        ts=ts or (previous.ts if previous else None), ticket_count=alert.ticket_count,
    )


async def deliver_due(
    outbox: Outbox, notifiers: Mapping[str, Notifier], rules: Mapping[str, RuleBase], now: datetime,
    quiet_hours: Mapping[str, BusinessCalendar] | None = None,
) -> DispatchResult:
    """Send every row due now; record each success, reschedule each failure."""
    result = DispatchResult()
    by_notifier: dict[str, list[OutboxRow]] = {}
    for row in outbox.rows(due_at=now):
        by_notifier.setdefault(row.notifier, []).append(row)
    for name, rows in by_notifier.items():
        notifier = notifiers.get(name)
        if notifier is None:
            continue  # no longer configured: kept, in case the config brings it back
        calendar = (quiet_hours or {}).get(name)
        if calendar is not None and not calendar.is_open(now):
            outbox.hold([r for r in rows if not r.held])
            result.held.extend((name, r.fingerprint) for r in rows)
            continue
        pairs = _decode(outbox, rows, rules)
        held = [(r, n) for r, n in pairs if r.held]
        if len(held) > 1 and hasattr(notifier, "send_digest"):
            await _send_digest(outbox, name, notifier, held, now, result)
            pairs = [(r, n) for r, n in pairs if not r.held]
        for row, notification in pairs:
            await _send_one(outbox, name, notifier, row, notification, now, result)
    return result


def _decode(outbox: Outbox, rows: Sequence[OutboxRow], rules: Mapping[str, RuleBase]
            ) -> list[tuple[OutboxRow, Notification]]:
    pairs = []
    for row in rows:
        notification = outbox.notification(row, rules)
        if notification is None:
            log.warning("dropping a notification of a rule no longer configured", extra={"notifier": row.notifier})
            outbox.drop(row)
            continue
        pairs.append((row, notification))
    return pairs


async def _send_one(outbox: Outbox, name: str, notifier: Notifier, row: OutboxRow, notification: Notification,
                    now: datetime, result: DispatchResult) -> None:
    notification = replace(notification, now=now)  # ages and "sent at" as of the actual send
    try:
        delivery = await notifier.send(notification)
    except NotifyError as exc:
        _failed(outbox, name, [(row, notification)], now, exc, result)
        return
    outbox.mark_sent([(row, log_entry_for(name, notification, delivery.channel, delivery.ts))])
    result.sent.append((name, notification))


async def _send_digest(outbox: Outbox, name: str, notifier: Notifier, pairs: Sequence[tuple[OutboxRow, Notification]],
                       now: datetime, result: DispatchResult) -> None:
    notifications = [replace(n, now=now) for _, n in pairs]
    try:
        await notifier.send_digest(notifications)  # type: ignore[attr-defined]
    except NotifyError as exc:
        _failed(outbox, name, pairs, now, exc, result)
        return
    outbox.mark_sent([(row, log_entry_for(name, n, None, None)) for (row, _), n in zip(pairs, notifications,
                                                                                           strict=True)])
    result.sent.extend((name, n) for n in notifications)


def _failed(outbox: Outbox, name: str, pairs: Sequence[tuple[OutboxRow, Notification]], now: datetime,
            exc: NotifyError, result: DispatchResult) -> None:
    for row, notification in pairs:
        when = outbox.mark_failed(row, now, exc)
        if row.attempts == 0:  # log on change: the first failure of a notification, not every retry
            log.warning("notification of %s to %s failed (next try %s): %s", notification.alert.rule, name,
                        when.strftime("%H:%M:%S"), exc, extra={"rule": notification.alert.rule, "notifier": name})
        result.failed.append((name, notification, exc))
