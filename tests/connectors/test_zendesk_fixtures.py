"""Every ticket Zendesk really sent (the recorded fixtures) normalizes, with the values the README lists."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from backlog_watch_connectors.zendesk import ZendeskConnector, ZendeskSettings

from backlog_watch.models import Channel, Priority, Status, Ticket
from tests.paths import FIXTURES as ALL_FIXTURES

FIXTURES = ALL_FIXTURES / "zendesk"


def ticket_files() -> list[Path]:
    """The fixture files whose body holds a list of tickets (error bodies and other shapes are left out)."""
    found = []
    for path in sorted(FIXTURES.glob("*.json")):
        body = json.loads(path.read_text())["body"]
        if isinstance(body, Mapping) and isinstance(body.get("tickets"), list):
            found.append(path)
    return found


def tickets_in(path: Path) -> Iterator[Mapping[str, Any]]:
    yield from json.loads(path.read_text())["body"]["tickets"]


@pytest.fixture
def connector() -> Iterator[ZendeskConnector]:
    settings = ZendeskSettings(name="zendesk", url="https://acme.zendesk.com", email="ops@acme.com", token="t0k3n")
    # normalize() never sends a request; the client is only there because the constructor takes one.
    yield ZendeskConnector(settings, httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))))


def find(connector: ZendeskConnector, file: str, ticket_id: int) -> Ticket:
    raw = next(t for t in tickets_in(FIXTURES / file) if t["id"] == ticket_id)
    return connector.normalize(raw)


def test_the_ticket_fixtures_are_found() -> None:
    # Guards the parametrized test below against silently running over nothing.
    assert len(ticket_files()) >= 14


@pytest.mark.parametrize("path", ticket_files(), ids=lambda p: p.name)
def test_every_recorded_ticket_normalizes(connector: ZendeskConnector, path: Path) -> None:
    raws = list(tickets_in(path))
    tickets = [connector.normalize(raw) for raw in raws]
    assert [t.id for t in tickets] == [str(raw["id"]) for raw in raws]
    for ticket, raw in zip(tickets, raws, strict=True):
        assert ticket.helpdesk == "zendesk"
        assert ticket.created_at.tzinfo is not None and ticket.updated_at >= ticket.created_at
        assert ticket.url == f"https://acme.zendesk.com/agent/tickets/{raw['id']}"
        assert (ticket.status is Status.DELETED) == (raw["status"] == "deleted")


@pytest.mark.parametrize(
    ("file", "ticket_id", "status", "priority", "created_at", "channel"),
    [
        (
            "TicketsIncrementalTest.test_get_values.3.json",
            28,
            Status.NEW,
            Priority.NONE,
            "2023-09-18T15:57:42",
            Channel.API,
        ),
        (
            "TicketsIncrementalTest.test_get_values.0.json",
            1,
            Status.OPEN,
            Priority.NORMAL,
            "2023-09-09T23:52:05",
            Channel.OTHER,
        ),
        (
            "TicketsIncrementalTest.test_get_values.0.json",
            4034,
            Status.DELETED,
            Priority.HIGH,
            "2023-10-23T03:55:22",
            None,
        ),
        (
            "TicketsIncrementalTest.test_get_values.0.json",
            4030,
            Status.NEW,
            Priority.HIGH,
            "2023-10-23T03:14:33",
            None,
        ),
        (
            "TicketsIncrementalTest.test_get_values.0.json",
            4036,
            Status.PENDING,
            Priority.NONE,
            "2023-10-29T01:40:58",
            Channel.WEB,
        ),
        (
            "TicketsIncrementalTest.test_get_values.1.json",
            4045,
            Status.NEW,
            Priority.NONE,
            "2024-02-07T02:09:01",
            None,
        ),
        (
            "TicketsIncrementalTest.test_pagination.0.json",
            465,
            Status.DELETED,
            Priority.NONE,
            "2023-09-18T16:09:46",
            None,
        ),
        (
            "TicketsIncrementalTest.test_pagination.0.json",
            1601,
            Status.DELETED,
            Priority.NONE,
            "2023-09-18T18:45:13",
            None,
        ),
        ("airbyte-tickets.json", 35436, Status.OPEN, Priority.HIGH, "2009-07-20T22:55:29", Channel.WEB),
    ],
)
def test_readme_table_values(
    connector: ZendeskConnector,
    file: str,
    ticket_id: int,
    status: Status,
    priority: Priority,
    created_at: str,
    channel: Channel | None,
) -> None:
    ticket = find(connector, file, ticket_id)
    assert ticket.id == str(ticket_id)
    assert ticket.status is status
    assert ticket.priority is priority
    assert ticket.created_at == datetime.fromisoformat(created_at).replace(tzinfo=UTC)
    if channel is not None:
        assert ticket.channel is channel
    assert ticket.is_open == (status not in (Status.DELETED, Status.SOLVED, Status.CLOSED))


def test_ticket_1_sample_ticket(connector: ZendeskConnector) -> None:
    ticket = find(connector, "TicketsIncrementalTest.test_get_values.0.json", 1)
    assert ticket.tags == ("sample", "support", "zendesk")
    assert ticket.updated_at == datetime(2024, 2, 7, 0, 11, 18, tzinfo=UTC)
    assert ticket.channel is Channel.OTHER  # via.channel "sample_ticket"
    # The fixtures come without a group list, so ids stay ids (as strings).
    assert ticket.group == "6130852536346"
    assert ticket.assignee == "6130907993114"
    assert ticket.solved_at is None


def test_deleted_tickets_leave_the_backlog(connector: ZendeskConnector) -> None:
    scrubbed = find(connector, "TicketsIncrementalTest.test_get_values.0.json", 4034)
    assert scrubbed.subject == "SCRUBBED"
    assert scrubbed.updated_at == datetime(2023, 10, 24, 4, 19, 53, tzinfo=UTC)
    assert not scrubbed.is_open
    kept_subject = find(connector, "TicketsIncrementalTest.test_pagination.0.json", 1601)
    assert kept_subject.subject == "test" and kept_subject.status is Status.DELETED


def test_same_ticket_from_different_endpoints_normalizes_the_same(connector: ZendeskConnector) -> None:
    # Ticket 1 comes from the export (with generated_timestamp) and from /tickets.json (without).
    from_export = find(connector, "TicketsIncrementalTest.test_get_values.0.json", 1)
    from_list = find(connector, "TestTicketsPagination.test_values.5.json", 1)
    assert from_list == from_export


def test_printer_on_fire_ticket(connector: ZendeskConnector) -> None:
    ticket = find(connector, "airbyte-tickets.json", 35436)
    assert ticket.subject == "Help, my printer is on fire!"
    assert ticket.tags == ("enterprise", "other_tag")
    assert ticket.group == "98738" and ticket.assignee == "235323"
