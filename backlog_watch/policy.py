"""Delivery policy between the alerts and the outbox: helpdesk-down, silences, inhibition, quiet hours.

- **helpdesk-down** is an alert of its own (rule ``helpdesk-down``, critical, per helpdesk): raised
  while the last poll of a helpdesk failed, firing once that has lasted ``down_after``.
- **silences** (silences.py) mute the alerts they match.
- **inhibition**: a firing critical alert hides the warn alerts of the same scope; a firing
  helpdesk-down alert hides the other alerts of that helpdesk, whose data is stale.
- **quiet hours**: per notifier, a calendar outside of which its notifications are held (outbox.py).

Muting is pure over (alerts, silences, settings): a muted alert is still stored and shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

from backlog_watch.alerts import Alert, AlertState, Finding
from backlog_watch.calendar import BusinessCalendar
from backlog_watch.durations import human_duration
from backlog_watch.rules import RuleBase
from backlog_watch.silences import Silence, alert_labels, silencing
from backlog_watch.store import PollStatus

if TYPE_CHECKING:
    from backlog_watch.config import Config

HELPDESK_DOWN = "helpdesk-down"


class HelpdeskDownRule(RuleBase):
    """The built-in rule behind helpdesk-down alerts; its findings come from poll health, not tickets."""

    supported: ClassVar[bool] = True
    type: Literal["helpdesk_down"] = "helpdesk_down"
    name: str = HELPDESK_DOWN


def down_findings(
    statuses: Iterable[PollStatus], down_after: Mapping[str, timedelta], now: datetime | None = None
) -> list[Finding]:
    """A finding per helpdesk whose last poll failed. ``down_after`` counts from the start of the first
    failed poll, not from when its retries gave up; refused credentials fire at once. The value is how
    long the helpdesk has been failing, in seconds, and the summary says so with the last error."""
    findings = []
    for status in statuses:
        if status.failures == 0 or status.helpdesk not in down_after:
            continue
        since = status.failing_since or status.last_attempt
        failing = (now - since) if now is not None and since is not None else timedelta(0)
        good = f"last good poll {status.last_success:%Y-%m-%d %H:%M} UTC" if status.last_success else "never polled"
        started = f"since {since:%Y-%m-%d %H:%M:%S} UTC, " if since is not None else ""
        findings.append(Finding(
            rule=HELPDESK_DOWN, labels=(("helpdesk", status.helpdesk),), level="critical",
            value=max(0.0, failing.total_seconds()), threshold=None,
            summary=f"{status.helpdesk}: failing for {human_duration(failing)} ({started}{good}): "
                    f"{status.last_error}",
            # refused credentials do not heal by waiting: say so at once
            hold_for=timedelta(0) if status.auth_failed else down_after[status.helpdesk],
            since=since,
        ))
    return findings


def inhibitor(alert: Alert, firing: Iterable[Alert], *, critical_hides_warn: bool, down_hides: bool) -> Alert | None:
    """The firing alert that hides this one, if any."""
    helpdesk = alert.label_map.get("helpdesk")
    for source in firing:
        if source.fingerprint == alert.fingerprint:
            continue
        if down_hides and source.rule == HELPDESK_DOWN and alert.rule != HELPDESK_DOWN and (
                helpdesk is not None and source.label_map.get("helpdesk") == helpdesk):
            return source
        if critical_hides_warn and alert.level == "warn" and source.level == "critical" and (
                source.labels == alert.labels):
            return source
    return None


@dataclass
class DeliveryPolicy:
    """What the daemon applies between planning and the outbox."""

    down_rule: HelpdeskDownRule | None = None
    down_after: dict[str, timedelta] = field(default_factory=dict)
    critical_hides_warn: bool = True
    down_hides: bool = True
    quiet_hours: dict[str, BusinessCalendar] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> DeliveryPolicy:
        down = config.helpdesk_down
        rule = HelpdeskDownRule(
            notify=down.notify if down.notify is not None else config.defaults.notify,
            repeat_every=config.defaults.repeat_every, send_resolved=config.defaults.send_resolved,
            group_by=("helpdesk",), escalate=config.defaults.escalate,
        ) if down.enabled else None
        return cls(
            down_rule=rule,
            down_after={h.name: h.down_after or down.after for h in config.helpdesks} if rule else {},
            critical_hides_warn=config.inhibit.critical_hides_warn,
            down_hides=config.inhibit.helpdesk_down_hides,
            quiet_hours={n.name: config.calendar(n.quiet_hours) for n in config.notifiers if n.quiet_hours},
        )

    @property
    def rules(self) -> dict[str, RuleBase]:
        return {self.down_rule.name: self.down_rule} if self.down_rule else {}

    def findings(self, statuses: Iterable[PollStatus], now: datetime | None = None) -> list[Finding]:
        return down_findings(statuses, self.down_after, now) if self.down_rule else []

    def muted(self, alerts: Iterable[Alert], rules: Mapping[str, RuleBase], silences: Iterable[Silence],
              now: datetime) -> dict[str, str]:
        """fingerprint -> why it is not notified now ("silenced by ID by alice", "inhibited by ...")."""
        alerts = list(alerts)
        active = [s for s in silences if s.is_active(now)]
        firing = [a for a in alerts if a.state is AlertState.FIRING]
        why: dict[str, str] = {}
        for alert in alerts:
            rule = rules.get(alert.rule)
            silence = silencing(active, alert_labels(alert, rule.labels if rule else None), now)
            if silence is not None:
                why[alert.fingerprint] = f"silenced by {silence.id} ({silence.created_by}: {silence.comment})"
                continue
            if alert.state is AlertState.PENDING:
                continue
            source = inhibitor(alert, firing, critical_hides_warn=self.critical_hides_warn,
                               down_hides=self.down_hides)
            if source is not None:
                scope = ", ".join(f"{k}={v}" for k, v in source.labels)
                why[alert.fingerprint] = f"inhibited by {source.rule} ({source.level}, {scope})"
        return why
