"""A ticket as the store writes it: its row, built in one place, from a Ticket or straight from a
connector's values.

A sync writes every ticket it reads, and most of them are never looked at as a Ticket again: the
evaluation after it reads aggregates (store/aggregate.py), and an alert lists a few dozen. So the bundled
connectors build the row itself from the vendor's record (``stored_row``, the keyword arguments of
``Ticket.trusted``, with the SLA as an ``SlaRow``), not a Ticket, an Sla and its targets that are then read
back into a row: a cold sync of 100k Zendesk tickets spent 14 us a ticket on that round trip, 4.6 this
way. A Ticket is built from the row when one is wanted (``ticket_from_row``: what the store reads back),
and a Ticket's row goes through the same builder (``stored``), so the two cannot disagree.

Below ``sources`` and ``store`` (it imports only the models): connectors build rows, stores write them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from backlog_watch.models import OPEN_STATUSES, Channel, Priority, Sla, SlaKind, SlaTarget, Status, Ticket
from backlog_watch.models import _aware as _aware  # the check the models' ``trusted`` constructors make

Row = Sequence[Any]
"""A row as the database driver returns it."""

TICKET_COLUMNS = (
    "helpdesk, id, status, priority, channel, grp, assignee, tags, subject, created_at, updated_at, solved_at, sla, "
    "url, is_open, sla_due, sla_paused, sla_breached"
)
"""The columns of a ticket's row, in its order (the last four are what the evaluation aggregates over)."""

StoredTicket = tuple[tuple[object, ...], tuple[str, ...]]
"""A ticket as the store writes it: its row (``TICKET_COLUMNS``) and its tags, each once (its rows in
``ticket_tags``, what ``where: {tags}`` and ``group_by: [tag]`` read). Tuples of plain values: the cycle
collector stops tracking them after one look, where a Ticket is a dozen containers it walks again at
every collection (a cold sync keeps up to 10k tickets waiting for their write)."""


class SlaTargetRow(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """``SlaTarget`` as a row holds it (in the ticket's ``sla`` column): the same fields, in its order."""

    kind: SlaKind
    due: datetime | None = None
    met: bool | None = None
    fulfilled_at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.due is not None and self.due.tzinfo is None) or (
            self.fulfilled_at is not None and self.fulfilled_at.tzinfo is None
        ):
            _aware(self.due, "due")
            _aware(self.fulfilled_at, "fulfilled_at")


