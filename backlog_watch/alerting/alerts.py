"""Alerts and their pure state machine: findings in, pending -> firing -> resolved out.

An alert is identified by its fingerprint: the rule name and the labels of its scope (the rule's
``group_by`` values), so "urgent-backlog for helpdesk=zendesk" is one alert however often it is
evaluated. The data types (Alert, Finding, AlertState, Muted) live in ``backlog_watch.models``, so
the store persists them without importing this logic. ``advance`` is pure: ``now`` is passed in and
nothing is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from backlog_watch.models import Alert, AlertState, Finding

RESOLVED_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class Reading:
    """A scope's value now, when it reaches no level: what a resolved notice says ("18 open now")."""

    value: float
    summary: str


def _from_finding(finding: Finding, now: datetime, previous: Alert | None) -> Alert:
    keep = previous if previous is not None and previous.state is not AlertState.RESOLVED else None
    active_since = keep.active_since if keep else min(finding.since or now, now)
    firing_since = keep.firing_since if keep else None
    if firing_since is None and now - active_since >= finding.hold_for:
        firing_since = now
    alert = Alert(
        fingerprint=finding.fingerprint,
        rule=finding.rule,
        labels=finding.labels,
        state=AlertState.FIRING if firing_since else AlertState.PENDING,
        level=finding.level,
        value=finding.value,
        threshold=finding.threshold,
        summary=finding.summary,
        tickets=finding.tickets,
        ticket_count=finding.ticket_count,
        active_since=active_since,
        firing_since=firing_since,
        evaluated_at=now,
    )
    if keep is not None and replace(alert, evaluated_at=keep.evaluated_at, muted=keep.muted) == keep:
        return keep  # found as it was: kept whole, so the store has nothing to rewrite
    return alert


def advance(
    previous: Mapping[str, Alert],
    findings: Iterable[Finding],
    now: datetime,
    evaluated_rules: Iterable[str],
    readings: Mapping[str, Reading] | None = None,
    keep_firing_for: Mapping[str, timedelta] | None = None,
) -> dict[str, Alert]:
    """The alerts after this evaluation.

    A finding starts (pending) or continues an alert; a firing alert of an evaluated rule without a
    finding is resolved; a pending one just goes away. Alerts of rules not evaluated this time (a
    helpdesk whose data is stale, say) are carried over untouched. Resolved alerts are kept a while
    so their resolved notice can still be delivered after an outage, then dropped. An alert resolving
    takes its scope's value and summary now from ``readings`` (by fingerprint) when there is one, so its
    notice tells where the scope stands, not the last value that fired.

    ``keep_firing_for`` (by rule name, Prometheus's semantics) keeps a firing alert firing until its
    condition has been false that long; found again before then, it goes on as the same episode, so a
    backlog hovering around its threshold is one alert, not one per crossing.
    """
    evaluated = set(evaluated_rules)
    current: dict[str, Alert] = {}
    for finding in findings:
        current[finding.fingerprint] = _from_finding(finding, now, previous.get(finding.fingerprint))
    for fp, alert in previous.items():
        if fp in current:
            continue
        if alert.rule not in evaluated:
            current[fp] = alert
        elif alert.state is AlertState.FIRING and _kept(alert, now, (keep_firing_for or {}).get(alert.rule)):
            current[fp] = alert if alert.kept_firing_since else replace(alert, kept_firing_since=now, evaluated_at=now)
        elif alert.state is AlertState.FIRING:
            reading = (readings or {}).get(fp) or Reading(alert.value, alert.summary)
            current[fp] = replace(
                alert,
                state=AlertState.RESOLVED,
                kept_firing_since=None,
                resolved_at=now,
                evaluated_at=now,
                value=reading.value,
                summary=reading.summary,
            )
        elif alert.state is AlertState.RESOLVED and alert.resolved_at and now - alert.resolved_at < RESOLVED_RETENTION:
            current[fp] = alert
    return current


def _kept(alert: Alert, now: datetime, keep_for: timedelta | None) -> bool:
    """Whether a firing alert whose condition does not hold now still fires (``keep_firing_for``)."""
    if not keep_for:
        return False
    return alert.kept_firing_since is None or now - alert.kept_firing_since < keep_for
