"""When the store itself fails in `run`: the store-failing alert, held in memory and sent directly.

The alert cannot go through the outbox or the notification log (they live in the store that fails),
so it is kept here and sent straight to the notifiers that can still be reached (console, Slack);
one that cannot is logged and skipped. It is said once when the store starts failing and once when
it recovers, and the error is logged once per change, never every poll. What the outbox already
holds stays in the store file and is delivered after the recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import ClassVar, Literal

from backlog_watch.delivery.dedup import Delivery, Notification, Reason
from backlog_watch.delivery.notifiers.base import Notifier
from backlog_watch.errors import NotifyError, StoreError
from backlog_watch.models import Alert, AlertState, LogEntry, fingerprint
from backlog_watch.rules.backlog import RuleBase

log = logging.getLogger(__name__)

STORE_FAILING = "store-failing"


class StoreFailingRule(RuleBase):
    """The built-in rule behind the store-failing alert."""

    supported: ClassVar[bool] = True
    type: Literal["store_failing"] = "store_failing"
    name: str = STORE_FAILING


class StoreWatch:
    """Owns the store's failure state in a running daemon: log and alert on change only."""

    def __init__(self, notifiers: Mapping[str, Notifier], clock: Callable[[], datetime]) -> None:
        self.notifiers = notifiers
        self.clock = clock
        self.rule = StoreFailingRule(notify=tuple(notifiers))
        self.alert: Alert | None = None
        self._delivered: dict[str, Delivery] = {}

    async def failed(self, error: StoreError) -> None:
        if self.alert is not None:
            log.debug("%s", error)
            return
        log.error("%s", error)
        now = self.clock()
        labels = (("store", "store"),)
        self.alert = Alert(
            fingerprint=fingerprint(STORE_FAILING, labels),
            rule=STORE_FAILING,
            labels=labels,
            state=AlertState.FIRING,
            level="critical",
            value=1.0,
            threshold=None,
            summary=str(error),
            tickets=(),
            ticket_count=0,
            active_since=now,
            firing_since=now,
            evaluated_at=now,
        )
        await self._send(self.alert, Reason.FIRING)

    async def recovered(self) -> None:
        if self.alert is None:
            return
        log.info("the store can be written again")
        now = self.clock()
        alert = replace(
            self.alert,
            state=AlertState.RESOLVED,
            resolved_at=now,
            evaluated_at=now,
            summary="the store can be written again",
        )
        self.alert = None
        await self._send(alert, Reason.RESOLVED)
        self._delivered.clear()

    async def _send(self, alert: Alert, reason: Reason) -> None:
        for name, notifier in self.notifiers.items():
            sent = self._delivered.get(name)
            previous = (
                None
                if sent is None or alert.firing_since is None
                else LogEntry(
                    fingerprint=alert.fingerprint,
                    notifier=name,
                    episode=alert.firing_since,
                    state=AlertState.FIRING,
                    level=alert.level,
                    sent_at=alert.firing_since,
                    channel=sent.channel,
                    ts=sent.ts,
                )
            )
            notification = Notification(alert=alert, reason=reason, rule=self.rule, now=self.clock(), previous=previous)
            try:
                self._delivered[name] = await notifier.send(notification)
            except NotifyError as exc:
                log.warning("%s: cannot say the store is failing: %s", name, exc)
