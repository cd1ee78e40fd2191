"""`backlog-watch test rules FILE...`: unit tests for rules, after ``promtool test rules``.

A test file declares a backlog as tickets with their changes over time, the moments to look at, and
the alerts expected firing at each (rule, scope labels, level, and optionally the listed ticket ids and
the text of the last message sent about it)::

    config: ../backlog-watch.example.yaml  # whose rules are tested (relative to this file)
    rules: [sla]                           # only these (default: every rule of the config)
    start: 2026-11-23T09:00:00Z            # "+30m" counts from here (this is the default)
    evaluate_every: 5m                     # the step (default: the config's evaluate_every)
    tickets:
      - id: 101
        priority: urgent
        created: -1h                       # one hour before start
        sla: {first_response_due: +90m}
        changes:
          - {at: +100m, status: solved}
    expect:
      - at: +1h                            # due in 30 minutes: inside warn_within 2h, and critical_within 30m
        alerts:
          - {rule: sla, labels: {helpdesk: zendesk}, level: critical, tickets: [101]}
      - at: +2h
        alerts: []                         # solved: nothing fires

The backlog runs through the daemon's own evaluation and delivery, step by step from ``start`` to the
last expected moment (engine.py), so ``for:``, ``keep_firing_for``, repeat, escalation, inhibition and
time intervals behave as in production. At each expected moment the alerts firing (of the rules
tested) must be exactly those listed: one missing, one more, a different level, other tickets or
another message is a failure, shown as a diff. Exit codes: 0 every test passed, 1 one failed, 2 a test
file (or the config it names) is malformed: ``file:line: key.path: message``, like config errors.

Tickets: ``id`` (required), ``helpdesk`` (default: the config's first), ``subject``, ``status`` (open),
``priority`` (normal), ``channel``, ``group``, ``assignee``, ``tags``, ``created`` (default: start),
``sla`` (``first_response_due``, ``next_reply_due``, ``resolution_due``, ``breached``, ``paused``), and
``changes``: each an ``at`` with the fields that change (``assignee: null`` unassigns). A ticket that
becomes solved or closed is solved then. Times are relative ("+30m", "-2h", "0") or absolute with a
time zone ("2026-11-23T10:00:00Z").
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError
from ruamel.yaml.comments import CommentedMap

from backlog_watch.app import refuse_unsupported
from backlog_watch.config import Config, load_config
from backlog_watch.config.errors import ErrorTranslator, Problem, did_you_mean
from backlog_watch.config.loader import Source, YamlSyntaxError, read_yaml
from backlog_watch.durations import Interval, format_duration, parse_duration
from backlog_watch.errors import ConfigError
from backlog_watch.models import Alert, Channel, Priority, Sla, Status, Ticket
from backlog_watch.replay.engine import Sent, Simulation, Step, Timeline, moments
from backlog_watch.store.sqlite import SqliteStore

__all__ = ["DEFAULT_START", "Outcome", "RuleTestFile", "load_test_file", "run_test_file"]

DEFAULT_START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
"""A Monday morning: where relative times count from when a test file gives no ``start``."""

_RELATIVE = re.compile(r"^([+-]?)\s*(.+)$")
_UNSET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _moment(value: Any) -> Any:
    """A relative time ("+30m", "-2h", "0") kept as a signed timedelta, or an aware datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return timedelta(0)
    if isinstance(value, str) and not re.match(r"^\d{4}-", value.strip()):
        text = value.strip()
        if text in ("0", "+0", "-0"):
            return timedelta(0)
        match = _RELATIVE.match(text)
        if match:
            try:
                delta = parse_duration(match.group(2))
            except PydanticCustomError:
                delta = None
            if delta is not None:
                return -delta if match.group(1) == "-" else delta
        raise PydanticCustomError(
            "moment", '"{value}" is not a time: write +30m, -2h, 0 or 2026-11-23T10:00:00Z', {"value": value}
        )
    return value


def _aware(value: timedelta | datetime) -> timedelta | datetime:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise PydanticCustomError("naive", "give the time zone too, e.g. 2026-11-23T10:00:00Z")
    return value


Moment = Annotated[timedelta | datetime, BeforeValidator(_moment), AfterValidator(_aware)]
"""When something happens: relative to the file's ``start``, or absolute."""


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class SlaSpec(_Model):
    first_response_due: Moment | None = None
    next_reply_due: Moment | None = None
    resolution_due: Moment | None = None
    breached: bool = False
    paused: bool = False


class TicketChange(_Model):
    """What changes in a ticket at ``at``: only the fields given."""

    at: Moment
    subject: str | None = None
    status: Status | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    group: str | None = None
    assignee: str | None = None
    tags: Annotated[tuple[str, ...], BeforeValidator(_listify)] | None = None
    sla: SlaSpec | None = None


