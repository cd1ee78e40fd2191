"""What every rule shares: the ``where`` filter, the common keys, and measuring per scope.

A rule ``measure``s each scope (the values of its ``group_by`` labels): the value it looks at, and the
level it reaches or None. ``evaluate`` keeps the measures that reach a level, as findings; the dry run
prints them all, so a user sees the quiet scopes too and can tune thresholds.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backlog_watch.durations import Duration, Interval
from backlog_watch.kpis import Scope, format_value
from backlog_watch.models import (
    LEVEL_RANK,
    Alert,
    AlertState,
    Channel,
    Finding,
    Listing,
    Priority,
    Snapshot,
    Status,
    Ticket,
    TicketFilter,
    labels_of,
)
from backlog_watch.rules.elapsed import Elapsed
from backlog_watch.templating import TemplateSettings

T = TypeVar("T")

MAX_LISTED = 50
"""Tickets kept with a finding; the count says how many there were in all."""

Label = Literal["helpdesk", "group", "priority", "status", "channel", "tag", "assignee"]
Level = Literal["warn", "critical"]

MetricName = Literal[
    "open_tickets",
    "unassigned_tickets",
    "pending_tickets",
    "on_hold_tickets",
    "age_avg_hours",
    "age_p50_hours",
    "age_p90_hours",
    "age_max_hours",
    "created_24h",
    "resolved_24h",
    "net_flow_24h",
    "resolved_per_day_7d",
    "days_to_clear",
    "workload_hours",
    "sla_breached",
    "sla_due_1h",
]


def _as_list(value: Any) -> Any:
    """Let a filter say `priority: urgent` as well as `priority: [urgent, high]`."""
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


class EscalationStep(BaseModel):
    """One step: after this long firing (at this level or above), also notify these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Duration
    level: Literal["warn", "critical"] | None = None
    notify: tuple[str, ...] = Field(min_length=1)

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def applies(self, alert: Alert, now: datetime) -> bool:
        """Whether this step reaches the alert now (resolved alerts: let needs_notify decide)."""
        if alert.state is AlertState.RESOLVED:
            return True
        if alert.state is not AlertState.FIRING or alert.firing_since is None:
            return False
        if self.level is not None and LEVEL_RANK[alert.level] < LEVEL_RANK[self.level]:
            return False
        return now - alert.firing_since >= self.after


class Where(BaseModel):
    """Which tickets a rule looks at. Lists are "any of"; all given keys must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    helpdesk: tuple[str, ...] | None = None
    status: tuple[Status, ...] | None = None
    priority: tuple[Priority, ...] | None = None
    channel: tuple[Channel, ...] | None = None
    group: tuple[str, ...] | None = None
    assignee: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    assigned: bool | None = None

    @field_validator("helpdesk", "status", "priority", "channel", "group", "assignee", "tags", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @property
    def filter(self) -> TicketFilter:
        """The same filter in the store's terms (store/ may not import rules)."""
        values = {
            name: tuple(str(v) for v in getattr(self, name)) for name in _FILTER_KEYS if getattr(self, name) is not None
        }
        return TicketFilter(**values, assigned=self.assigned)

    @property
    def restricts_status(self) -> bool:
        return self.status is not None

    @property
    def is_empty(self) -> bool:
        return self == Where()


_FILTER_KEYS = ("helpdesk", "status", "priority", "channel", "group", "assignee", "tags")


class Firing(Protocol):
    """What a rule's words need of an alert (``alerting.Alert`` has it), so rules import nothing above them."""

    @property
    def level(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def threshold(self) -> float | None: ...
    @property
    def ticket_count(self) -> int: ...
    @property
    def summary(self) -> str: ...


@dataclass(frozen=True)
class Measure:
    """One scope as a rule sees it: its value, and the level it reaches (None: quiet)."""

    scope: Scope
    value: float
    level: str | None
    threshold: float | None
    summary: str
    tickets: Sequence[Ticket] = ()
    ticket_count: int | None = None

    @property
    def scope_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.scope) or "all"


