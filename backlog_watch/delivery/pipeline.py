"""Delivery as an explicit pipeline, after Alertmanager's notify pipeline:

    mute (silences, inhibition, quiet hours) -> plan (dedup over the log and the outbox) -> enqueue
    -> send (each notifier on its own, concurrently) -> record (log entry + row cleared, one transaction)

The first three stages are synchronous and quick: the daemon runs them under its evaluation lock. The
last two belong to the ``Deliverer``, run outside that lock: it claims the rows that are due and sends
them, so a storm of paced Slack messages never holds up a poll or the next evaluation. The outbox is
the only retrier: a failed send is rescheduled there (tenacity's backoff, or the Retry-After asked for),
never retried in place, so nothing in delivery sleeps except a notifier's own pacing.

The deliverer shares the event loop with the polls and the lease keeper: its store work (claiming the
heads, decoding them against the log, recording each send) runs in worker threads (``asyncio.to_thread``
copies the context, the lease fence with it), and it yields after every send, so a storm of thousands of
first notifications to a notifier that never awaits (the console) does not hold the loop for seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from backlog_watch.alerting.acknowledgements import Acknowledgement
from backlog_watch.alerting.escalation import escalated_notifiers
from backlog_watch.alerting.policy import DeliveryPolicy, held_back
from backlog_watch.alerting.silences import Silence
from backlog_watch.alerting.time_intervals import MuteWindow
from backlog_watch.delivery.dedup import Delivery, DispatchResult, Notification, Reason, plan, same_episode
from backlog_watch.delivery.notifiers.base import Notifier
from backlog_watch.delivery.outbox import Outbox, OutboxRow
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, AlertState, LogEntry, Muted
from backlog_watch.rules.backlog import RuleBase
from backlog_watch.store.codec import alert_to_json

log = logging.getLogger(__name__)

DECODE_BATCH = 50
"""Rows decoded at a time (in a worker thread, which a shutdown cannot interrupt): a storm's thousands of
claimed rows, decoded at once, took seconds before the first send and ran on past SIGTERM."""

Due = list[tuple[str, Notification]]


# -- stage 1: mute -------------------------------------------------------------------------------------


def mute(
    alerts: Mapping[str, Alert],
    rules: Mapping[str, RuleBase],
    policy: DeliveryPolicy,
    silences: Iterable[Silence],
    now: datetime,
) -> tuple[dict[str, Alert], dict[str, Muted]]:
    """Every alert marked with why it is not notified (None: notified), and those reasons by fingerprint."""
    muted = policy.muted(alerts.values(), rules, silences, now)
    return {fp: replace(a, muted=muted.get(fp)) for fp, a in alerts.items()}, muted


# -- stage 2: plan -------------------------------------------------------------------------------------


def plan_due(
    alerts: Mapping[str, Alert],
    rules: Mapping[str, RuleBase],
    outbox: Outbox,
    now: datetime,
    data_as_of: Mapping[str, datetime | None],
    muted: Mapping[str, Muted],
    acknowledged: Mapping[str, Acknowledgement] | None = None,
) -> Due:
    """What each notifier must be told now, against what it was told or has queued; silenced and
    inhibited alerts are not planned at all (quiet hours only hold, in the outbox), acknowledged
    ones only when they resolve."""
    skip = held_back(muted)
    told = outbox.told(alerts.keys())  # what each notifier was told or has queued, read at once
    planned = plan(list(alerts.values()), rules, told, now, data_as_of, acknowledged)
    return [(name, n) for name, n in planned if n.alert.fingerprint not in skip]


# -- stage 3: enqueue ----------------------------------------------------------------------------------


def enqueue(
    outbox: Outbox,
    due: Sequence[tuple[str, Notification]],
    now: datetime,
    encode: Callable[[Alert], str] = alert_to_json,
) -> None:
    """Written before anything is sent: a crash from here on redoes the work, never loses it."""
    outbox.enqueue(due, now, encode=encode)


# -- stages 4 and 5: send, record ----------------------------------------------------------------------


def log_entry_for(name: str, notification: Notification, delivery: Delivery) -> LogEntry:
    """What the notification log keeps of a successful send (the Slack ts, for later replies)."""
    alert, previous = notification.alert, notification.previous
    return LogEntry(
        fingerprint=alert.fingerprint,
        notifier=name,
        episode=alert.firing_since or notification.now,
        state=alert.state,
        level=alert.level,
        sent_at=notification.now,
        ticket_ids=tuple(t.id for t in alert.tickets),
        channel=delivery.channel or (previous.channel if previous else None),
        ts=delivery.ts or (previous.ts if previous else None),
        ticket_count=alert.ticket_count,
    )


def record(outbox: Outbox, name: str, sent: Sequence[tuple[OutboxRow, Notification, Delivery]]) -> None:
    """The log entries written and the rows cleared in one transaction: the at-least-once boundary."""
    outbox.mark_sent([(row, log_entry_for(name, n, delivery)) for row, n, delivery in sent])


def reschedule(
    outbox: Outbox,
    name: str,
    pairs: Sequence[tuple[OutboxRow, Notification]],
    now: datetime,
    error: NotifyError,
    result: DispatchResult,
) -> None:
    """A failed send stays queued, retried by the outbox later; the first failure of a row is logged."""
    for row, notification in pairs:
        when = outbox.mark_failed(row, now, error)
        if row.attempts == 0:  # log on change: the first failure of a notification, not every retry
            log.warning(
                "notification of %s to %s failed (next try %s): %s",
                notification.alert.rule,
                name,
                when.strftime("%H:%M:%S"),
                error,
                extra={"rule": notification.alert.rule, "notifier": name},
            )
        result.failed.append((name, notification, error))


class Deliverer:
    """Claims what is due in the outbox and sends it: every notifier drains its own queue, concurrently.

    Within one notifier the rows are sent one after another, and the outbox hands out only the head of
    each alert+notifier queue, so the news of one alert arrives in order. One round at a time (a lock);
    ``stop`` makes a running round finish its current send and claim nothing more.
    """

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, Notifier],
        rules: Callable[[], Mapping[str, RuleBase]],
        quiet_hours: Mapping[str, MuteWindow] | None = None,
    ) -> None:
        self.outbox = outbox
        self.notifiers = notifiers
        self.rules = rules
        self.quiet_hours = dict(quiet_hours or {})
        self._round = asyncio.Lock()
        self.stopping = False

    async def deliver(self, now: datetime) -> DispatchResult:
        """Send every row due at ``now``; each success recorded, each failure rescheduled."""
        async with self._round:
            result = DispatchResult()
            rules = self.rules()
            await _all_or_none(
                [self._drain(name, notifier, rules, now, result) for name, notifier in self.notifiers.items()]
            )
            return result

    async def _drain(
        self, name: str, notifier: Notifier, rules: Mapping[str, RuleBase], now: datetime, result: DispatchResult
    ) -> None:
        window = self.quiet_hours.get(name)
        if window is not None:
            if not window.is_open(now):
                if window.except_levels:
                    await self._send_excepted(name, notifier, window, rules, now, result)
                result.held.extend((name, r.fingerprint) for r in self.outbox.hold(name))
                return
            if hasattr(notifier, "send_digest"):
                await self._digest(name, notifier, rules, now, result)
        tried: set[int] = set()  # a failure retried at once (a zero backoff) waits for the next round
        while not self.stopping:
            heads = await asyncio.to_thread(self._claim, name, now)
            self.outbox.release([r for r in heads if r.id in tried])
            heads = [r for r in heads if r.id not in tried]
            if not heads:
                return
            tried.update(r.id for r in heads)
            for start in range(0, len(heads), DECODE_BATCH):
                if self.stopping:
                    self.outbox.release(heads[start:])
                    break
                for row, notification in await asyncio.to_thread(
                    self._decode, heads[start : start + DECODE_BATCH], rules
                ):
                    if self.stopping:
                        self.outbox.release([row])
                        continue
                    await self._send_one(name, notifier, row, notification, now, result)
                    await asyncio.sleep(0)  # a notifier that never awaits (the console) must not hold the loop

    def _claim(self, name: str, now: datetime) -> list[OutboxRow]:
        """The heads due for this notifier only (the other notifiers' drains claim their own)."""
        others = {r.notifier for r in self.outbox.rows()} - {name}
        return self.outbox.claim(now, skip=others)

    def _decode(self, rows: Sequence[OutboxRow], rules: Mapping[str, RuleBase]) -> list[tuple[OutboxRow, Notification]]:
        pairs = []
        for row in rows:
            notification = self.outbox.notification(row, rules)
            if notification is None:
                log.warning("dropping a notification of a rule no longer configured", extra={"notifier": row.notifier})
                self.outbox.drop(row)
                continue
            pairs.append((row, notification))
        return pairs

    async def _send_one(
        self,
        name: str,
        notifier: Notifier,
        row: OutboxRow,
        notification: Notification,
        now: datetime,
        result: DispatchResult,
    ) -> None:
        notification = replace(notification, now=now)  # ages and "sent at" as of the actual send
        if notification.reason is Reason.ACKNOWLEDGED and not getattr(notifier, "acknowledges", False):
            await asyncio.to_thread(record, self.outbox, name, [(row, notification, Delivery())])  # logged only
            return
        if not await asyncio.to_thread(self._sending, name, [row], result):
            return
        try:
            delivery = await notifier.send(notification)
        except NotifyError as exc:
            await asyncio.to_thread(reschedule, self.outbox, name, [(row, notification)], now, exc, result)
            return
        await asyncio.to_thread(record, self.outbox, name, [(row, notification, delivery)])
        result.sent.append((name, notification))

    async def _send_excepted(
        self,
        name: str,
        notifier: Notifier,
        window: MuteWindow,
        rules: Mapping[str, RuleBase],
        now: datetime,
        result: DispatchResult,
    ) -> None:
        """The window is closed: what its ``except_levels`` let through goes now, the rest is held."""
        pairs = self._decode(self._claim(name, now), rules)
        waiting = [row for row, n in pairs if window.holds(n.alert.level, now)]
        self.outbox.release(waiting)
        for row, notification in pairs:
            if row not in waiting:
                await self._send_one(name, notifier, row, notification, now, result)

    async def _digest(
        self, name: str, notifier: Notifier, rules: Mapping[str, RuleBase], now: datetime, result: DispatchResult
    ) -> None:
        """Quiet hours have ended: what they held goes out as one message (a single one as itself)."""
        pairs = self._decode(self.outbox.claim_held(name), rules)
        if len(pairs) <= 1:
            self.outbox.release([r for r, _ in pairs])
            return
        if len(self._sending(name, [row for row, _ in pairs], result)) < len(pairs):
            self.outbox.release([row for row, _ in pairs])  # some went meanwhile: the next round digests the rest
            return
        notifications = [replace(n, now=now) for _, n in pairs]
        try:
            await notifier.send_digest(notifications)  # type: ignore[attr-defined]
        except NotifyError as exc:
            reschedule(self.outbox, name, pairs, now, exc, result)
            return
        record(self.outbox, name, [(row, n, Delivery()) for (row, _), n in zip(pairs, notifications, strict=True)])
        result.sent.extend((name, n) for n in notifications)

    def _sending(self, name: str, rows: Sequence[OutboxRow], result: DispatchResult) -> list[OutboxRow]:
        """Record the rows as being sent; those still queued. A row an earlier sender claimed and never
        recorded as sent (it died or lost its lease in between) goes again: said, and counted."""
        found, former = self.outbox.sending(rows)
        for row in found:
            if row.id in former:
                log.warning(
                    "redelivering outbox row %d (%s to %s): %s claimed it for sending and never recorded the "
                    "send (the crash window: the message may show twice)",
                    row.id,
                    row.fingerprint,
                    name,
                    former[row.id],
                    extra={"notifier": name},
                )
                result.redelivered.append((name, row.fingerprint, former[row.id]))
        return found


async def _all_or_none(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run concurrently; the first error is raised as it is (a StoreError stays a StoreError, unlike a
    TaskGroup's ExceptionGroup), after the others are cancelled so none goes on unobserved."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def acknowledgement_news(alert: Alert, rule: RuleBase, ack: Acknowledgement, outbox: Outbox, now: datetime) -> Due:
    """ACKNOWLEDGED news for every notifier told about this episode: Slack edits its parent, a pager
    acknowledges its incident (a notifier without ``acknowledges`` only logs it)."""
    own = tuple(rule.notify or ())
    told = [*own, *escalated_notifiers(rule.escalate or (), alert, now, own)]
    due: Due = []
    for name in told:
        entry = outbox.log_entry(alert.fingerprint, name)
        if entry is not None and same_episode(entry, alert) and entry.state is AlertState.FIRING:
            due.append((name, Notification(alert, Reason.ACKNOWLEDGED, rule, now, entry, acknowledged=ack)))
    return due