class TicketSpec(_Model):
    """One ticket as it is created, and its changes."""

    id: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=10_000)
    """This many such tickets: ids counting up from ``id`` (a number), or ``id-1``, ``id-2``..."""
    helpdesk: str | None = None
    subject: str | None = None
    status: Status = Status.OPEN
    priority: Priority = Priority.NORMAL
    channel: Channel = Channel.OTHER
    group: str | None = None
    assignee: str | None = None
    tags: Annotated[tuple[str, ...], BeforeValidator(_listify)] = ()
    created: Moment = timedelta(0)
    sla: SlaSpec | None = None
    url: str = ""
    changes: list[TicketChange] = Field(default_factory=list)


class ExpectedAlert(_Model):
    """One alert expected firing: its rule and scope, its level, and optionally its tickets and message."""

    rule: str
    labels: dict[str, str] = Field(default_factory=dict)
    level: Literal["warn", "critical"]
    tickets: list[str] | None = None
    """The ids the alert lists (in any order); not compared when not given."""
    message: str | None = None
    """The whole text of the last message sent about this alert by then (as the console notifier writes it)."""
    message_contains: Annotated[tuple[str, ...], BeforeValidator(_listify)] = ()
    """Lines or words that message must contain."""


class Expectation(_Model):
    at: Moment
    alerts: list[ExpectedAlert] = Field(default_factory=list)


class RuleTestFile(_Model):
    config: str | None = None
    """The config whose rules are tested, relative to this file (default: --config or $BACKLOG_WATCH_CONFIG)."""
    rules: Annotated[tuple[str, ...], BeforeValidator(_listify)] | None = None
    start: AwareDatetime = DEFAULT_START
    evaluate_every: Interval | None = None
    tickets: list[TicketSpec] = Field(default_factory=list)
    expect: list[Expectation] = Field(min_length=1)


@dataclass
class LoadedTest:
    """A valid test file: its models, its config, and the line of each expectation."""

    path: str
    spec: RuleTestFile
    config: Config
    lines: list[int]


@dataclass
class Outcome:
    """One test file run: every expected moment checked; ``failures`` holds the readable diffs."""

    path: str
    moments: int = 0
    alerts: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _placeholders(text: str) -> dict[str, str]:
    """The environment, with a stand-in for each ``${VAR}`` (without a default) that is not set: a rule
    test connects to nothing, so the config's secrets need not be there."""
    env = dict(os.environ)
    for name in _UNSET.findall(text):
        env.setdefault(name, "https://unset.invalid" if "URL" in name.upper() else "unset-in-rule-tests")
    return env


def _config(source: Source, spec: RuleTestFile, path: Path, fallback: str | None) -> tuple[Config, list[str]]:
    """The config the file names (relative to it), else ``fallback``, with only the rules it tests; and
    the names of all the config's rules."""
    if spec.config is not None:
        where = path.parent / spec.config
    elif fallback:
        where = Path(fallback)
    else:
        raise ConfigError([source.problem((), 'missing required key "config" (or pass --config)').render(str(path))])
    try:
        text = where.read_text(encoding="utf-8")
    except OSError:
        line = source.problem(("config",), f"no such config file: {where}").render(str(path))
        raise ConfigError([line]) from None
    config = load_config(where, env=_placeholders(text))
    everyone = [r.name for r in config.rules]
    if spec.rules is not None:
        chosen = set(spec.rules)
        config = config.model_copy(update={"rules": [r for r in config.rules if r.name in chosen]})
    return config, everyone


def _check_names(source: Source, spec: RuleTestFile, config: Config, everyone: Sequence[str]) -> list[Problem]:
    """Rules and helpdesks the file names must exist in the config; ticket ids must be unique."""
    problems: list[Problem] = []
    for i, name in enumerate(spec.rules or ()):
        if name not in everyone:
            problems.append(
                source.problem(("rules", i), f'no rule "{name}" in the config{did_you_mean(name, everyone)}')
            )
    tested = {r.name for r in config.rules}
    helpdesks = [h.name for h in config.helpdesks]
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(spec.tickets):
        helpdesk = t.helpdesk or helpdesks[0]
        if helpdesk not in helpdesks:
            hint = did_you_mean(helpdesk, helpdesks, list_all=True)
            problems.append(source.problem(("tickets", i, "helpdesk"), f'no helpdesk "{helpdesk}" in the config{hint}'))
        for number in ticket_ids(t):
            if (helpdesk, number) in seen:
                problems.append(source.problem(("tickets", i, "id"), f'ticket "{number}" is declared twice'))
                break
            seen.add((helpdesk, number))
    start = spec.start.astimezone(UTC)
    for i, e in enumerate(spec.expect):
        if _at(e.at, start) < start:
            problems.append(source.problem(("expect", i, "at"), f"is before start ({start:%Y-%m-%d %H:%M} UTC)"))
        for j, a in enumerate(e.alerts):
            if a.rule not in tested:
                why = "is not among the rules tested" if a.rule in everyone else "is not in the config"
                hint = "" if a.rule in everyone else did_you_mean(a.rule, everyone)
                problems.append(source.problem(("expect", i, "alerts", j, "rule"), f'rule "{a.rule}" {why}{hint}'))
    return problems


