"""The configuration's pydantic models: ``Config`` and its sections.

Helpdesk, notifier and rule blocks are validated by the class their ``type`` names in a registry of
entry points: a connector's ``Settings`` (``backlog_watch.connectors``), a notifier's ``Settings``
(``backlog_watch.notifiers``), a rule class (``backlog_watch.rules``); bundled and third-party ones
alike. A planned helpdesk type whose connector is not installed is accepted and listed by
``Config.unsupported()``, so `check` passes the full contract while `run` refuses what it cannot do.
Reading a file and explaining its mistakes by line is loader.py's (``load_config``, ``parse_config``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backlog_watch.alerting.inhibition import InhibitRule, InhibitSettings, effective_rules
from backlog_watch.alerting.time_intervals import MuteWindow, TimeInterval
from backlog_watch.business_hours import BusinessCalendar, CalendarSettings, TimeZoneName, zone
from backlog_watch.config.blocks import HelpdeskBlock, NotifierBlock, PlannedHelpdeskSettings
from backlog_watch.config.errors import format_path
from backlog_watch.config.http import HttpSettings
from backlog_watch.config.references import reference_problems
from backlog_watch.delivery.notifiers.base import NotifierSettings, notifier_type
from backlog_watch.durations import Duration, Interval
from backlog_watch.rules import Rule
from backlog_watch.rules.base import EscalationStep, Label, RuleBase
from backlog_watch.sources.settings import HelpdeskSettings
from backlog_watch.store.urls import redact_url

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

    from backlog_watch.config.loader import load_config, parse_config

__all__ = [
    "ClusterSettings",
    "Config",
    "Defaults",
    "HelpdeskDownSettings",
    "HttpSettings",
    "InhibitRule",
    "InhibitSettings",
    "NotifierSettings",
    "PlannedHelpdeskSettings",
    "ReportSettings",
    "load_config",
    "parse_config",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DEFAULT_STORE = "sqlite:///./backlog-watch.db"
REFERENCES_CHECKED = "references_checked"
"""Validation context key: parse_config checked the references on the file, where it has line numbers."""


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Defaults(BaseModel):
    """Delivery settings for every rule that does not set its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notify: tuple[str, ...] = ()
    repeat_every: Interval = timedelta(hours=4)
    send_resolved: bool = True
    group_by: tuple[Label, ...] = ("helpdesk",)
    escalate: tuple[EscalationStep, ...] = ()

    @field_validator("notify", "group_by", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)


class HelpdeskDownSettings(BaseModel):
    """The built-in helpdesk-down alert: polls of a helpdesk failing for ``after``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    after: Duration = timedelta(minutes=10)
    hides_others: bool = True
    """While it fires, the other alerts of that helpdesk are not notified: their data is stale."""
    notify: tuple[str, ...] | None = None
    """Default: ``defaults.notify``."""

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)


class ReportSettings(BaseModel):
    """A scheduled summary of the backlog, sent to ``notify``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    schedule: str
    """Five cron fields (minute hour day month weekday), in the config's ``timezone``."""
    kind: Literal["daily", "weekly"]
    notify: tuple[str, ...] = Field(min_length=1)

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger  # only a config with reports pays for APScheduler

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(
                f'"{value}" is not a cron schedule (minute hour day month weekday, e.g. "0 9 * * mon-fri"): {exc}'
            ) from None
        return value

    def trigger(self, timezone: str) -> CronTrigger:
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.schedule, timezone=zone(timezone))


