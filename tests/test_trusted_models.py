"""``Ticket.trusted``, ``Sla.trusted`` and ``SlaTarget.trusted`` (what the bundled connectors build with,
unvalidated for speed) make the same objects as the validating constructors, and still refuse a naive
moment, which would shift every age by the server's offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backlog_watch.models import Channel, Priority, Sla, SlaKind, SlaTarget, Status, Ticket
from backlog_watch.store.codec import ticket_from_row, ticket_row

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_trusted_ticket_is_the_validated_one() -> None:
    target = {"kind": SlaKind.RESOLUTION, "due": NOW, "met": True, "fulfilled_at": NOW - timedelta(hours=1)}
    sla = {"next_reply_due": NOW, "breached": True}
    fields = {
        "helpdesk": "zendesk",
        "id": "42",
        "status": Status.SOLVED,
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW,
        "subject": "Printer on fire",
        "priority": Priority.HIGH,
        "channel": Channel.EMAIL,
        "group": "Support",
        "assignee": None,
        "tags": ("vip", "printer"),
        "solved_at": NOW,
        "url": "https://acme.zendesk.com/agent/tickets/42",
    }
    trusted = Ticket.trusted(**fields, sla=Sla.trusted(**sla, targets=(SlaTarget.trusted(**target),)))
    validated = Ticket(**fields, sla=Sla(**sla, targets=(SlaTarget(**target),)))
    assert trusted == validated
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert ticket_from_row(ticket_row(trusted)) == validated
    assert trusted.model_copy(update={"id": "43"}).id == "43"
    bare = Ticket.trusted(helpdesk="z", id="1", status=Status.NEW, created_at=NOW, updated_at=NOW)
    assert bare == Ticket(helpdesk="z", id="1", status=Status.NEW, created_at=NOW, updated_at=NOW)


@pytest.mark.parametrize("field", ["created_at", "updated_at", "solved_at"])
def test_a_trusted_ticket_refuses_a_naive_moment(field: str) -> None:
    moments = {"created_at": NOW, "updated_at": NOW, "solved_at": None} | {field: datetime(2026, 11, 30, 9, 0)}
    with pytest.raises(ValueError, match=f"{field} .* has no time zone"):
        Ticket.trusted(helpdesk="z", id="1", status=Status.SOLVED, **moments)


def test_a_trusted_sla_refuses_a_naive_due() -> None:
    with pytest.raises(ValueError, match="resolution_due"):
        Sla.trusted(resolution_due=datetime(2026, 11, 30, 9, 0))
    with pytest.raises(ValueError, match="due"):
        SlaTarget.trusted(SlaKind.FIRST_RESPONSE, due=datetime(2026, 11, 30, 9, 0))