class RuleBase(BaseModel):
    """Keys every rule has. Unset delivery keys (notify, repeat_every...) come from `defaults:`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    supported: ClassVar[bool] = True
    solved_window: ClassVar[timedelta] = timedelta(0)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    type: str
    description: str | None = None
    where: Where = Where()
    group_by: tuple[Label, ...] | None = None
    notify: tuple[str, ...] | None = None
    repeat_every: Interval | None = None
    send_resolved: bool | None = None
    for_: Duration = Field(default=timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    """A firing alert resolves only once its condition has been false this long: no flapping."""
    mute_time_intervals: tuple[str, ...] = ()
    """Named ``time_intervals`` during which this rule's alerts are muted (still evaluated and shown)."""
    except_levels: tuple[Level, ...] = ()
    """Levels not muted by ``mute_time_intervals`` (``[critical]``)."""
    business_hours: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    escalate: tuple[EscalationStep, ...] | None = None
    template: TemplateSettings | None = None

    @field_validator("group_by", "notify", "mute_time_intervals", "except_levels", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    def unsupported_reason(self) -> str | None:
        """Why this rule cannot run yet, or None when it can."""
        return None if self.supported else f'rule type "{self.type}" is not yet supported'

    @property
    def scope_labels(self) -> tuple[str, ...]:
        return self.group_by if self.group_by is not None else ("helpdesk",)

    def needs_solved(self) -> timedelta:
        """How far back the snapshot must hold solved tickets for this rule."""
        return self.solved_window

    def history_days(self) -> int:
        """How many days of KPI history (HistoryView.daily) this rule reads."""
        return 0

    def headline(self, alert: Firing) -> str:
        """The alert's value in a few words for a notification's title: "23 open", "12 tickets older than 7d".

        Each rule type says it in its own terms; the renderer and every notifier call this, so a plugin
        rule type reads as well as a bundled one without the renderer knowing it.
        """
        return format_value(alert.value)

    def terms(self, alert: Firing) -> str:
        """When this rule fires at the alert's level, in its own words: "older than 7d", "due within 30m"."""
        return format_value(alert.threshold) if alert.threshold is not None else ""

    def resolved(self, alert: Firing) -> str | None:
        """Where a resolved scope stands now (the alert took its value at resolution): "12 open now".
        None when there is nothing to say beyond the time (helpdesk-down)."""
        return f"{self.headline(alert)} now"

    def measure(self, snapshot: Snapshot, now: datetime) -> Iterator[Measure]:
        """Every scope with its value and level. Pure: no I/O, no clock."""
        raise NotImplementedError(self.unsupported_reason())

    def evaluate(self, snapshot: Snapshot, now: datetime) -> Iterator[Finding]:
        """What holds now, one finding per scope that reaches a level."""
        for m in self.measure(snapshot, now):
            if m.level is not None:
                yield self.finding(m)

    def finding(self, m: Measure) -> Finding:
        """The finding of a measure that reaches a level (the daemon measures once and keeps the quiet ones)."""
        return self._finding(m.scope, m.level or "warn", m.value, m.threshold, m.summary, m.tickets, m.ticket_count)

    def scoped(self, snapshot: Snapshot, found: Mapping[Scope, T], empty: T) -> dict[Scope, T]:
        """What the store found per scope, sorted; grouped by helpdesk alone, every helpdesk has a scope
        (``empty`` where no ticket is in it)."""
        scoped = dict(found)
        if self.scope_labels == ("helpdesk",):
            for name in snapshot.helpdesks:
                if self.where.helpdesk is None or name in self.where.helpdesk:
                    scoped.setdefault((("helpdesk", name),), empty)
        return dict(sorted(scoped.items()))

    def with_listed(
        self, snapshot: Snapshot, where: TicketFilter, measures: Iterable[Measure], listing: Listing
    ) -> Iterator[Measure]:
        """``measures`` with the tickets each one that reaches a level lists (``listing``, the first
        MAX_LISTED), read for all of them at once: one query per rule, not two per firing scope."""
        measured = list(measures)
        firing = [m.scope for m in measured if m.level is not None]
        found = snapshot.query.listed_by_scope(where, self.scope_labels, firing, listing, MAX_LISTED) if firing else {}
        for m in measured:
            yield m if m.level is None else replace(m, tickets=found.get(m.scope, ()))

    def elapsed(self, snapshot: Snapshot, now: datetime) -> Elapsed:
        """Time as this rule counts it: working time when it names business_hours."""
        return Elapsed(snapshot.calendar(self.business_hours), now)

    def _finding(
        self,
        scope: Scope,
        level: str,
        value: float,
        threshold: float | None,
        summary: str,
        tickets: Sequence[Ticket],
        count: int | None = None,
    ) -> Finding:
        return Finding(
            rule=self.name,
            labels=labels_of(dict(scope)),
            level=level,  # type: ignore[arg-type]
            value=value,
            threshold=threshold,
            summary=summary,
            tickets=tuple(tickets[:MAX_LISTED]),
            ticket_count=len(tickets) if count is None else count,
            hold_for=self.for_,
        )


def most_urgent_first(tickets: Iterable[Ticket], limit: int | None = None) -> list[Ticket]:
    """Sorted; with ``limit``, only the first ones (a partial sort: 100k tickets, 50 listed)."""
    key: Any = lambda t: (t.priority.rank, t.created_at)  # noqa: E731
    return heapq.nsmallest(limit, tickets, key=key) if limit is not None else sorted(tickets, key=key)


def oldest_first(tickets: Iterable[Ticket], field: str = "created_at", limit: int | None = None) -> list[Ticket]:
    key: Any = lambda t: (getattr(t, field), t.priority.rank)  # noqa: E731
    return heapq.nsmallest(limit, tickets, key=key) if limit is not None else sorted(tickets, key=key)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"