class ClusterSettings(BaseModel):
    """Replicas on a shared (PostgreSQL) store: processes with the same ``store:`` share the helpdesks
    and elect one evaluator by leases (cluster.py). Nothing here is needed to run replicas."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_ttl: Interval = timedelta(seconds=30)
    """How long a lease lasts unrenewed (renewed every third of it): a replica that dies is taken over
    after at most this long."""
    replica_id: str | None = Field(default=None, pattern=NAME_PATTERN)
    """This replica's name in /readyz and the logs; default ``$BACKLOG_WATCH_REPLICA``, else
    ``<hostname>-<pid>``. Each replica needs its own."""

    @field_validator("lease_ttl")
    @classmethod
    def _ttl(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s (leases are renewed every third of it)")
        return value


class Config(BaseModel):
    """The whole configuration file, validated. Build it with ``load_config``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: str = DEFAULT_STORE
    timezone: TimeZoneName = "UTC"
    evaluate_every: Interval = timedelta(minutes=1)
    http: HttpSettings = HttpSettings()
    business_hours: dict[str, CalendarSettings] = Field(default_factory=dict)
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    helpdesks: list[HelpdeskBlock] = Field(min_length=1)
    notifiers: list[NotifierBlock] = Field(default_factory=list)
    defaults: Defaults = Defaults()
    rules: list[Rule]
    reports: list[ReportSettings] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    inhibit: InhibitSettings = InhibitSettings()
    """Deprecated: translated into inhibit_rules (see ``inhibit_rules_in_force``)."""
    helpdesk_down: HelpdeskDownSettings = HelpdeskDownSettings()
    cluster: ClusterSettings = ClusterSettings()

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if (scheme == "sqlite" and len(value) > len("sqlite:///") and value.startswith("sqlite:///")) or (
            scheme in ("postgresql", "postgres") and urlsplit(value).hostname
        ):
            return value
        raise ValueError("must be sqlite:///path/to/file.db or postgresql://user:password@host/db")

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Config:
        if info.context and info.context.get(REFERENCES_CHECKED):
            return self  # load_config checked them on the file, where it can give line numbers
        found = reference_problems(self._reference_view())
        if found:
            raise ValueError("; ".join(f"{format_path(path)}: {message}" for path, message in found))
        return self

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (redact_url(value) if key == "store" else value)

    @property
    def path(self) -> Path | None:
        """The file this config was loaded from (None when built in code)."""
        return self._path

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def helpdesk(self, name: str) -> HelpdeskSettings:
        for settings in self.helpdesks:
            if settings.name == name:
                return settings
        raise KeyError(f'no helpdesk named "{name}"')

    def notifier(self, name: str) -> NotifierSettings:
        for settings in self.notifiers:
            if settings.name == name:
                return settings
        raise KeyError(f'no notifier named "{name}"')

    def calendar(self, name: str) -> BusinessCalendar:
        """The business calendar of that name; its time zone defaults to the config's."""
        return BusinessCalendar.from_settings(self.business_hours[name], self.timezone)

    def calendars(self) -> dict[str, BusinessCalendar]:
        """Every named business calendar, for the evaluation (rules refer to them by name)."""
        return {name: self.calendar(name) for name in self.business_hours}

    def mute_window(
        self, quiet_hours: str | None, intervals: tuple[str, ...], except_levels: tuple[str, ...]
    ) -> MuteWindow | None:
        """The window of a notifier or a rule: its quiet-hours calendar and named intervals (None: none)."""
        if quiet_hours is None and not intervals:
            return None
        return MuteWindow(
            self.tz,
            tuple(t for t in self.time_intervals if t.name in intervals),
            self.calendar(quiet_hours) if quiet_hours else None,
            frozenset(except_levels),
        )

    def effective_rules(self) -> list[RuleBase]:
        """Every rule with ``defaults:`` filled in where the rule left a delivery key unset."""
        d = self.defaults
        fallback = {
            "notify": d.notify,
            "repeat_every": d.repeat_every,
            "send_resolved": d.send_resolved,
            "group_by": d.group_by,
            "escalate": d.escalate,
        }
        rules: list[RuleBase] = []
        for rule in self.rules:
            update = {key: value for key, value in fallback.items() if getattr(rule, key) is None}
            rules.append(rule.model_copy(update=update) if update else rule)
        return rules

    def inhibit_rules_in_force(self) -> list[InhibitRule]:
        """``inhibit_rules``, the deprecated ``inhibit:`` keys translated, and the built-in helpdesk-down one."""
        scope = tuple(label for rule in self.effective_rules() for label in rule.scope_labels)
        return effective_rules(self.inhibit_rules, self.inhibit, self.helpdesk_down.hides_others, ("helpdesk", *scope))

    def deprecations(self) -> list[str]:
        """One line per deprecated key in use, saying what replaces it (`check` prints them)."""
        return self.inhibit.deprecations()

    def unsupported(self) -> list[str]:
        """One line per configured part that cannot run yet; `run` refuses to start while any is left."""
        lines = []
        for i, helpdesk in enumerate(self.helpdesks):
            if isinstance(helpdesk, PlannedHelpdeskSettings):
                lines.append(f'helpdesks[{i}] "{helpdesk.name}": connector type "{helpdesk.type}" is not yet supported')
        for i, rule in enumerate(self.effective_rules()):
            reason = rule.unsupported_reason()
            if reason:
                lines.append(f'rules[{i}] "{rule.name}": {reason}')
        for i, report in enumerate(self.reports):
            for name in report.notify:
                kind = next((n.type for n in self.notifiers if n.name == name), None)
                if kind is not None and not callable(getattr(notifier_type(kind), "send_report", None)):
                    lines.append(f'reports[{i}] "{report.name}": notifier "{name}" ({kind}) cannot send reports yet')
        return lines

    def _reference_view(self) -> dict[str, Any]:
        return {
            "business_hours": dict(self.business_hours),
            "helpdesks": [{"name": h.name} for h in self.helpdesks],
            "time_intervals": [{"name": t.name} for t in self.time_intervals],
            "notifiers": [
                {"name": n.name, "quiet_hours": n.quiet_hours, "mute_time_intervals": list(n.mute_time_intervals)}
                for n in self.notifiers
            ],
            "defaults": {
                "notify": list(self.defaults.notify),
                "escalate": [{"notify": list(e.notify)} for e in self.defaults.escalate],
            },
            "helpdesk_down": {"notify": self.helpdesk_down.notify},
            "rules": [
                {
                    "name": r.name,
                    "notify": r.notify,
                    "business_hours": r.business_hours,
                    "where": {"helpdesk": r.where.helpdesk},
                    "escalate": [{"notify": list(e.notify)} for e in r.escalate or ()],
                    "mute_time_intervals": list(r.mute_time_intervals),
                }
                for r in self.rules
            ],
            "reports": [{"name": r.name, "notify": r.notify} for r in self.reports],
        }
