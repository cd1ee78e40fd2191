"""When to send what: the dedup decision over the notification log (the plan stage of pipeline.py).

``needs_notify`` is a pure function of the last log entry, the alert and ``now`` (as Alertmanager's
dedup stage); the daemon plans against the outbox's view of it (the newest news queued, else the log),
so news waiting for a notifier is neither planned twice nor replaced by the next episode. The log is
written only after a notifier succeeded, so a crash or an outage means the notification is tried again,
never lost, and a restart sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from backlog_watch.alerting.acknowledgements import Acknowledgement
from backlog_watch.alerting.escalation import escalated_notifiers
from backlog_watch.errors import NotifyError
from backlog_watch.models import LEVEL_RANK, Alert, AlertState, LogEntry, Muted
from backlog_watch.rules.backlog import RuleBase
from backlog_watch.rules.base import EscalationStep

log = logging.getLogger(__name__)

DEFAULT_REPEAT = timedelta(hours=4)


class Reason(StrEnum):
    """Why a notification goes out."""

    FIRING = "firing"
    ESCALATED = "escalated"
    MORE_TICKETS = "more_tickets"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    """Someone acknowledged the alert: Slack edits its parent, a pager acknowledges its incident; a
    notifier that does not say ``acknowledges = True`` is not sent this (its log entry is still written)."""


def same_episode(entry: LogEntry, alert: Alert) -> bool:
    """Whether the log entry belongs to this firing episode (times survive a float round trip)."""
    return alert.firing_since is not None and abs((entry.episode - alert.firing_since).total_seconds()) < 0.001


def needs_notify(
    entry: LogEntry | None, alert: Alert, now: datetime, *, repeat_every: timedelta, send_resolved: bool
) -> Reason | None:
    """What, if anything, this notifier should be told about this alert now."""
    if alert.state is AlertState.FIRING:
        if entry is None or not same_episode(entry, alert) or entry.state is AlertState.RESOLVED:
            return Reason.FIRING
        if LEVEL_RANK[alert.level] > LEVEL_RANK.get(entry.level, 0):
            return Reason.ESCALATED
        if grew(entry, alert):
            return Reason.MORE_TICKETS
        if now - entry.sent_at >= repeat_every:
            return Reason.REPEAT
        return None
    if (
        alert.state is AlertState.RESOLVED
        and send_resolved
        and entry is not None
        and same_episode(entry, alert)
        and entry.state is AlertState.FIRING
    ):
        return Reason.RESOLVED
    return None


GROWTH_RATIO = 0.25
GROWTH_MIN = 3


def grew(entry: LogEntry, alert: Alert) -> bool:
    """Whether the alert has noticeably more tickets than when last told: a quarter more and at least
    three, so a backlog creeping up one ticket an hour does not ping the thread every hour."""
    told = entry.ticket_count
    if told is None:
        return False
    return alert.ticket_count - told >= max(GROWTH_MIN, told * GROWTH_RATIO)


@dataclass(frozen=True)
class Notification:
    """One message to one notifier about one alert."""

    alert: Alert
    reason: Reason
    rule: RuleBase
    now: datetime
    previous: LogEntry | None = None
    """The last entry sent for this episode (Slack replies in its thread)."""
    data_as_of: Mapping[str, datetime | None] = field(default_factory=dict)
    """Last successful poll of each helpdesk, for the freshness line."""
    escalation: EscalationStep | None = None
    """The escalation step that brought this notifier in, when it is not one of the rule's own."""
    acknowledged: Acknowledgement | None = None
    """Who acknowledged this episode (ACKNOWLEDGED news), shown on the parent message."""


@dataclass(frozen=True)
class Delivery:
    """Where a notification landed, for later replies and edits."""

    channel: str | None = None
    ts: str | None = None


class LogStore(Protocol):
    def log_entry(self, fingerprint: str, notifier: str) -> LogEntry | None:
        """The last news this notifier was told (or, through an outbox, has queued) about the alert."""
        ...


@dataclass
class DispatchResult:
    sent: list[tuple[str, Notification]] = field(default_factory=list)
    planned: list[tuple[str, Notification]] = field(default_factory=list)
    failed: list[tuple[str, Notification, NotifyError]] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    """(notifier, fingerprint) kept back by quiet hours, for a digest when they end."""
    muted: dict[str, Muted] = field(default_factory=dict)
    """fingerprint -> why it was not notified (a silence's id, the alert that inhibits it, quiet hours)."""
    redelivered: list[tuple[str, str, str]] = field(default_factory=list)
    """(notifier, fingerprint, former sender) sent again because an earlier send was never recorded."""


def plan(
    alerts: Sequence[Alert],
    rules: Mapping[str, RuleBase],
    store: LogStore,
    now: datetime,
    data_as_of: Mapping[str, datetime | None] | None = None,
    acknowledged: Mapping[str, Acknowledgement] | None = None,
) -> list[tuple[str, Notification]]:
    """Every (notifier, notification) due now, most severe first; a firing alert whose episode is
    ``acknowledged`` is not repeated nor escalated (its resolved notice still goes)."""
    due: list[tuple[str, Notification]] = []
    as_of = data_as_of or {}
    for alert in sorted(alerts, key=lambda a: (-LEVEL_RANK[a.level], a.rule, a.labels)):
        rule = rules.get(alert.rule)
        if rule is None or (alert.is_firing and alert.fingerprint in (acknowledged or {})):
            continue
        own = tuple(rule.notify or ())
        extra = escalated_notifiers(rule.escalate or (), alert, now, own)
        for notifier in (*own, *extra):
            entry = store.log_entry(alert.fingerprint, notifier)
            reason = needs_notify(
                entry,
                alert,
                now,
                repeat_every=rule.repeat_every or DEFAULT_REPEAT,
                send_resolved=rule.send_resolved if rule.send_resolved is not None else True,
            )
            if reason is None:
                continue
            previous = entry if entry is not None and same_episode(entry, alert) else None
            due.append(
                (
                    notifier,
                    Notification(alert, reason, rule, now, previous, data_in_scope(alert, as_of), extra.get(notifier)),
                )
            )
    return due


def data_in_scope(alert: Alert, data_as_of: Mapping[str, datetime | None]) -> Mapping[str, datetime | None]:
    """The polls the alert's freshness line names: its helpdesk's, or every helpdesk's when it has none.
    Each queued row keeps only these, so 500 helpdesks are not 500 entries in each of thousands of rows."""
    helpdesk = alert.label_map.get("helpdesk")
    if helpdesk is None:
        return data_as_of
    return {helpdesk: data_as_of[helpdesk]} if helpdesk in data_as_of else {}
