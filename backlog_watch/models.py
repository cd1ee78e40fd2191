"""The domain types every layer shares: the normalized ticket every connector produces, the snapshot
rules evaluate, the alerts they lead to, and what the store keeps about polls and notifications.

They live here, at the bottom, so the store can persist alerts and log entries without importing the
alerting or delivery logic that produces them."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

if TYPE_CHECKING:
    from backlog_watch.business_hours import BusinessCalendar
    from backlog_watch.store.history import HistoryView


class Status(StrEnum):
    """Normalized ticket status. The backlog is new + open + pending + on_hold."""

    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"
    DELETED = "deleted"
    MOVED = "moved"
    """It exists, but left this helpdesk's queue (e.g. a Jira issue moved to another project)."""

    @property
    def is_open(self) -> bool:
        # By value: an Enum member hashes in Python, a str in C, and rules ask this of 100k tickets.
        return self._value_ in _OPEN_VALUES


OPEN_STATUSES = frozenset({Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD})
_OPEN_VALUES = frozenset(s.value for s in OPEN_STATUSES)


class Priority(StrEnum):
    """Normalized priority; ``rank`` orders them from the most urgent."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    NONE = "none"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self._value_]  # by value, as Status.is_open


_PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3, "none": 4}


class Channel(StrEnum):
    """How the ticket reached the helpdesk."""

    EMAIL = "email"
    CHAT = "chat"
    PHONE = "phone"
    WEB = "web"
    API = "api"
    OTHER = "other"


class SlaKind(StrEnum):
    """Which promise an SLA target is: the first response, the next reply, or the resolution."""

    FIRST_RESPONSE = "first_response"
    NEXT_REPLY = "next_reply"
    RESOLUTION = "resolution"


Model = TypeVar("Model", bound=BaseModel)
_set = object.__setattr__


def _trusted(model: type[Model], values: dict[str, Any]) -> Model:
    """A model of ``values`` (every field, each of its type) without pydantic's validation: what
    ``model_construct`` does, minus its per-field bookkeeping. Only for values built by our own code."""
    instance = model.__new__(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def _aware(moment: datetime | None, name: str) -> None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{name} {moment} has no time zone")


class SlaTarget(BaseModel):
    """One SLA target and how it ended, kept after the ticket is solved (the weekly review needs it).

    ``met`` is True when fulfilled in time, False when breached, None while it runs or when the vendor
    does not say (a Zendesk reply metric once achieved, for one).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SlaKind
    due: AwareDatetime | None = None
    met: bool | None = None
    fulfilled_at: AwareDatetime | None = None

    @classmethod
    def trusted(
        cls, kind: SlaKind, due: datetime | None = None, met: bool | None = None, fulfilled_at: datetime | None = None
    ) -> SlaTarget:
        """A target built without validation (a cold sync builds hundreds of thousands); the moments must
        be aware (checked), the rest of their declared types."""
        _aware(due, "due")
        _aware(fulfilled_at, "fulfilled_at")
        return _trusted(cls, {"kind": kind, "due": due, "met": met, "fulfilled_at": fulfilled_at})


