"""Silences: mute notifications of the alerts that match, until an end time, with who and why.

A silence holds matchers over an alert's labels: ``rule``, ``level``, every ``group_by`` label of its
scope (``helpdesk``, ``group``, ``tag``...) and the rule's own ``labels:``. ``key=value`` matches
exactly, ``key=~regex`` matches the whole value, ``key!=value`` excludes. All matchers must match. A
silenced alert is still evaluated, stored and shown on the dashboard; only its notifications wait
(when the silence ends and it still fires, it is notified then). Silences live in the store, so the
CLI manages them while the daemon runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from backlog_watch.models import Alert
from backlog_watch.store import SilenceRecord, Store

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(=~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """``key=value``, ``key!=value`` or ``key=~regex``."""

    key: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = _MATCHER.match(text)
        if found is None or not found.group(3):
            raise ValueError(
                f'"{text}" is not a matcher (use key=value, key!=value or key=~regex, '
                "e.g. rule=backlog-size or helpdesk=zendesk)"
            )
        key, op, value = found.groups()
        if op == "=~":
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f'"{text}": {value!r} is not a regular expression ({exc})') from None
        return cls(key, op, value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.key)
        if self.op == "!=":
            return actual != self.value
        if actual is None:
            return False
        if self.op == "=~":
            return re.fullmatch(self.value, actual) is not None
        return actual == self.value

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime

    def is_active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def alert_labels(alert: Alert, rule_labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """What silences and templates match on: the rule's labels, the scope's labels, rule and level."""
    return {**(rule_labels or {}), **alert.label_map, "rule": alert.rule, "level": alert.level}


def silencing(silences: Iterable[Silence], labels: Mapping[str, str], now: datetime) -> Silence | None:
    """The first active silence that matches these labels."""
    return next((s for s in silences if s.is_active(now) and s.matches(labels)), None)


def _silence(record: SilenceRecord) -> Silence:
    return Silence(
        record.id,
        tuple(Matcher(*m) for m in record.matchers),
        record.starts_at,
        record.ends_at,
        record.created_by,
        record.comment,
        record.created_at,
    )


def _record(silence: Silence) -> SilenceRecord:
    return SilenceRecord(
        silence.id,
        tuple((m.key, m.op, m.value) for m in silence.matchers),
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        silence.created_at,
    )


class Silences:
    """The silences kept in a store: validated and matched here, stored there."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        matchers: Iterable[Matcher],
        *,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
        starts_at: datetime | None = None,
    ) -> Silence:
        found = tuple(matchers)
        if not found:
            raise ValueError("a silence needs at least one matcher (e.g. --matcher rule=backlog-size)")
        start = starts_at or now
        if ends_at <= start:
            raise ValueError("a silence must end after it starts")
        silence = Silence(uuid.uuid4().hex[:12], found, start, ends_at, created_by, comment, now)
        self.store.add_silence(_record(silence))
        return silence

    def all(self) -> list[Silence]:
        return [_silence(record) for record in self.store.silences()]

    def active(self, now: datetime) -> list[Silence]:
        return [s for s in self.all() if s.is_active(now)]

    def expire(self, silence_id: str, now: datetime) -> Silence:
        """End a silence now (it stays listed as expired). KeyError when no silence has that id."""
        prefix = len(silence_id) >= 4  # a unique prefix of 4+ characters will do, as with git
        matches = [s for s in self.all() if s.id == silence_id or (prefix and s.id.startswith(silence_id))]
        if len(matches) != 1:
            raise KeyError(silence_id)
        (silence,) = matches
        if silence.ends_at > now:
            self.store.end_silence(silence.id, now)
        return silence