def load_test_file(path: str | Path, fallback_config: str | None = None) -> LoadedTest:
    """Read and validate a test file (and its config); ConfigError naming file:line: key on a mistake."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{filename}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{filename}: cannot be read ({exc})"]) from None
    try:
        source = Source(filename, read_yaml(text))
        if not isinstance(source.tree, CommentedMap):
            raise ConfigError([f"{filename}:1: a rule test must be a mapping (config:, tickets:, expect: ...)"])
        source.interpolate(os.environ)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.problem.render(filename)]) from None
    try:
        spec = RuleTestFile.model_validate(source.data)
    except ValidationError as exc:
        problems = ErrorTranslator(source, RuleTestFile, lambda model, _: model, {}).problems(exc)
        raise ConfigError(sorted(dict.fromkeys(p.render(filename) for p in problems), key=_line_of)) from None
    config, everyone = _config(source, spec, Path(path), fallback_config)
    refuse_unsupported(config)
    problems = _check_names(source, spec, config, everyone)
    if problems:
        raise ConfigError([p.render(filename) for p in sorted(problems, key=lambda p: p.line)])
    lines = [source.line(("expect", i)) for i in range(len(spec.expect))]
    return LoadedTest(filename, spec, config, lines)


def _line_of(text: str) -> int:
    match = re.match(r"^[^:]*:(\d+):", text)
    return int(match.group(1)) if match else 0


# -- the timeline -------------------------------------------------------------------------------------


def _at(moment: timedelta | datetime, start: datetime) -> datetime:
    return start + moment if isinstance(moment, timedelta) else moment.astimezone(UTC)


def _sla(spec: SlaSpec | None, start: datetime) -> Sla:
    if spec is None:
        return Sla()
    return Sla(
        first_response_due=_at(spec.first_response_due, start) if spec.first_response_due is not None else None,
        next_reply_due=_at(spec.next_reply_due, start) if spec.next_reply_due is not None else None,
        resolution_due=_at(spec.resolution_due, start) if spec.resolution_due is not None else None,
        breached=spec.breached,
        paused=spec.paused,
    )


def ticket_ids(spec: TicketSpec) -> list[str]:
    """The ids of a ticket entry: its own, or with ``count`` as many counting up from it."""
    if spec.count == 1:
        return [spec.id]
    if spec.id.isdigit():
        return [str(int(spec.id) + n) for n in range(spec.count)]
    return [f"{spec.id}-{n + 1}" for n in range(spec.count)]


def versions(spec: TicketSpec, helpdesk: str, start: datetime) -> list[tuple[datetime, Ticket]]:
    """The ticket's state at its creation and after each change, in time order."""
    created = _at(spec.created, start)
    solved = created if spec.status in (Status.SOLVED, Status.CLOSED) else None
    ticket = Ticket(
        helpdesk=helpdesk,
        id=spec.id,
        subject=spec.subject if spec.subject is not None else f"Ticket {spec.id}",
        status=spec.status,
        priority=spec.priority,
        channel=spec.channel,
        group=spec.group,
        assignee=spec.assignee,
        tags=spec.tags,
        created_at=created,
        updated_at=created,
        solved_at=solved,
        sla=_sla(spec.sla, start),
        url=spec.url,
    )
    found = [(created, ticket)]
    for change in sorted(spec.changes, key=lambda c: _at(c.at, start)):
        at = _at(change.at, start)
        update: dict[str, Any] = {"updated_at": at}
        for name in change.model_fields_set - {"at", "sla"}:
            update[name] = getattr(change, name)
        if change.sla is not None:
            update["sla"] = _sla(change.sla, start)
        status = update.get("status", ticket.status)
        if status in (Status.SOLVED, Status.CLOSED):
            update["solved_at"] = ticket.solved_at or at
        elif "status" in update:
            update["solved_at"] = None
        ticket = ticket.model_copy(update=update)
        found.append((at, ticket))
    return found