class Sla(BaseModel):
    """The SLA of a ticket, as the helpdesk computed it.

    The ``*_due``, ``breached`` and ``paused`` fields are the pending targets of an open ticket (the sla
    rule reads them, and they are empty once solved); ``targets`` records every target and its outcome,
    solved tickets included.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_response_due: AwareDatetime | None = None
    next_reply_due: AwareDatetime | None = None
    resolution_due: AwareDatetime | None = None
    breached: bool = False
    paused: bool = False
    targets: tuple[SlaTarget, ...] = ()

    @classmethod
    def trusted(
        cls,
        *,
        first_response_due: datetime | None = None,
        next_reply_due: datetime | None = None,
        resolution_due: datetime | None = None,
        breached: bool = False,
        paused: bool = False,
        targets: tuple[SlaTarget, ...] = (),
    ) -> Sla:
        """An Sla built without validation, as ``SlaTarget.trusted`` (the due moments are checked aware)."""
        _aware(first_response_due, "first_response_due")
        _aware(next_reply_due, "next_reply_due")
        _aware(resolution_due, "resolution_due")
        return _trusted(
            cls,
            {
                "first_response_due": first_response_due,
                "next_reply_due": next_reply_due,
                "resolution_due": resolution_due,
                "breached": breached,
                "paused": paused,
                "targets": targets,
            },
        )

    @property
    def outcome(self) -> bool | None:
        """Whether the ticket met its SLA: False if any target was breached, True if at least one was met
        and none breached, None when no target says (no SLA, or all still running or unknown)."""
        results = [t.met for t in self.targets if t.met is not None]
        if results:
            return all(results)
        return None

    @property
    def earliest_due(self) -> datetime | None:
        """The earliest of the pending targets, or None when there is none."""
        dues = [d for d in (self.first_response_due, self.next_reply_due, self.resolution_due) if d]
        return min(dues) if dues else None


class Ticket(BaseModel):
    """One ticket, normalized. Identity is (helpdesk, id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    helpdesk: str
    id: str
    subject: str = ""
    status: Status
    priority: Priority = Priority.NONE
    channel: Channel = Channel.OTHER
    group: str | None = None
    assignee: str | None = None
    tags: tuple[str, ...] = ()
    created_at: AwareDatetime
    updated_at: AwareDatetime
    solved_at: AwareDatetime | None = None
    sla: Sla = Sla()
    url: str = ""

    @classmethod
    def trusted(
        cls,
        *,
        helpdesk: str,
        id: str,  # noqa: A002 - the field's name
        status: Status,
        created_at: datetime,
        updated_at: datetime,
        subject: str = "",
        priority: Priority = Priority.NONE,
        channel: Channel = Channel.OTHER,
        group: str | None = None,
        assignee: str | None = None,
        tags: tuple[str, ...] = (),
        solved_at: datetime | None = None,
        sla: Sla | None = None,
        url: str = "",
    ) -> Ticket:
        """A Ticket built without pydantic's validation, for a connector's ``normalize``: a cold sync of
        100k tickets spent a tenth of its time validating values the connector had just built with their
        types. The caller vouches for the types (enums, str, a tuple of str, an Sla); the moments are
        checked aware, since a naive one would shift every age. Values read from the wire unchecked
        belong in ``Ticket(...)``, which validates."""
        _aware(created_at, "created_at")
        _aware(updated_at, "updated_at")
        _aware(solved_at, "solved_at")
        return _trusted(
            cls,
            {
                "helpdesk": helpdesk,
                "id": id,
                "subject": subject,
                "status": status,
                "priority": priority,
                "channel": channel,
                "group": group,
                "assignee": assignee,
                "tags": tags,
                "created_at": created_at,
                "updated_at": updated_at,
                "solved_at": solved_at,
                "sla": _NO_SLA if sla is None else sla,
                "url": url,
            },
        )

    @property
    def key(self) -> tuple[str, str]:
        return (self.helpdesk, self.id)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_assigned(self) -> bool:
        return self.assignee is not None

    def age(self, now: datetime) -> timedelta:
        """Calendar time since the ticket was created."""
        return now - self.created_at


_NO_SLA = Sla()

Scope = tuple[tuple[str, str], ...]
"""The values of a rule's ``group_by`` labels, sorted by label: (("group", "Billing"), ("helpdesk", "zendesk"))."""


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets a rule looks at, as the store reads it (a rule's ``Where`` converts to it, since the
    store may not import rules). Tuples are "any of"; every field given must match."""

    helpdesk: tuple[str, ...] | None = None
    status: tuple[str, ...] | None = None
    priority: tuple[str, ...] | None = None
    channel: tuple[str, ...] | None = None
    group: tuple[str, ...] | None = None
    assignee: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    assigned: bool | None = None


ALL_TICKETS = TicketFilter()


@dataclass(frozen=True)
class Aged:
    """One scope of an aging rule: its open tickets, how many are past the cutoff, and the oldest moment."""

    in_scope: int
    aged: int
    oldest: datetime | None


@dataclass(frozen=True)
class SlaRisk:
    """One scope of an SLA rule: tickets with a running SLA, and how many are breached, due by the
    critical cutoff, due by the warn cutoff (each ticket counted once, at its worst)."""

    tracked: int
    breached: int
    critical: int
    warn: int


@dataclass(frozen=True)
class Medians:
    """One scope of a FIFO rule: tickets solved in the window and their median age when solved; open
    tickets and the median of their creation moments (the median waiting age is now minus it)."""

    solved: int
    solved_age: timedelta | None
    waiting: int
    waiting_created: datetime | None


@dataclass(frozen=True)
class Listing:
    """Which tickets of one scope an alert lists, and in which order (the store returns the first ``limit``).

    ``order``: "urgent" (priority, then oldest), "created_at"/"updated_at" (oldest first, then priority),
    "due" (earliest running SLA target first), "newest" (latest created first).
    """

    order: Literal["urgent", "created_at", "updated_at", "due", "newest"]
    open_only: bool = True
    before: datetime | None = None
    """Only tickets whose ``order`` column (created_at or updated_at) is before this moment."""
    created_after: datetime | None = None
    at_risk_by: datetime | None = None
    """Only unpaused running SLAs breached, or due by this moment."""


class TicketQuery(Protocol):
    """What rules ask of the stored backlog at one moment (``Snapshot.query``); the store answers with
    aggregates (store/aggregate.py), so no evaluation builds an object per open ticket.

    The tickets seen are those of the snapshot's helpdesks that are open, or solved within its solved
    window. Scopes are those with at least one such ticket matching the filter.
    """

    def kpis(
        self, where: TicketFilter, group_by: Sequence[str], handle_hours: Mapping[str, float], percentiles: bool = True
    ) -> dict[Scope, dict[str, float]]:
        """Every KPI (kpis.METRICS) per scope; without ``percentiles``, age_p50/p90 hours read 0."""
        ...

    def aged(self, where: TicketFilter, group_by: Sequence[str], field: str, before: datetime) -> dict[Scope, Aged]:
        """Per scope of open tickets, those whose ``field`` (created_at or updated_at) is before ``before``."""
        ...

    def sla_risk(
        self, where: TicketFilter, group_by: Sequence[str], critical_by: datetime | None, warn_by: datetime | None
    ) -> dict[Scope, SlaRisk]:
        """Per scope of open tickets with an unpaused running SLA target."""
        ...

    def inflow(
        self, where: TicketFilter, group_by: Sequence[str], since: datetime, split: datetime
    ) -> dict[Scope, tuple[int, int]]:
        """Per scope, tickets created in (since, split] and in (split, now]."""
        ...

    def created_in(
        self,
        where: TicketFilter,
        group_by: Sequence[str],
        windows: Sequence[tuple[datetime, datetime]],
        scope: Scope | None = None,
    ) -> dict[Scope, tuple[int, ...]]:
        """Per scope, tickets created in each window (start, end], one count per window: every open or
        solved ticket of the snapshot's helpdesks however long ago it was solved (weeks back, not only
        within the solved window). Scopes with a ticket in at least one window; with ``scope``, that one
        only (its tickets alone are read)."""
        ...

    def first_created(self) -> dict[str, datetime]:
        """Per helpdesk of the snapshot, when the store's first ticket of it (any status) was created:
        where the store's knowledge of its inflow begins. Helpdesks without a ticket are missing."""
        ...

    def last_created(self, where: TicketFilter, group_by: Sequence[str]) -> dict[Scope, datetime]:
        """Per scope, when its newest ticket was created."""
        ...

    def medians(self, where: TicketFilter, group_by: Sequence[str], solved_since: datetime) -> dict[Scope, Medians]:
        """Per scope, open tickets and those solved in (solved_since, now]."""
        ...

    def listed(self, where: TicketFilter, scope: Scope, listing: Listing, limit: int | None) -> list[Ticket]:
        """The tickets an alert lists (``limit`` None: all of them)."""
        ...

    def listed_by_scope(
        self, where: TicketFilter, group_by: Sequence[str], scopes: Iterable[Scope], listing: Listing, limit: int | None
    ) -> dict[Scope, list[Ticket]]:
        """``listed`` of each of ``scopes`` (scopes of ``group_by``) at once; a scope without a ticket is missing."""
        ...

    def count(self, where: TicketFilter, scope: Scope, listing: Listing) -> int:
        """How many tickets ``listed`` would give without a limit."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """What the store knows at ``now``: its open tickets and recently solved ones, per helpdesk, asked
    through ``query`` (the store aggregates; no object per ticket).

    Rules evaluate a snapshot and never the last fetch, so a quiet poll resolves nothing by accident.
    It also carries what rules need besides tickets, resolved before evaluation so rules stay pure:
    the business calendars by name, the KPI history, each helpdesk's handle time in hours, and the
    config's time zone (where a rule without a calendar finds "Monday 09:00").
    """

    now: datetime
    helpdesks: tuple[str, ...]
    query: TicketQuery
    stale: frozenset[str] = field(default_factory=frozenset)
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    history: HistoryView | None = None
    handle_hours: Mapping[str, float] = field(default_factory=dict)
    timezone: tzinfo = UTC

    def calendar(self, name: str | None) -> BusinessCalendar | None:
        """The named business calendar (None for calendar time); a missing one is a wiring bug."""
        if name is None:
            return None
        if name not in self.calendars:
            raise KeyError(f'no business calendar "{name}" was given to the evaluation')
        return self.calendars[name]


# -- alerts (their lifecycle, advance(), is in alerting/alerts.py) ------------------------------------

Level = Literal["warn", "critical"]
LEVEL_RANK = {"warn": 1, "critical": 2}

Labels = tuple[tuple[str, str], ...]
MuteReason = Literal["silenced", "inhibited", "quiet_hours", "time_interval"]
MUTE_REASONS: tuple[MuteReason, ...] = ("silenced", "inhibited", "quiet_hours", "time_interval")


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


@functools.lru_cache(maxsize=65536)
def fingerprint(rule: str, labels: Labels) -> str:
    """A stable id for one rule and scope: the same inputs give the same id across restarts (each
    evaluation asks again for every scope of every rule: the cache answers)."""
    digest = hashlib.sha256(json.dumps([rule, list(labels)], separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    """What a rule says holds now for one scope."""

    rule: str
    labels: Labels
    level: Level
    value: float
    threshold: float | None
    summary: str
    tickets: tuple[Ticket, ...] = ()
    ticket_count: int = 0
    hold_for: timedelta = timedelta(0)
    since: datetime | None = None
    """When the condition began, if before this evaluation saw it (an outage began at its first failed
    request): ``hold_for`` counts from then."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)