class SlaRow(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """``Sla`` as a row holds it: the same fields in its order, so that its JSON (the fields that are not
    defaults) is byte for byte what pydantic writes of the Sla, which rows written before it hold."""

    first_response_due: datetime | None = None
    next_reply_due: datetime | None = None
    resolution_due: datetime | None = None
    breached: bool = False
    paused: bool = False
    targets: tuple[SlaTargetRow, ...] = ()

    def __post_init__(self) -> None:
        dues = (self.first_response_due, self.next_reply_due, self.resolution_due)
        if any(due is not None and due.tzinfo is None for due in dues):
            for name, due in zip(("first_response_due", "next_reply_due", "resolution_due"), dues, strict=True):
                _aware(due, name)

    @property
    def earliest_due(self) -> datetime | None:
        """The earliest of the pending targets (``Sla.earliest_due``)."""
        dues = [d for d in (self.first_response_due, self.next_reply_due, self.resolution_due) if d is not None]
        return min(dues) if dues else None

    def model(self) -> Sla:
        """This SLA as the model the rules read."""
        targets = tuple(SlaTarget.trusted(**_fields(t, _TARGET_FIELDS)) for t in self.targets)
        return Sla.trusted(**_fields(self, _SLA_FIELDS), targets=targets)


def sla_row(sla: Sla) -> SlaRow:
    """The row form of a model's SLA."""
    targets = tuple(SlaTargetRow(**_fields(t, _TARGET_FIELDS)) for t in sla.targets)
    return SlaRow(**_fields(sla, _SLA_FIELDS), targets=targets)


_SLA_FIELDS = ("first_response_due", "next_reply_due", "resolution_due", "breached", "paused")
"""The fields an Sla and an SlaRow share besides their targets."""
_TARGET_FIELDS = ("kind", "due", "met", "fulfilled_at")


def _fields(source: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(source, name) for name in names}


_OPEN_VALUES = frozenset(s._value_ for s in OPEN_STATUSES)
_encode = msgspec.json.Encoder().encode
_SLA = msgspec.json.Decoder(SlaRow)


def stored_row(
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
    sla: SlaRow | None = None,
    url: str = "",
) -> StoredTicket:
    """The stored form of the ticket ``Ticket.trusted`` would build of the same values (the caller
    vouches for their types in the same way; the moments are checked aware, as there): the one place a
    ticket's row is built."""
    if created_at.tzinfo is None or updated_at.tzinfo is None or (solved_at is not None and solved_at.tzinfo is None):
        _aware(created_at, "created_at")  # one test for the three, per ticket; the message names the one
        _aware(updated_at, "updated_at")
        _aware(solved_at, "solved_at")
    text, due, paused, breached = _sla_values(sla)
    status_value = status._value_  # an Enum's ``value`` is a Python-level descriptor; this runs per ticket
    row = (
        helpdesk,
        id,
        status_value,
        priority._value_,
        channel._value_,
        group,
        assignee,
        _encode(tags).decode() if tags else "[]",
        subject,
        created_at.timestamp(),
        updated_at.timestamp(),
        solved_at.timestamp() if solved_at is not None else None,
        text,
        url,
        int(status_value in _OPEN_VALUES),
        due,
        paused,
        breached,
    )
    return row, tuple(dict.fromkeys(tags)) if tags else ()


_NO_SLA_VALUES: tuple[str | None, float | None, int, int] = (None, None, 0, 0)


def _sla_values(sla: SlaRow | None) -> tuple[str | None, float | None, int, int]:
    """The SLA column (None when every field is a default, most tickets of a sync) and the evaluation's
    three: the earliest pending due, paused, breached."""
    if sla is None:
        return _NO_SLA_VALUES
    text = _encode(sla)
    due = sla.earliest_due
    return (
        None if text == b"{}" else text.decode(),
        due.timestamp() if due is not None else None,
        int(sla.paused),
        int(sla.breached),
    )


def stored(ticket: Ticket) -> StoredTicket:
    """What the store writes of a Ticket (a plugin connector's, a hook's): ``stored_row`` of its values."""
    t = ticket
    return stored_row(
        helpdesk=t.helpdesk,
        id=t.id,
        status=t.status,
        created_at=t.created_at,
        updated_at=t.updated_at,
        subject=t.subject,
        priority=t.priority,
        channel=t.channel,
        group=t.group,
        assignee=t.assignee,
        tags=t.tags,
        solved_at=t.solved_at,
        sla=sla_row(t.sla),
        url=t.url,
    )


def evaluation_values(status: str, sla: str | None) -> tuple[int, float | None, int, int]:
    """The evaluation's columns of a stored row from its status and SLA column: open, its earliest
    running SLA target, paused, breached (a migration fills them for rows written before they existed)."""
    _, due, paused, breached = _sla_values(_SLA.decode(sla) if sla else None)
    return int(status in _OPEN_VALUES), due, paused, breached


def ticket_from_row(row: Row) -> Ticket:
    """The Ticket of a stored row (the first 14 of ``TICKET_COLUMNS``)."""
    # Not validated again: the row was validated when it was written; re-validating 100k rows costs seconds.
    return Ticket.trusted(
        helpdesk=row[0],
        id=row[1],
        status=Status(row[2]),
        priority=Priority(row[3]),
        channel=Channel(row[4]),
        group=row[5],
        assignee=row[6],
        tags=tuple(json.loads(str(row[7]))) if row[7] != "[]" else (),
        subject=row[8],
        created_at=_at(float(row[9])),
        updated_at=_at(float(row[10])),
        solved_at=_at(float(row[11])) if row[11] is not None else None,
        sla=Sla.model_validate_json(str(row[12])) if row[12] else None,
        url=row[13],
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
