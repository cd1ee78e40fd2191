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
Claims live in this object; the store records only a claim about to be sent (``sending``: who, under
which lease token), so a replica that takes over delivery from a dead one re-sends what that one may
have sent without recording it, and says so (a WARNING, ``backlog_watch_redeliveries_total``).
A notifier with ``quiet_hours`` or ``mute_time_intervals`` keeps its rows "held" while its window is
closed (its ``except_levels`` still go) and sends them as one digest when it opens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenacity import RetryCallState, wait_exponential
from tenacity.wait import wait_base

from backlog_watch.alerting.acknowledgements import Acknowledgement
from backlog_watch.delivery.dedup import Notification, Reason, same_episode
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, AlertState, LogEntry
from backlog_watch.rules.backlog import RuleBase
from backlog_watch.rules.base import EscalationStep
from backlog_watch.store import News, QueuedNews, Store
from backlog_watch.store.codec import alert_from_body, alert_to_json

log = logging.getLogger(__name__)

DEFAULT_BACKOFF: wait_base = wait_exponential(multiplier=30, max=3600)
"""30s, 1m, 2m, 4m ... at most 1h between attempts of one notification."""
FATAL_BACKOFF = timedelta(hours=1)
"""A non-retryable failure (a revoked token, an unknown channel) is tried again hourly, not dropped."""


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


def _encode(notification: Notification, encode: Callable[[Alert], str]) -> str:
    """The row's body: the alert's stored body as is (spliced, not decoded and encoded again) and the rest."""
    rest = json.dumps(
        {
            "rule": notification.rule.name,
            "now": notification.now.timestamp(),
            "data_as_of": {k: v.timestamp() if v else None for k, v in notification.data_as_of.items()},
            "escalation": notification.escalation.model_dump(mode="json") if notification.escalation else None,
            "acknowledged": _ack_json(notification.acknowledged),
        }
    )
    return f'{{"alert": {encode(notification.alert)}, {rest[1:]}'


def _ack_json(ack: Acknowledgement | None) -> dict[str, Any] | None:
    if ack is None:
        return None
    return {"by": ack.by, "at": ack.at.timestamp(), "level": ack.level, "ticket_count": ack.ticket_count}


def _ack(body: Mapping[str, Any] | None) -> Acknowledgement | None:
    """Rows queued before acknowledgements existed have no such key."""
    if not body:
        return None
    return Acknowledgement(body["by"], _epoch(body["at"]), body["level"], body["ticket_count"])