@dataclass(frozen=True)
class Muted:
    """Why an alert is not notified now, although it is evaluated, stored and shown."""

    reason: MuteReason
    detail: str
    """What does it: "by 1a2b3c4d (alice: bulk import)", "by backlog-size (critical, helpdesk=zendesk)"."""

    def __str__(self) -> str:
        return f"{self.reason.replace('_', ' ')} {self.detail}"


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """One rule's condition for one scope, and where it stands."""

    fingerprint: str
    rule: str
    labels: Labels
    state: AlertState
    level: Level
    value: float
    threshold: float | None
    summary: str
    tickets: tuple[Ticket, ...]
    ticket_count: int
    active_since: datetime
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    evaluated_at: datetime | None = None
    """The evaluation that last changed it (one finding it as it was keeps it whole, store row and all)."""
    muted: Muted | None = None
    """Set by the delivery policy at each evaluation (policy.py); None while it is notified."""
    kept_firing_since: datetime | None = None
    """When its condition stopped holding while the rule's ``keep_firing_for`` keeps it firing."""

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def is_firing(self) -> bool:
        return self.state is AlertState.FIRING


# -- what the store keeps about polls and notifications ----------------------------------------------


@dataclass(frozen=True)
class PollStatus:
    """How the last polls of one helpdesk went."""

    helpdesk: str
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    auth_failed: bool = False
    skipped_total: int = 0
    failing_since: datetime | None = None
    """When the first failed poll of the current outage started (None while polls succeed)."""


@dataclass(frozen=True)
class LogEntry:
    """The last notification successfully sent for one episode of an alert to one notifier."""

    fingerprint: str
    notifier: str
    episode: datetime
    state: AlertState
    level: str
    sent_at: datetime
    ticket_ids: tuple[str, ...] = ()
    channel: str | None = None
    ts: str | None = None
    ticket_count: int | None = None
    """How many tickets the alert had when told (None in entries written before it was kept)."""
