"""The engine `test rules` and `replay` share: a backlog's timeline fed into a scratch store, step by
step, through the daemon's own evaluation on a simulated clock.

A ``Timeline`` is the tickets at the start and each ticket's full state right after each later change,
in time order. ``Simulation`` holds a scratch store (never the real one) and a ``Daemon`` built from the
config exactly as ``run`` builds it (``app.build_daemon``), except for two parts:

- the connectors are ``Unpolled`` stand-ins: the timeline is the only source, so each step records a
  successful poll of every helpdesk at its moment (data is fresh, no helpdesk is down);
- the notifiers are ``Recorder``s keeping each configured notifier's name (so its quiet hours, mute
  time intervals, ``except_levels``, escalation steps and digest apply as configured): each records
  what it is sent, rendered as the console notifier writes it, instead of sending it.

At each step (``Simulation.step(moment)``): the changes up to that moment are stored, every helpdesk's
poll is recorded, and ``Daemon.evaluate()`` runs the whole lifecycle (``for:``, ``keep_firing_for``,
repeat, escalation, resolved, silences, inhibition, quiet hours and time intervals, digests) and
delivers to the recorders. Nothing leaves the process and the real store is never written.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from backlog_watch.app import build_daemon, refuse_unsupported
from backlog_watch.config.models import Config
from backlog_watch.daemon import Daemon
from backlog_watch.delivery.dedup import Delivery, Notification, Reason
from backlog_watch.delivery.notifiers.base import Notifier, notifier_type
from backlog_watch.delivery.notifiers.console import format_text
from backlog_watch.errors import HelpdeskError
from backlog_watch.models import Alert, Labels, Level, Ticket
from backlog_watch.sources.connector import Connector, Cursor, Page
from backlog_watch.sources.settings import HelpdeskSettings
from backlog_watch.store import Store

__all__ = ["Recorder", "Sent", "Simulation", "Step", "Timeline", "Unpolled", "moments", "quiet_lifecycle"]

LIFECYCLE_LOGGERS = ("backlog_watch.daemon", "backlog_watch.alerting.policy", "backlog_watch.delivery.pipeline")
"""Where the daemon logs each alert's transitions: a simulation's are its output, not log lines."""


@contextmanager
def quiet_lifecycle() -> Iterator[None]:
    """Hold back the transition and muting lines a simulated daemon logs (warnings still pass)."""
    loggers = [logging.getLogger(name) for name in LIFECYCLE_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@dataclass(frozen=True)
class Timeline:
    """A backlog over time: the tickets at the start, then each ticket's state after each change."""

    initial: Sequence[Ticket]
    changes: Sequence[tuple[datetime, Ticket]] = ()


@dataclass(frozen=True)
class Sent:
    """One notification a recorder was sent (what the configured notifier would have been sent)."""

    at: datetime
    notifier: str
    fingerprint: str
    rule: str
    labels: Labels
    reason: Reason
    level: Level
    text: str
    digest: bool = False
    """Part of a digest: what quiet hours or a mute time interval held back, sent when it ended."""

    @property
    def scope(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.labels) or "all"


@dataclass
class Step:
    """One evaluation: its moment, the alerts after it (every state) and what was sent at it."""

    at: datetime
    alerts: dict[str, Alert]
    sent: list[Sent] = field(default_factory=list)

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.is_firing]


class Recorder:
    """Stands in for one configured notifier: records what it is sent, sends nothing."""

    acknowledges: ClassVar[bool] = False

    def __init__(self, name: str, tz: ZoneInfo, sink: list[Sent]) -> None:
        self.name = name
        self.tz = tz
        self.sink = sink

    def _record(self, notification: Notification, *, digest: bool = False) -> None:
        alert = notification.alert
        self.sink.append(
            Sent(
                at=notification.now,
                notifier=self.name,
                fingerprint=alert.fingerprint,
                rule=alert.rule,
                labels=alert.labels,
                reason=notification.reason,
                level=alert.level,
                text=format_text(notification, self.tz),
                digest=digest,
            )
        )

    async def send(self, notification: Notification) -> Delivery:
        self._record(notification)
        return Delivery()