def timeline_of(loaded: LoadedTest) -> Timeline:
    """The file's tickets as a timeline from its ``start``: the state then, and every later change."""
    spec, start = loaded.spec, loaded.spec.start.astimezone(UTC)
    default = loaded.config.helpdesks[0].name
    initial: list[Ticket] = []
    changes: list[tuple[datetime, Ticket]] = []
    for t in spec.tickets:
        for number in ticket_ids(t):
            states = versions(t.model_copy(update={"id": number}), t.helpdesk or default, start)
            before = [ticket for at, ticket in states if at <= start]
            if before:
                initial.append(before[-1])
            changes.extend((at, ticket) for at, ticket in states if at > start)
    return Timeline(initial, sorted(changes, key=lambda c: c[0]))


# -- running and comparing ----------------------------------------------------------------------------


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


def _shown(rule: str, labels: Mapping[str, str], level: str, tickets: Sequence[str] | None) -> str:
    listed = f" tickets [{', '.join(tickets)}]" if tickets is not None else ""
    return f"{rule} {_labels(labels)} {level}{listed}"


def _when(moment: timedelta | datetime, at: datetime) -> str:
    relative = (
        "" if isinstance(moment, datetime) else ("-" if moment < timedelta(0) else "+") + format_duration(abs(moment))
    )
    return f"{relative} ({at:%Y-%m-%d %H:%M} UTC)"


def compare(expected: Sequence[ExpectedAlert], step: Step, messages: Mapping[str, Sent]) -> list[str]:
    """The diff of one moment: ``- expected`` and ``+ got`` lines, and message diffs; empty when equal."""
    firing = {(a.rule, tuple(sorted(a.label_map.items()))): a for a in step.firing}
    lines: list[str] = []
    for want in expected:
        key = (want.rule, tuple(sorted(want.labels.items())))
        got = firing.pop(key, None)
        if got is None:
            lines.append(f"  - {_shown(want.rule, want.labels, want.level, want.tickets)}")
            continue
        lines += _compare_one(want, got, messages.get(got.fingerprint))
    for alert in sorted(firing.values(), key=lambda a: (a.rule, a.labels)):
        lines.append(f"  + {_shown(alert.rule, alert.label_map, alert.level, _ids(alert))}")
    return lines


def _ids(alert: Alert) -> list[str]:
    return sorted((t.id for t in alert.tickets), key=lambda i: (len(i), i))


def _compare_one(want: ExpectedAlert, got: Alert, sent: Sent | None) -> list[str]:
    lines: list[str] = []
    ids = _ids(got) if want.tickets is not None else None
    wanted_ids = sorted(want.tickets, key=lambda i: (len(i), i)) if want.tickets is not None else None
    if want.level != got.level or wanted_ids != ids:
        lines.append(f"  - {_shown(want.rule, want.labels, want.level, wanted_ids)}")
        lines.append(f"  + {_shown(got.rule, got.label_map, got.level, ids)}")
    text = sent.text if sent is not None else None
    title = f"{want.rule} {_labels(want.labels)}"
    if want.message is not None and _normal(want.message) != _normal(text):
        lines.append(f"  message of {title} differs:")
        diff = difflib.unified_diff(
            _normal(want.message).splitlines(),
            _normal(text).splitlines() if text is not None else ["(no message sent)"],
            "expected",
            "got",
            lineterm="",
        )
        lines += [f"    {line}" for line in diff]
    for part in want.message_contains:
        if text is None or part not in text:
            lines.append(f'  message of {title} does not contain "{part}"')
            lines += [f"    | {line}" for line in (text or "(no message sent)").splitlines()]
    return lines


def _normal(text: str | None) -> str:
    return "\n".join(line.rstrip() for line in (text or "").strip().splitlines())


async def run_test_file(loaded: LoadedTest) -> Outcome:
    """Run the file's backlog through the engine and check every expected moment."""
    spec = loaded.spec
    start = spec.start.astimezone(UTC)
    due = {i: _at(e.at, start) for i, e in enumerate(spec.expect)}
    outcome = Outcome(loaded.path)
    end = max(due.values())
    every = spec.evaluate_every or loaded.config.evaluate_every
    store = SqliteStore(":memory:")
    try:
        simulation = Simulation(loaded.config, store, timeline_of(loaded), start)
        last: dict[str, Sent] = {}
        by_moment: dict[datetime, list[int]] = {}
        for i, at in due.items():
            by_moment.setdefault(at, []).append(i)
        async for step in simulation.run(moments(start, end, every, due.values())):
            last.update({s.fingerprint: s for s in step.sent})
            for i in by_moment.get(step.at, []):
                expectation = spec.expect[i]
                outcome.moments += 1
                outcome.alerts += len(expectation.alerts)
                diff = compare(expectation.alerts, step, last)
                if diff:
                    head = f"{loaded.path}:{loaded.lines[i]}: at {_when(expectation.at, step.at)}:"
                    outcome.failures.append("\n".join([head, *diff]))
    finally:
        store.close()
    return outcome
