"""What one evaluation computes, apart from the daemon that schedules it: every rule measured once
(findings, and the value now of the quiet scopes), the result, and the transition log lines."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from backlog_watch.alerting.alerts import Reading
from backlog_watch.delivery.dedup import DispatchResult, Notification
from backlog_watch.models import Alert, AlertState, Finding, Muted, Snapshot, labels_of
from backlog_watch.models import fingerprint as fingerprint_of
from backlog_watch.rules.backlog import RuleBase

log = logging.getLogger("backlog_watch.daemon")  # the transition lines keep the logger they always had


@dataclass
class Evaluation:
    """What one evaluation found and did."""

    alerts: dict[str, Alert]
    findings: list[Finding] = field(default_factory=list)
    planned: list[tuple[str, Notification]] = field(default_factory=list)
    result: DispatchResult = field(default_factory=DispatchResult)
    muted: dict[str, Muted] = field(default_factory=dict)
    """fingerprint -> why it was not notified (silenced, inhibited, quiet hours): still stored and shown."""
    snapshot: Snapshot | None = None
    polled: dict[str, int | None] = field(default_factory=dict)
    """helpdesk -> tickets its poll stored (changed since the poll before), None when it failed: what
    `once` just polled, for its summary line; empty after an evaluation that polled nothing."""


def measure_rules(
    rules: list[RuleBase],
    snapshot: Snapshot,
    now: datetime,
    previous: Mapping[str, Alert],
    cut: threading.Event | None = None,
) -> tuple[list[Finding], dict[str, Reading]]:
    """Every rule measured once: the findings of the scopes that reach a level, and the value now of
    every alert's scope that does not (what its resolved notice says). An alert whose scope has gone
    (no ticket left in it) reads 0 there. Once ``cut`` is set (a shutdown), no further rule is measured:
    the caller writes nothing of a cut evaluation, and 500 helpdesks' rules took seconds to finish."""
    findings: list[Finding] = []
    readings: dict[str, Reading] = {}
    for rule in rules:
        if cut is not None and cut.is_set():
            break
        for m in rule.measure(snapshot, now):
            if m.level is not None:
                findings.append(rule.finding(m))
            else:
                readings[fingerprint_of(rule.name, labels_of(dict(m.scope)))] = Reading(m.value, m.summary)
    names = {r.name for r in rules}
    for fp, alert in previous.items():
        if alert.rule in names and alert.state is AlertState.FIRING and fp not in readings:
            scope = ", ".join(f"{k}={v}" for k, v in alert.labels) or "all"
            readings[fp] = Reading(0.0, f"{scope}: no ticket in scope now")
    return findings, readings


def log_transitions(previous: Mapping[str, Alert], alerts: Mapping[str, Alert]) -> None:
    """One line per alert whose state or level changed, carrying its rule and helpdesk."""
    for fingerprint, alert in alerts.items():
        before = previous.get(fingerprint)
        if before is not None and (before.state, before.level) == (alert.state, alert.level):
            continue
        extra = {
            "rule": alert.rule,
            "helpdesk": alert.label_map.get("helpdesk"),
            "labels": alert.label_map,  # the whole scope (group, priority, tag ...): which alert of the rule
            "alert_state": alert.state.value,
            "alert_level": alert.level,
        }
        log.info("alert %s (%s): %s", alert.state.value, alert.level, alert.summary, extra=extra)
