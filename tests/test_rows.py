"""A ticket's row (backlog_watch/rows.py): built from a Ticket or straight from a connector's values, the
same row; its SLA column byte for byte what pydantic wrote of the Sla before (rows stored by earlier
versions are compared with new ones: a different spelling would log a change that did not happen)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backlog_watch.models import Channel, Priority, Sla, SlaKind, SlaTarget, Status, Ticket
from backlog_watch.rows import (
    SlaRow,
    SlaTargetRow,
    evaluation_values,
    sla_row,
    stored,
    stored_row,
    ticket_from_row,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ZERO = timezone(timedelta(0))  # UTC by another tzinfo: pydantic and msgspec both write "Z"

SLAS = [
    Sla(),
    Sla(first_response_due=NOW),
    Sla(next_reply_due=NOW.replace(microsecond=123000), breached=True),
    Sla(resolution_due=datetime(2026, 12, 1, 8, 30, 5, 7, tzinfo=ZERO), paused=True),
    Sla(breached=True, paused=True),
    Sla(targets=(SlaTarget(kind=SlaKind.FIRST_RESPONSE, due=NOW, met=False),)),
    Sla(
        first_response_due=NOW,
        next_reply_due=NOW + timedelta(hours=1),
        resolution_due=NOW - timedelta(days=1),
        breached=True,
        targets=(
            SlaTarget(kind=SlaKind.RESOLUTION, due=NOW, met=True, fulfilled_at=NOW - timedelta(minutes=5)),
            SlaTarget(kind=SlaKind.NEXT_REPLY),
            SlaTarget(kind=SlaKind.FIRST_RESPONSE, met=None, fulfilled_at=NOW),
        ),
    ),
]


FIELDS: dict[str, object] = {
    "helpdesk": "zendesk",
    "id": "42",
    "status": Status.OPEN,
    "created_at": NOW - timedelta(days=2),
    "updated_at": NOW,
    "subject": 'Printer on fire \u2028 </script> "quoted" \u00e9',
    "priority": Priority.HIGH,
    "channel": Channel.EMAIL,
    "group": "Support",
    "tags": ("vip", "printer", "vip"),
    "url": "https://acme.zendesk.com/agent/tickets/42",
}


def ticket(sla: Sla, **changes: object) -> Ticket:
    return Ticket.model_validate(FIELDS | changes | {"sla": sla})


@pytest.mark.parametrize("sla", SLAS, ids=range(len(SLAS)))
def test_the_sla_column_is_what_pydantic_writes(sla: Sla) -> None:
    row, _ = stored(ticket(sla))
    pydantic = Sla.__pydantic_serializer__.to_json(sla, exclude_defaults=True).decode()
    assert row[12] == (None if pydantic == "{}" else pydantic)
    assert evaluation_values(str(row[2]), row[12]) == row[14:]  # a migration's values are the writer's
    assert row[14:] == (
        1,
        sla.earliest_due.timestamp() if sla.earliest_due else None,
        int(sla.paused),
        int(sla.breached),
    )


@pytest.mark.parametrize("sla", SLAS, ids=range(len(SLAS)))
def test_a_ticket_and_its_row_are_the_same_ticket(sla: Sla) -> None:
    original = ticket(sla, status=Status.SOLVED, solved_at=NOW)
    row, tags = stored(original)
    assert tags == ("vip", "printer")  # each once: its rows in ticket_tags
    assert ticket_from_row(row) == original
    assert stored(ticket_from_row(row)) == (row, tags)
    assert sla_row(sla).model() == sla


def test_a_row_built_from_values_is_the_row_of_their_ticket() -> None:
    """What a connector's ``_row`` builds (``stored_row``, ``SlaRow``) is what the store writes of the Ticket
    of the same values."""
    target = SlaTargetRow(kind=SlaKind.RESOLUTION, due=NOW, met=True, fulfilled_at=NOW - timedelta(hours=1))
    values = FIELDS | {"status": Status.PENDING, "tags": ("a",), "group": None}
    direct = stored_row(**values, sla=SlaRow(next_reply_due=NOW, paused=True, targets=(target,)))  # type: ignore[arg-type]
    model = Sla(
        next_reply_due=NOW,
        paused=True,
        targets=(SlaTarget(kind=SlaKind.RESOLUTION, due=NOW, met=True, fulfilled_at=NOW - timedelta(hours=1)),),
    )
    assert direct == stored(Ticket.model_validate(values | {"sla": model}))
    assert stored_row(**values) == stored(Ticket.model_validate(values))  # type: ignore[arg-type]
    assert direct[0][14:] == (1, NOW.timestamp(), 1, 0)


@pytest.mark.parametrize("field", ["created_at", "updated_at", "solved_at"])
def test_a_row_refuses_a_naive_moment(field: str) -> None:
    moments = {"created_at": NOW, "updated_at": NOW, "solved_at": None} | {field: datetime(2026, 11, 30, 9, 0)}
    with pytest.raises(ValueError, match=f"{field} .* has no time zone"):
        stored_row(helpdesk="z", id="1", status=Status.SOLVED, **moments)  # type: ignore[arg-type]


def test_an_sla_row_refuses_a_naive_due() -> None:
    with pytest.raises(ValueError, match="resolution_due"):
        SlaRow(resolution_due=datetime(2026, 11, 30, 9, 0))
    with pytest.raises(ValueError, match="fulfilled_at"):
        SlaTargetRow(kind=SlaKind.RESOLUTION, fulfilled_at=datetime(2026, 11, 30, 9, 0))
