"""`backlog-watch replay`: the rules run over the stored past, to see what they would have done.

The backlog of the period is rebuilt from the store's ticket change log (``Store.tickets_as_of`` at
the start, then ``Store.ticket_changes``) and fed, one evaluation interval at a time, through the
daemon's own evaluation and delivery (engine.py) over a scratch SQLite store in memory. The scratch
store starts with a copy of the real store's silences (they mute as they did then) and KPI history
(what trend and forecast rules read), and with no alert: every alert of the period starts as a new
episode. The real store is only read: no alert changes, no notification is sent.

Per rule, ``summarize`` counts the episodes (an alert beginning to fire), the notifications each
configured notifier would have been sent (by reason), the time spent firing, and the noisiest scopes.
With a candidate config the same past runs through its rules too, for a side-by-side comparison.
Thinning makes the change log exact to the hour beyond two days back (to the day beyond 30): the
output says so, and says when the period starts before the log does (an approximate start).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backlog_watch.config.models import Config
from backlog_watch.durations import format_duration
from backlog_watch.models import Alert
from backlog_watch.replay.engine import Sent, Simulation, Step, Timeline, moments
from backlog_watch.store import SqlStore
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.store.transfer import copy_tables

__all__ = ["Replay", "RuleSummary", "ScopeSummary", "load_timeline", "replay", "summarize"]

NOISIEST = 3
"""Scopes shown per rule, the noisiest first."""


@dataclass
class ScopeSummary:
    scope: str
    episodes: int = 0
    notifications: int = 0
    firing: timedelta = timedelta(0)


@dataclass
class RuleSummary:
    """What one rule did over the period."""

    rule: str
    episodes: int = 0
    notifications: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    """Notifications by reason (firing, repeat, escalated, more_tickets, resolved)."""
    firing: timedelta = timedelta(0)
    """Time firing, summed over its scopes."""
    scopes: dict[str, ScopeSummary] = field(default_factory=dict)

    def scope(self, name: str) -> ScopeSummary:
        return self.scopes.setdefault(name, ScopeSummary(name))

    def noisiest(self, n: int = NOISIEST) -> list[ScopeSummary]:
        return sorted(self.scopes.values(), key=lambda s: (-s.notifications, -s.episodes, -s.firing, s.scope))[:n]

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "episodes": self.episodes,
            "notifications": self.notifications,
            "by_reason": dict(sorted(self.reasons.items())),
            "firing_seconds": int(self.firing.total_seconds()),
            "noisiest_scopes": [
                {
                    "scope": s.scope,
                    "episodes": s.episodes,
                    "notifications": s.notifications,
                    "firing_seconds": int(s.firing.total_seconds()),
                }
                for s in self.noisiest()
            ],
        }


@dataclass
class Replay:
    """One config's rules over the period: per rule, and every notification that would have been sent."""

    label: str
    since: datetime
    until: datetime
    step: timedelta
    rules: dict[str, RuleSummary]
    sent: list[Sent]
    steps: int = 0

    @property
    def episodes(self) -> int:
        return sum(r.episodes for r in self.rules.values())

    @property
    def notifications(self) -> int:
        return len(self.sent)


def _scope_of(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in alert.labels) or "all"


class Summary:
    """Counts a simulation's steps into per-rule summaries as they come."""

    def __init__(self, rules: Sequence[str]) -> None:
        self.rules = {name: RuleSummary(name) for name in rules}
        self._episode: dict[str, datetime | None] = {}
        self._firing: list[Alert] = []
        self._last: datetime | None = None
        self.steps = 0

    def add(self, step: Step) -> None:
        self.steps += 1
        if self._last is not None:
            gap = step.at - self._last
            for alert in self._firing:  # firing from the last step to this one
                summary = self.rules.setdefault(alert.rule, RuleSummary(alert.rule))
                summary.firing += gap
                summary.scope(_scope_of(alert)).firing += gap
        self._last = step.at
        self._firing = step.firing
        for alert in self._firing:
            if self._episode.get(alert.fingerprint) != alert.firing_since:
                self._episode[alert.fingerprint] = alert.firing_since
                summary = self.rules.setdefault(alert.rule, RuleSummary(alert.rule))
                summary.episodes += 1
                summary.scope(_scope_of(alert)).episodes += 1
        for sent in step.sent:
            summary = self.rules.setdefault(sent.rule, RuleSummary(sent.rule))
            summary.notifications += 1
            summary.reasons[sent.reason.value] += 1
            summary.scope(sent.scope).notifications += 1