def _epoch(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _episode(notification: Notification) -> datetime:
    """The episode a notification belongs to, as the log keys it."""
    return notification.alert.firing_since or notification.now


def _row(queued: QueuedNews) -> OutboxRow:
    return OutboxRow(
        queued.id,
        queued.fingerprint,
        queued.notifier,
        Reason(queued.reason),
        queued.body,
        queued.created_at,
        queued.attempts,
        queued.next_attempt_at,
        queued.last_error,
        queued.held,
        queued.episode,
    )


def _told(tail: QueuedNews) -> LogEntry:
    """What a notifier will have been told once its queue drains up to ``tail``."""
    body = json.loads(tail.body)
    alert = body["alert"]
    return LogEntry(
        fingerprint=tail.fingerprint,
        notifier=tail.notifier,
        episode=tail.episode,
        state=AlertState(alert["state"]),
        level=alert["level"],
        sent_at=_epoch(body["now"]),
        ticket_ids=tuple(str(t["id"]) for t in alert["tickets"]),
        ticket_count=alert["ticket_count"],
    )


@dataclass(frozen=True)
class Told:
    """``Outbox.log_entry`` of many alerts read at once: a ``LogStore`` for ``plan``."""

    entries: Mapping[tuple[str, str], LogEntry]

    def log_entry(self, fingerprint: str, notifier: str) -> LogEntry | None:
        return self.entries.get((fingerprint, notifier))


def _append(tail: QueuedNews, news: News) -> str | None:
    return None


def _state_of(body: str) -> str:
    return str(json.loads(body)["alert"]["state"])


class Outbox:
    """The outbox of a store: what to queue, fold, claim and retry is decided here; the store keeps the rows."""

    def __init__(self, store: Store, *, backoff: wait_base = DEFAULT_BACKOFF, replica: str = "") -> None:
        self.store = store
        self.backoff = backoff
        self.replica = replica
        """Who sends (cluster.py's replica id): a shared store records it on each row being sent."""
        self._claimed: set[int] = set()

    def enqueue(
        self,
        due: Sequence[tuple[str, Notification]],
        now: datetime,
        *,
        fold: bool = True,
        encode: Callable[[Alert], str] = alert_to_json,
    ) -> None:
        """Write what is due before anything is sent, after the news already queued for each alert;
        without ``fold`` every news gets its own row (a replica that does not send cannot tell which
        rows are being sent)."""
        news = [News(n.alert.fingerprint, name, n.reason.value, _encode(n, encode), _episode(n)) for name, n in due]
        self.store.outbox_enqueue(news, now, self._fold if fold else _append)

    def _fold(self, tail: QueuedNews, news: News) -> str | None:
        """The reason to give the row waiting last when ``news`` may replace it, else None (append)."""
        if not self._foldable(tail, news):
            return None
        return Reason.FIRING.value if tail.reason == Reason.FIRING.value else news.reason

    def _foldable(self, tail: QueuedNews, news: News) -> bool:
        """Whether news may replace the row waiting last: firing news of the same episode, not being sent
        (a parent not yet posted then shows the newest state; nothing an episode went through is lost)."""
        return (
            tail.id not in self._claimed
            and _state_of(news.body) == AlertState.FIRING.value
            and _state_of(tail.body) == AlertState.FIRING.value
            and abs((tail.episode - news.episode).total_seconds()) < 0.001
        )

    def log_entry(self, fingerprint: str, notifier: str) -> LogEntry | None:
        """What this notifier will have been told once its queue drains: the newest queued news, else the
        log. Planning against this (not the log alone) is what keeps a delayed episode from being
        overwritten or planned twice."""
        tail = self.store.outbox_tail(fingerprint, notifier)
        if tail is None:
            return self.store.log_entry(fingerprint, notifier)
        return _told(tail)

    def told(self, fingerprints: Collection[str]) -> Told:
        """``log_entry`` for every notifier of these alerts, read at once (two queries, not two per alert
        and notifier): what an evaluation plans against."""
        wanted = set(fingerprints)
        tails = {(q.fingerprint, q.notifier): q for q in self.store.outbox_rows() if q.fingerprint in wanted}
        told = self.store.log_entries(wanted)
        told.update((key, _told(tail)) for key, tail in tails.items())  # queue order: the last queued wins
        return Told(told)

    def rows(self, due_at: datetime | None = None) -> list[OutboxRow]:
        """Pending rows, oldest first; only those due at ``due_at`` when given."""
        return [_row(queued) for queued in self.store.outbox_rows(due_at)]

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

    def sending(self, rows: Sequence[OutboxRow]) -> tuple[list[OutboxRow], dict[int, str]]:
        """Record in the store, just before the send, that these claimed rows are being sent (from here
        to ``mark_sent`` is the crash window). The rows still queued, and of them those an earlier
        sender claimed without completing (row id -> that replica): sending them again may duplicate
        what it sent, a redelivery. A row gone meanwhile is let go and must not be sent."""
        found = self.store.outbox_claim([r.id for r in rows], self.replica)
        gone = [r for r in rows if r.id not in found]
        self.release(gone)
        return [r for r in rows if r.id in found], {i: who for i, who in found.items() if who is not None}

    def forget_claims(self) -> None:
        """Let go of every claim (a replica that lost the evaluator lease: its round ended in LeaseLost)."""
        self._claimed.clear()

    def release(self, rows: Sequence[OutboxRow]) -> None:
        """Give claimed rows back untouched (their notifier is not sending now)."""
        self._claimed.difference_update(r.id for r in rows)

    def notification(self, row: OutboxRow, rules: Mapping[str, RuleBase]) -> Notification | None:
        """The notification of a row, replying to what the log says was sent last (None: rule gone)."""
        body = json.loads(row.body)
        rule = rules.get(body["rule"])
        if rule is None:
            return None
        alert = alert_from_body(body["alert"])
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
            acknowledged=_ack(body.get("acknowledged")),
        )

    def mark_sent(self, sent: Sequence[tuple[OutboxRow, LogEntry]]) -> None:
        """Record the deliveries and clear their rows, atomically (the at-least-once boundary)."""
        self.store.outbox_complete([(row.id, entry) for row, entry in sent])  # in queue order
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
        self.store.outbox_reschedule(row.id, when, str(error))
        self._claimed.discard(row.id)
        return when

    def hold(self, notifier: str) -> list[OutboxRow]:
        """Hold every row of a notifier whose quiet hours are on (sent as one digest when they end)."""
        self.store.outbox_hold(notifier)
        return [r for r in self.rows() if r.notifier == notifier]

    def claim_held(self, notifier: str) -> list[OutboxRow]:
        """Every held row of a notifier not being sent, oldest first: the digest, once its quiet hours end."""
        rows = [r for r in self.rows() if r.notifier == notifier and r.held and r.id not in self._claimed]
        self._claimed.update(r.id for r in rows)
        return rows

    def drop(self, row: OutboxRow) -> None:
        self.store.outbox_drop(row.id)
        self._claimed.discard(row.id)