class DigestRecorder(Recorder):
    """The recorder of a notifier type that sends what quiet hours held back as one digest."""

    async def send_digest(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            self._record(notification, digest=True)


def recorders(config: Config, sink: list[Sent]) -> dict[str, Notifier]:
    """One recorder per configured notifier, by its name; a digest one where its type sends digests."""
    built: dict[str, Notifier] = {}
    for settings in config.notifiers:
        digests = callable(getattr(notifier_type(settings.type), "send_digest", None))
        built[settings.name] = (DigestRecorder if digests else Recorder)(settings.name, config.tz, sink)
    return built


class Unpolled:
    """A helpdesk of the simulation: named for the daemon, never polled (the timeline is its source)."""

    kind: ClassVar[str] = "unpolled"
    Settings: ClassVar[type[HelpdeskSettings]] = HelpdeskSettings

    def __init__(self, settings: HelpdeskSettings) -> None:
        self.settings = settings

    async def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        raise HelpdeskError(f"{self.settings.name}: a simulation polls nothing")
        yield  # pragma: no cover  (an async generator that raises at the first step)

    def normalize(self, raw: Mapping[str, Any]) -> Ticket:
        raise HelpdeskError(f"{self.settings.name}: a simulation normalizes nothing")


def moments(start: datetime, end: datetime, every: timedelta, extra: Iterable[datetime] = ()) -> list[datetime]:
    """The evaluation moments from ``start`` to ``end`` (both included) every ``every``, with ``extra``."""
    found = set(extra)
    at = start
    while at <= end:
        found.add(at)
        at += every
    found.add(end)
    return sorted(m for m in found if start <= m <= end)


class Simulation:
    """A daemon over a scratch store, on a simulated clock, fed a timeline (see the module docstring).

    ``store`` is the scratch store: empty, or holding only what the caller copied in (the KPI history
    and silences of a real store, for a replay). It is written; the caller owns and closes it.
    """

    def __init__(self, config: Config, store: Store, timeline: Timeline, start: datetime) -> None:
        refuse_unsupported(config)  # what `run` would refuse cannot be replayed either (ConfigError)
        self.config = config
        self.store = store
        self.now = start
        self.sent: list[Sent] = []
        self.helpdesks = [h.name for h in config.helpdesks]
        connectors: dict[str, Connector] = {h.name: Unpolled(h) for h in config.helpdesks}
        self.daemon: Daemon = build_daemon(config, store, connectors, recorders(config, self.sent), clock=self.clock)
        self._pending: Iterator[tuple[datetime, Ticket]] = iter(sorted(timeline.changes, key=lambda c: c[0]))
        self._next: tuple[datetime, Ticket] | None = next(self._pending, None)
        self._store(list(timeline.initial))

    def clock(self) -> datetime:
        return self.now

    def _store(self, tickets: list[Ticket]) -> None:
        latest = {t.key: t for t in tickets}  # a ticket changed twice since the last step: its last state
        for helpdesk in sorted({h for h, _ in latest}):
            self.store.commit_tickets([t for k, t in latest.items() if k[0] == helpdesk])

    async def step(self, moment: datetime) -> Step:
        """Store the changes up to ``moment``, record every helpdesk polled then, evaluate and deliver."""
        if moment < self.now:
            raise ValueError(f"a simulation only goes forward: {moment.isoformat()} is before {self.now.isoformat()}")
        self.now = moment
        due: list[Ticket] = []
        while self._next is not None and self._next[0] <= moment:
            due.append(self._next[1])
            self._next = next(self._pending, None)
        if due:
            self._store(due)
        for helpdesk in self.helpdesks:
            self.store.record_poll(helpdesk, moment)
        first = len(self.sent)
        evaluation = await self.daemon.evaluate()
        # Each notifier's queue is sent in its order, the queues side by side: how they interleave is the
        # event loop's. A replay's account is the same every time: by notifier, each in its own order.
        self.sent[first:] = sorted(self.sent[first:], key=lambda sent: sent.notifier)
        return Step(moment, evaluation.alerts, self.sent[first:])

    async def run(self, at: Iterable[datetime]) -> AsyncIterator[Step]:
        """Every step of ``at`` (in time order), as it is evaluated."""
        for moment in sorted(at):
            yield await self.step(moment)