def load_timeline(
    store: SqlStore, helpdesks: Sequence[str], since: datetime, until: datetime
) -> tuple[Timeline, datetime | None]:
    """The backlog from ``since`` to ``until`` from the change log; and, when its start is approximate
    (before the log's first recorded change), since when the log is exact (None: no change yet)."""
    start = store.tickets_as_of(since, helpdesks)
    changes = store.ticket_changes(since, until, helpdesks)
    return Timeline(start.tickets, changes), start.exact_since if start.approximate(since) else since


async def replay(
    config: Config,
    store: SqlStore,
    timeline: Timeline,
    since: datetime,
    until: datetime,
    step: timedelta | None = None,
    label: str = "current",
) -> Replay:
    """``config``'s rules over the timeline, every ``step`` (default: its evaluate_every) from ``since``
    to ``until``; ``store`` (the real one) lends its silences and KPI history and is only read."""
    every = step or config.evaluate_every
    scratch = SqliteStore(":memory:")
    try:
        copy_tables(store, scratch, ("silences", "history"), until=until)
        simulation = Simulation(config, scratch, timeline, since)
        summary = Summary([r.name for r in config.effective_rules()])
        async for moment in simulation.run(moments(since, until, every)):
            summary.add(moment)
    finally:
        scratch.close()
    return Replay(label, since, until, every, summary.rules, simulation.sent, summary.steps)


def summarize(runs: Sequence[Replay], *, exact_since: datetime | None = None) -> str:
    """The text table: per rule, each run's episodes, notifications (by reason), time firing; then the
    noisiest scopes of each run."""
    first = runs[0]
    lines = [
        f"replay {first.since:%Y-%m-%d %H:%M} - {first.until:%Y-%m-%d %H:%M} UTC, "
        f"every {format_duration(first.step)} ({first.steps} evaluations); nothing was sent",
    ]
    if exact_since is None or exact_since > first.since:
        since = f"{exact_since:%Y-%m-%d %H:%M} UTC" if exact_since is not None else "no change recorded yet"
        lines.append(f"  an approximate start: the change log is exact from its first recorded change, {since}")
    names = list(dict.fromkeys(name for run in runs for name in run.rules))
    width = max([len("total"), *map(len, names)])
    lines.append((f"  {'':<{width}}" + "".join(f"  | {run.label:<23}" for run in runs)).rstrip())
    lines.append(f"  {'rule':<{width}}" + f"  | {'episodes':>8} {'sent':>6} {'firing':>7}" * len(runs))
    for name in names:
        row = f"  {name:<{width}}"
        for run in runs:
            r = run.rules.get(name, RuleSummary(name))
            row += f"  | {r.episodes:>8} {r.notifications:>6} {_hours(r.firing):>7}"
        lines.append(row)
    total = f"  {'total':<{width}}"
    for run in runs:
        firing = sum((r.firing for r in run.rules.values()), timedelta(0))
        total += f"  | {run.episodes:>8} {run.notifications:>6} {_hours(firing):>7}"
    lines.append(total)
    for run in runs:
        lines.append("")
        lines.append(f"{run.label}: notifications by reason, and the noisiest scopes")
        for name in names:
            rule = run.rules.get(name)
            if rule is None or not (rule.episodes or rule.notifications):
                continue
            reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(rule.reasons.items())) or "none sent"
            lines.append(f"  {name}: {reasons}")
            for s in rule.noisiest():
                lines.append(
                    f"      {s.scope}: {s.episodes} episode(s), {s.notifications} sent, firing {_hours(s.firing)}"
                )
    return "\n".join(lines) + "\n"


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 100 else f"{hours:.0f}h"


def messages(run: Replay) -> str:
    """Every notification of a run, in time order, as the console notifier writes it."""
    parts = []
    for sent in run.sent:
        digest = ", in a digest" if sent.digest else ""
        head = f"--- {sent.at:%Y-%m-%d %H:%M} UTC to {sent.notifier} ({sent.reason.value}{digest}) [{run.label}]"
        parts.append(f"{head}\n{sent.text}")
    return "\n\n".join(parts) + ("\n" if parts else "")


def as_json(runs: Sequence[Replay], exact_since: datetime | None) -> dict[str, Any]:
    return {
        "since": runs[0].since.isoformat(),
        "until": runs[0].until.isoformat(),
        "step_seconds": int(runs[0].step.total_seconds()),
        "exact_since": exact_since.isoformat() if exact_since is not None else None,
        "approximate_start": exact_since is None or exact_since > runs[0].since,
        "runs": [
            {
                "config": run.label,
                "evaluations": run.steps,
                "episodes": run.episodes,
                "notifications": run.notifications,
                "rules": [r.as_json() for r in run.rules.values()],
            }
            for run in runs
        ],
    }
