"""Rule types as pydantic models, a union keyed on ``type``, each with a pure ``evaluate``.

Rules are level-triggered: ``evaluate(snapshot, now)`` looks at stored data and says what holds now.
They keep no state; the alert state machine (alerts.py) turns findings into pending/firing/resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backlog_watch.alerts import Finding, labels_of
from backlog_watch.durations import Duration, format_duration, human_duration
from backlog_watch.escalation import EscalationStep
from backlog_watch.metrics import SUPPORTED_METRICS, compute, group_tickets
from backlog_watch.models import Channel, Priority, Snapshot, Status, Ticket
from backlog_watch.templating import TemplateSettings

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

    def matches(self, ticket: Ticket) -> bool:
        if self.helpdesk is not None and ticket.helpdesk not in self.helpdesk:
            return False
        if self.status is not None and ticket.status not in self.status:
            return False
        if self.priority is not None and ticket.priority not in self.priority:
            return False
        if self.channel is not None and ticket.channel not in self.channel:
            return False
        if self.group is not None and ticket.group not in self.group:
            return False
        if self.assignee is not None and ticket.assignee not in self.assignee:
            return False
        if self.tags is not None and not set(self.tags).intersection(ticket.tags):
            return False
        return self.assigned is None or ticket.is_assigned == self.assigned

    @property
    def restricts_status(self) -> bool:
        return self.status is not None


class RuleBase(BaseModel):
    """Keys every rule has. Unset delivery keys (notify, repeat_every...) come from `defaults:`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    supported: ClassVar[bool] = False

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    type: str
    description: str | None = None
    where: Where = Where()
    group_by: tuple[Label, ...] | None = None
    notify: tuple[str, ...] | None = None
    repeat_every: Duration | None = None
    send_resolved: bool | None = None
    for_: Duration = Field(default=timedelta(0), alias="for")
    business_hours: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    escalate: tuple[EscalationStep, ...] | None = None
    template: TemplateSettings | None = None

    @field_validator("group_by", "notify", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    def unsupported_reason(self) -> str | None:
        """Why this rule cannot run yet, or None when it can."""
        return None if self.supported else f'rule type "{self.type}" is not yet supported'

    @property
    def scope_labels(self) -> tuple[str, ...]:
        return self.group_by if self.group_by is not None else ("helpdesk",)

    def evaluate(self, snapshot: Snapshot, now: datetime) -> Iterator[Finding]:
        """What holds now, one finding per scope. Pure: no I/O, no clock."""
        raise NotImplementedError(self.unsupported_reason())

    def _finding(
        self, scope: tuple[tuple[str, str], ...], level: str, value: float, threshold: float | None,
        summary: str, tickets: Sequence[Ticket],
    ) -> Finding:
        return Finding(
            rule=self.name, labels=labels_of(dict(scope)), level=level,  # type: ignore[arg-type]
            value=value, threshold=threshold, summary=summary, tickets=tuple(tickets[:MAX_LISTED]),
            ticket_count=len(tickets), hold_for=self.for_,
        )


def most_urgent_first(tickets: Iterable[Ticket]) -> list[Ticket]:
    return sorted(tickets, key=lambda t: (t.priority.rank, t.created_at))


def oldest_first(tickets: Iterable[Ticket], field: str = "created_at") -> list[Ticket]:
    return sorted(tickets, key=lambda t: (getattr(t, field), t.priority.rank))


class ThresholdRule(RuleBase):
    """A metric above (or below) a warn and/or critical level, per scope."""

    supported: ClassVar[bool] = True
    type: Literal["threshold"]
    metric: MetricName
    warn_above: float | None = None
    critical_above: float | None = None
    warn_below: float | None = None
    critical_below: float | None = None

    @model_validator(mode="after")
    def _has_a_level(self) -> ThresholdRule:
        if all(v is None for v in (self.warn_above, self.critical_above, self.warn_below, self.critical_below)):
            raise ValueError("needs at least one of warn_above, critical_above, warn_below, critical_below")
        return self

    def unsupported_reason(self) -> str | None:
        if self.metric not in SUPPORTED_METRICS:
            return f'metric "{self.metric}" is not yet supported'
        return None

    def level_for(self, value: float) -> tuple[str, float] | None:
        """The level this value reaches and the threshold it crossed, or None."""
        for level, above, below in (
            ("critical", self.critical_above, self.critical_below),
            ("warn", self.warn_above, self.warn_below),
        ):
            if above is not None and value > above:
                return level, above
            if below is not None and value < below:
                return level, below
        return None

    def evaluate(self, snapshot: Snapshot, now: datetime) -> Iterator[Finding]:
        matching = [t for t in snapshot.tickets if self.where.matches(t)]
        grouped = group_tickets(matching, self.scope_labels)
        if self.scope_labels == ("helpdesk",):
            # Every helpdesk has a value, even with no ticket: "below" thresholds need the zero.
            for name in snapshot.helpdesks:
                grouped.setdefault((("helpdesk", name),), [])
        for scope, tickets in grouped.items():
            value = compute(self.metric, tickets, now)
            crossed = self.level_for(value)
            if crossed is None:
                continue
            level, threshold = crossed
            direction = "above" if value > threshold else "below"
            summary = f"{self.metric} is {value:g} ({level} {direction} {threshold:g})"
            listed = most_urgent_first(t for t in tickets if t.is_open)
            yield self._finding(scope, level, value, threshold, summary, listed)


class AgingRule(RuleBase):
    """Tickets older than ``older_than`` (by created_at or updated_at), listed oldest first."""

    supported: ClassVar[bool] = True
    type: Literal["aging"]
    older_than: Duration
    critical_older_than: Duration | None = None
    field: Literal["created_at", "updated_at"] = "created_at"
    level: Level = "warn"

    def unsupported_reason(self) -> str | None:
        if self.business_hours is not None:
            return "aging in business hours is not yet supported"
        return None

    def evaluate(self, snapshot: Snapshot, now: datetime) -> Iterator[Finding]:
        aged = [
            t for t in snapshot.tickets
            if t.is_open and self.where.matches(t) and now - getattr(t, self.field) > self.older_than
        ]
        for scope, tickets in group_tickets(aged, self.scope_labels).items():
            ordered = oldest_first(tickets, self.field)
            oldest = now - getattr(ordered[0], self.field)
            critical = self.critical_older_than is not None and oldest > self.critical_older_than
            level = "critical" if critical else self.level
            what = "open" if self.field == "created_at" else "not updated"
            summary = (
                f"{len(ordered)} ticket{'s' if len(ordered) != 1 else ''} {what} for more than "
                f"{format_duration(self.older_than)} (oldest {human_duration(oldest)})"
            )
            yield self._finding(scope, level, float(len(ordered)), self.older_than.total_seconds() / 3600,
                                summary, ordered)


class SlaRule(RuleBase):
    """SLA targets approaching (warn_within / critical_within) or breached (critical)."""

    type: Literal["sla"]
    warn_within: Duration | None = None
    critical_within: Duration | None = None


class SpikeRule(RuleBase):
    """Inflow in ``window`` against the same-length windows of ``baseline``."""

    type: Literal["spike"]
    window: Duration
    baseline: Duration
    factor: float = Field(gt=1)
    min_count: int = Field(default=1, ge=1)


class TrendRule(RuleBase):
    """A metric growing every day for ``growing_for``, by daily snapshots."""

    type: Literal["trend"]
    metric: MetricName
    growing_for: Duration


class FlatlineRule(RuleBase):
    """No new ticket at all in ``window`` (of business time when business_hours is set)."""

    type: Literal["flatline"]
    window: Duration


class ForecastRule(RuleBase):
    """The metric will cross ``above`` (or ``below``) within ``horizon`` at the current rate."""

    type: Literal["forecast"]
    metric: MetricName
    above: float | None = None
    below: float | None = None
    horizon: Duration


class FifoRule(RuleBase):
    """Solved tickets much younger than the ones still waiting at the same priority."""

    type: Literal["fifo"]
    window: Duration
    ratio: float = Field(gt=0, lt=1)
    min_count: int = Field(default=5, ge=1)


Rule = Annotated[
    ThresholdRule | AgingRule | SlaRule | SpikeRule | TrendRule | FlatlineRule | ForecastRule | FifoRule,
    Field(discriminator="type"),
]

RULE_TYPES: tuple[type[RuleBase], ...] = (
    ThresholdRule, AgingRule, SlaRule, SpikeRule, TrendRule, FlatlineRule, ForecastRule, FifoRule,
)

