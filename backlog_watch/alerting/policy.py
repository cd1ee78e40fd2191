"""Delivery policy between the alerts and the outbox: helpdesk-down, silences, inhibition, quiet hours.

- **helpdesk-down** is an alert of its own (rule ``helpdesk-down``, critical, per helpdesk): raised
  while the last poll of a helpdesk failed, firing once that has lasted ``down_after``.
- **silences** (silences.py) mute the alerts they match.
- **inhibition** (inhibition.py): ``inhibit_rules`` as in Alertmanager; by default only a firing
  helpdesk-down alert hides the other alerts of that helpdesk, whose data is stale. No alert of one
  rule hides another rule's unless an inhibit rule says so.
- **quiet hours and mute time intervals** (time_intervals.py): a notifier's window holds its
  notifications in the outbox while it is closed, for a digest when it opens; a rule's window mutes
  its alerts meanwhile (still firing when it ends, they are notified then). ``except_levels`` pass.

Muting is pure over (alerts, silences, settings): a muted alert is still stored and shown, marked
with why (``Alert.muted``), logged once when it starts or its reason changes, counted in /metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

from backlog_watch.alerting.inhibition import DOWN_HIDES_OTHERS, HELPDESK_DOWN, InhibitRule
from backlog_watch.alerting.silences import Matcher, Silence, alert_labels, silencing
from backlog_watch.alerting.time_intervals import MuteWindow
from backlog_watch.durations import human_duration
from backlog_watch.models import Alert, AlertState, Finding, Muted, PollStatus
from backlog_watch.rules.base import Firing, RuleBase

if TYPE_CHECKING:
    from backlog_watch.config.models import Config

__all__ = ["HELPDESK_DOWN", "DeliveryPolicy", "HelpdeskDownRule", "down_findings", "held_back", "log_muted"]

log = logging.getLogger(__name__)


class HelpdeskDownRule(RuleBase):
    """The built-in rule behind helpdesk-down alerts; its findings come from poll health, not tickets."""

    supported: ClassVar[bool] = True
    type: Literal["helpdesk_down"] = "helpdesk_down"
    name: str = HELPDESK_DOWN

    def headline(self, alert: Firing) -> str:
        return f"failing for {human_duration(timedelta(seconds=alert.value))}"

    def resolved(self, alert: Firing) -> str | None:
        return None


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
        findings.append(
            Finding(
                rule=HELPDESK_DOWN,
                labels=(("helpdesk", status.helpdesk),),
                level="critical",
                value=max(0.0, failing.total_seconds()),
                threshold=None,
                summary=f"{status.helpdesk}: failing for {human_duration(failing)} ({started}{good}): "
                f"{status.last_error}",
                # refused credentials do not heal by waiting: say so at once
                hold_for=timedelta(0) if status.auth_failed else down_after[status.helpdesk],
                since=since,
            )
        )
    return findings


def inhibitor(
    labels: Mapping[str, str],
    fingerprint: str,
    sources: Iterable[tuple[Alert, Mapping[str, str]]],
    rules: Iterable[InhibitRule],
) -> Alert | None:
    """The firing alert that hides the one with these labels, if any (an alert never hides itself)."""
    return Inhibitors(rules, sources).of(labels, fingerprint)


class Inhibitors:
    """The firing alerts that may hide others, per inhibit rule, indexed by the values of the rule's
    ``equal`` labels: one pass over the sources, then one lookup per target. (Every source tried against
    every target was quadratic: 500 helpdesks' alerts took most of an evaluation.) The answer is the
    one ``inhibitor`` always gave: the first rule, then the first source in order, that hides it."""

    def __init__(self, rules: Iterable[InhibitRule], sources: Iterable[tuple[Alert, Mapping[str, str]]]) -> None:
        sources = list(sources)
        self.rules: list[tuple[InhibitRule, tuple[Matcher, ...], dict[tuple[str | None, ...], list[Alert]]]] = []
        for rule in rules:
            matchers = rule.sources
            index: dict[tuple[str | None, ...], list[Alert]] = {}
            for source, source_labels in sources:
                if all(m.matches(source_labels) for m in matchers):
                    index.setdefault(tuple(source_labels.get(n) for n in rule.equal), []).append(source)
            if index:
                self.rules.append((rule, rule.targets, index))

    def of(self, labels: Mapping[str, str], fingerprint: str) -> Alert | None:
        """The firing alert that hides the one with these labels, if any (an alert never hides itself)."""
        for rule, targets, index in self.rules:
            if not all(m.matches(labels) for m in targets):
                continue
            for source in index.get(tuple(labels.get(n) for n in rule.equal), ()):
                if source.fingerprint != fingerprint:
                    return source
        return None


def _scope(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in alert.labels)


@dataclass
class DeliveryPolicy:
    """What the daemon applies between planning and the outbox."""

    down_rule: HelpdeskDownRule | None = None
    down_after: dict[str, timedelta] = field(default_factory=dict)
    inhibit_rules: list[InhibitRule] = field(default_factory=lambda: [DOWN_HIDES_OTHERS])
    quiet_hours: dict[str, MuteWindow] = field(default_factory=dict)
    """Per notifier: when its notifications wait in the outbox (quiet hours, mute time intervals)."""
    rule_windows: dict[str, MuteWindow] = field(default_factory=dict)
    """Per rule: when its alerts are muted (its mute time intervals)."""

    @classmethod
    def from_config(cls, config: Config) -> DeliveryPolicy:
        down = config.helpdesk_down
        rule = (
            HelpdeskDownRule(
                notify=down.notify if down.notify is not None else config.defaults.notify,
                repeat_every=config.defaults.repeat_every,
                send_resolved=config.defaults.send_resolved,
                group_by=("helpdesk",),
                escalate=config.defaults.escalate,
            )
            if down.enabled
            else None
        )
        return cls(
            down_rule=rule,
            down_after={h.name: h.down_after or down.after for h in config.helpdesks} if rule else {},
            inhibit_rules=config.inhibit_rules_in_force(),
            quiet_hours=_windows(
                (n.name, config.mute_window(n.quiet_hours, n.mute_time_intervals, n.except_levels))
                for n in config.notifiers
            ),
            rule_windows=_windows(
                (r.name, config.mute_window(None, r.mute_time_intervals, r.except_levels)) for r in config.rules
            ),
        )

    @property
    def rules(self) -> dict[str, RuleBase]:
        return {self.down_rule.name: self.down_rule} if self.down_rule else {}

    def findings(self, statuses: Iterable[PollStatus], now: datetime | None = None) -> list[Finding]:
        return down_findings(statuses, self.down_after, now) if self.down_rule else []

    def muted(
        self, alerts: Iterable[Alert], rules: Mapping[str, RuleBase], silences: Iterable[Silence], now: datetime
    ) -> dict[str, Muted]:
        """fingerprint -> why it is not notified now: silenced, inhibited, or every notifier in quiet hours.

        Silenced and inhibited alerts are not planned at all; quiet hours only hold their notifications
        in the outbox (a digest when they end), so those are still planned.
        """
        alerts = list(alerts)
        active = [s for s in silences if s.is_active(now)]
        labels = {a.fingerprint: alert_labels(a, _rule_labels(rules, a)) for a in alerts}
        inhibitors = Inhibitors(
            self.inhibit_rules, [(a, labels[a.fingerprint]) for a in alerts if a.state is AlertState.FIRING]
        )
        why: dict[str, Muted] = {}
        for alert in alerts:
            silence = silencing(active, labels[alert.fingerprint], now)
            if silence is not None:
                why[alert.fingerprint] = Muted("silenced", f"by {silence.id} ({silence.created_by}: {silence.comment})")
                continue
            if alert.state is AlertState.PENDING:
                continue
            source = inhibitors.of(labels[alert.fingerprint], alert.fingerprint)
            if source is not None:
                why[alert.fingerprint] = Muted("inhibited", f"by {source.rule} ({source.level}, {_scope(source)})")
                continue
            window = self.rule_windows.get(alert.rule)
            if window is not None and window.holds(alert.level, now):
                why[alert.fingerprint] = Muted("time_interval", f"({window.why(now)})")
                continue
            closed = self._closed_notifiers(rules.get(alert.rule), alert.level, now)
            if closed:
                why[alert.fingerprint] = Muted("quiet_hours", f"({', '.join(closed)})")
        return why

    def _closed_notifiers(self, rule: RuleBase | None, level: str, now: datetime) -> list[str]:
        """The rule's notifiers when every one of them holds this level now, else none."""
        notify = list(rule.notify or ()) if rule is not None else []
        closed = [n for n in notify if n in self.quiet_hours and self.quiet_hours[n].holds(level, now)]
        return closed if notify and len(closed) == len(notify) else []


def _windows(pairs: Iterable[tuple[str, MuteWindow | None]]) -> dict[str, MuteWindow]:
    return {name: window for name, window in pairs if window is not None}


def _rule_labels(rules: Mapping[str, RuleBase], alert: Alert) -> Mapping[str, str] | None:
    rule = rules.get(alert.rule)
    return rule.labels if rule is not None else None


def held_back(muted: Mapping[str, Muted]) -> set[str]:
    """The alerts that must not be planned at all (quiet hours only hold, in the outbox)."""
    return {fp for fp, why in muted.items() if why.reason != "quiet_hours"}


def log_muted(previous: Mapping[str, Alert], alerts: Mapping[str, Alert]) -> None:
    """One INFO line when a firing alert starts being muted or its reason changes, not every evaluation."""
    for fingerprint, alert in alerts.items():
        if alert.state is not AlertState.FIRING or alert.muted is None:
            continue
        before = previous.get(fingerprint)
        if before is not None and before.state is AlertState.FIRING and before.muted == alert.muted:
            continue
        extra = {"rule": alert.rule, "helpdesk": alert.label_map.get("helpdesk"), "muted": alert.muted.reason}
        log.info(
            "alert %s (%s, %s) fires but is not notified: %s",
            alert.rule,
            alert.level,
            _scope(alert),
            alert.muted,
            extra=extra,
        )
