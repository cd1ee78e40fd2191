"""Rows <-> domain types: how tickets, polls, alerts, log entries, queued news and silences are written.

Shared by every module of the store that reads or writes them, and by the outbox, which keeps an
alert in the body of each queued notification (``alert_to_json`` / ``alert_from_json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

from backlog_watch.models import (
    Alert,
    AlertState,
    LogEntry,
    Muted,
    PollStatus,
    Ticket,
)
from backlog_watch.rows import TICKET_COLUMNS as TICKET_COLUMNS  # rows.py's, re-exported as the store reads them
from backlog_watch.rows import Row as Row
from backlog_watch.rows import StoredTicket as StoredTicket
from backlog_watch.rows import evaluation_values as evaluation_values
from backlog_watch.rows import stored
from backlog_watch.rows import ticket_from_row as ticket_from_row
from backlog_watch.store.records import ActionRecord, QueuedNews, SilenceRecord


def epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def moment(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def at(seconds: float) -> datetime:
    """A moment that is never missing (a NOT NULL column)."""
    return datetime.fromtimestamp(seconds, UTC)


# -- tickets -----------------------------------------------------------------------------------------
# A ticket's row is built in backlog_watch/rows.py (connectors build it too); what the store adds here is
# how it reads and keys them.


def ticket_columns(alias: str = "") -> str:
    """The columns ``ticket_from_row`` reads, in its order (TICKET_COLUMNS without the evaluation's four),
    each qualified with the table's ``alias`` when given ("t": ``t.helpdesk, t.id, ...``)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + column for column in TICKET_COLUMNS.split(", ")[:14])


def ticket_row(t: Ticket) -> tuple[object, ...]:
    """The row of ``TICKET_COLUMNS`` of a Ticket."""
    return stored(t)[0]


def tag_rows(written: StoredTicket) -> list[tuple[object, object, str]]:
    """A stored ticket's rows in ``ticket_tags`` (what ``where: {tags}`` and ``group_by: [tag]`` read)."""
    row, tags = written
    return [(row[0], row[1], tag) for tag in tags]


def ticket_key(row: Row) -> tuple[str, str]:
    """A ticket row's (helpdesk, id)."""
    return row[0], row[1]


def stored_tickets(tickets: Sequence[Ticket | StoredTicket]) -> list[StoredTicket]:
    """``stored_ticket`` of each: what a store's ``encode_tickets`` answers."""
    return [stored_ticket(t) for t in tickets]


def stored_by_key(tickets: Sequence[Ticket | StoredTicket]) -> dict[tuple[str, str], StoredTicket]:
    """A page's tickets (or their ``stored_ticket``) as written, by (helpdesk, id): a ticket twice in a
    page, the later wins."""
    page: dict[tuple[str, str], StoredTicket] = {}
    for ticket in tickets:
        written = stored_ticket(ticket)
        page[ticket_key(written[0])] = written
    return page


def stored_ticket(t: Ticket | StoredTicket) -> StoredTicket:
    """What the store writes of ``t``: a Ticket's ``stored`` form; a row a connector built (rows.py) as it is."""
    if isinstance(t, tuple):
        return t
    return stored(t)


# -- polls -------------------------------------------------------------------------------------------

POLL_COLUMNS = "helpdesk, last_attempt, last_success, last_error, failures, auth_failed, skipped_total, failing_since"


def poll_row(status: PollStatus) -> tuple[object, ...]:
    return (
        status.helpdesk,
        epoch(status.last_attempt),
        epoch(status.last_success),
        status.last_error,
        status.failures,
        int(status.auth_failed),
        status.skipped_total,
        epoch(status.failing_since),
    )


def poll_from_row(row: Row) -> PollStatus:
    return PollStatus(
        str(row[0]),
        moment(row[1]),
        moment(row[2]),
        row[3],
        int(row[4]),
        bool(row[5]),
        int(row[6]),
        moment(row[7]),
    )


# -- alerts ------------------------------------------------------------------------------------------


def alert_to_json(a: Alert) -> str:
    """The alert's stored body (also inside each outbox row that tells of it). Its tickets, up to 50 with
    their SLA targets, are most of it: serialized by pydantic-core in one call, spliced into the rest
    (a ``model_dump`` and a ``json.dumps`` per ticket took 4 s for the 4,616 alerts of 500 helpdesks)."""
    rest = json.dumps(
        {
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "labels": [list(p) for p in a.labels],
            "state": a.state.value,
            "level": a.level,
            "value": a.value,
            "threshold": a.threshold,
            "summary": a.summary,
            "ticket_count": a.ticket_count,
            "active_since": epoch(a.active_since),
            "firing_since": epoch(a.firing_since),
            "resolved_at": epoch(a.resolved_at),
            "evaluated_at": epoch(a.evaluated_at),
            "muted": {"reason": a.muted.reason, "detail": a.muted.detail} if a.muted else None,
            "kept_firing_since": epoch(a.kept_firing_since),
        }
    )
    return f'{rest[:-1]}, "tickets": {to_json(a.tickets).decode()}}}'


class AlertBodies:
    """The bodies of one evaluation's alerts, each encoded once: the alerts table and every outbox row
    telling of an alert hold the same body (500 helpdesks: 4,600 alerts of up to 50 tickets, encoded twice
    in the first evaluation, were two of its five seconds of writes). By identity, each alert held while
    its body is: kept for one evaluation, then dropped."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[Alert, str]] = {}

    def __call__(self, alert: Alert) -> str:
        known = self._known.get(id(alert))  # the alert is held with its body: its id cannot be reused meanwhile
        if known is None:
            known = self._known[id(alert)] = (alert, alert_to_json(alert))
        return known[1]


def alert_from_json(text: str) -> Alert:
    return _alert_from(json.loads(text))


def alert_from_body(body: dict[str, Any]) -> Alert:
    """The alert of a body already decoded (an outbox row's ``alert``)."""
    return _alert_from(body)


def _alert_from(d: dict[str, Any], tickets: tuple[Ticket, ...] | None = None) -> Alert:
    """The alert of a decoded body; ``tickets``: its tickets already decoded (the body's are not read)."""
    return Alert(
        fingerprint=d["fingerprint"],
        rule=d["rule"],
        labels=tuple((k, v) for k, v in d["labels"]),
        state=AlertState(d["state"]),
        level=d["level"],
        value=d["value"],
        threshold=d["threshold"],
        summary=d["summary"],
        tickets=tickets if tickets is not None else tuple(Ticket.model_validate(t) for t in d["tickets"]),
        ticket_count=d["ticket_count"],
        active_since=at(d["active_since"]),
        firing_since=moment(d["firing_since"]),
        resolved_at=moment(d["resolved_at"]),
        evaluated_at=moment(d["evaluated_at"]),
        muted=Muted(d["muted"]["reason"], d["muted"]["detail"]) if d.get("muted") else None,
        kept_firing_since=moment(d.get("kept_firing_since")),
    )


class TicketCache:
    """Tickets built from their rows (``ticket_from_row``), kept by key while the row is the same: each
    evaluation lists the same tickets again (up to 50 per alert, thousands of alerts), and rebuilding
    each one cost more than its query; the same objects also make an unchanged alert compare equal at
    once. Past ``limit`` tickets the cache starts over. Tickets are immutable: sharing them is safe."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._known: dict[tuple[object, object], tuple[tuple[object, ...], Ticket]] = {}

    def ticket(self, row: Sequence[Any]) -> Ticket:
        values = tuple(row)
        key = (values[0], values[1])
        cached = self._known.get(key)
        if cached is not None and cached[0] == values:
            return cached[1]
        ticket = ticket_from_row(values)
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[key] = (values, ticket)
        return ticket


class AlertCache:
    """Alerts decoded from their stored bodies, kept by fingerprint: an evaluation loads every alert, and
    decoding the tickets each one lists took a fifth of an evaluation over 100 helpdesks. A body that is
    the same gives the same alert; one that changed (each evaluation stamps ``evaluated_at``) reuses the
    tickets decoded before when its tickets are the same. Alerts and tickets are immutable, so sharing
    them is safe; the cache holds only the alerts stored now."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, Alert, list[Any]]] = {}

    def decode(self, rows: Iterable[Row]) -> dict[str, Alert]:
        """``{fingerprint: alert}`` of (fingerprint, body) rows."""
        found: dict[str, Alert] = {}
        known = self._known
        for fingerprint, body in rows:
            cached = known.get(fingerprint)
            if cached is None or cached[0] != body:
                decoded = json.loads(body)
                same = cached is not None and cached[2] == decoded["tickets"]
                alert = _alert_from(decoded, cached[1].tickets if cached is not None and same else None)
                cached = known[fingerprint] = (body, alert, decoded["tickets"])
            found[fingerprint] = cached[1]
        for gone in known.keys() - found.keys():
            del known[gone]
        return found


# -- the notification log ----------------------------------------------------------------------------

LOG_COLUMNS = "fingerprint, notifier, episode, state, level, sent_at, ticket_ids, channel, ts, ticket_count"


def log_row(entry: LogEntry) -> tuple[object, ...]:
    return (
        entry.fingerprint,
        entry.notifier,
        entry.episode.timestamp(),
        entry.state.value,
        entry.level,
        entry.sent_at.timestamp(),
        json.dumps(list(entry.ticket_ids)),
        entry.channel,
        entry.ts,
        entry.ticket_count,
    )


def log_entry_from_row(row: Row) -> LogEntry:
    return LogEntry(
        fingerprint=str(row[0]),
        notifier=str(row[1]),
        episode=at(float(row[2])),
        state=AlertState(row[3]),
        level=str(row[4]),
        sent_at=at(float(row[5])),
        ticket_ids=tuple(json.loads(str(row[6]))),
        channel=row[7],
        ts=row[8],
        ticket_count=row[9] if len(row) > 9 else None,
    )


# -- the outbox and silences -------------------------------------------------------------------------

QUEUED_COLUMNS = (
    "id, fingerprint, notifier, reason, body, created_at, attempts, next_attempt_at, last_error, held, episode"
)


def queued_from_row(r: Row) -> QueuedNews:
    return QueuedNews(
        int(r[0]),
        str(r[1]),
        str(r[2]),
        str(r[3]),
        str(r[4]),
        at(float(r[5])),
        int(r[6]),
        at(float(r[7])),
        r[8],
        bool(r[9]),
        at(float(r[10])),
    )


SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at"


def silence_row(s: SilenceRecord) -> tuple[object, ...]:
    return (
        s.id,
        json.dumps([list(m) for m in s.matchers]),
        s.starts_at.timestamp(),
        s.ends_at.timestamp(),
        s.created_by,
        s.comment,
        s.created_at.timestamp(),
    )


def silence_from_row(r: Row) -> SilenceRecord:
    return SilenceRecord(
        str(r[0]),
        tuple((str(k), str(op), str(v)) for k, op, v in json.loads(str(r[1]))),
        at(float(r[2])),
        at(float(r[3])),
        str(r[4]),
        str(r[5]),
        at(float(r[6])),
    )


# -- actions taken on alerts -------------------------------------------------------------------------

ACTION_COLUMNS = "fingerprint, episode, action, actor, at, detail, level, ticket_count"


def action_row(action: ActionRecord) -> tuple[object, ...]:
    return (
        action.fingerprint,
        action.episode.timestamp(),
        action.action,
        action.actor,
        action.at.timestamp(),
        action.detail,
        action.level,
        action.ticket_count,
    )


def action_from_row(row: Row) -> ActionRecord:
    return ActionRecord(
        str(row[0]),
        at(float(row[1])),
        str(row[2]),
        str(row[3]),
        at(float(row[4])),
        str(row[5]),
        str(row[6]),
        int(row[7]),
    )
