"""The connectors' wire types: pages are decoded straight into them (only the fields normalize reads are
built), so they must fit what the vendors really send, and a page that does not fit must lose only its
odd record, never the page.

Recorded vendor payloads (tests/fixtures) are decoded by each connector's own decoder: a type stricter
than the vendor would send every page down the slow lenient path without failing anything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from backlog_watch_connectors import freshdesk, zendesk
from backlog_watch_connectors.freshdesk import FreshdeskConnector, FreshdeskSettings
from backlog_watch_connectors.jira import JiraConnector, JiraSettings
from backlog_watch_connectors.zendesk import ZendeskConnector, ZendeskSettings

from backlog_watch.errors import PaginationError
from backlog_watch.rows import stored
from backlog_watch.sim import SimClock
from backlog_watch.sources.connector import normalize_page, stored_page, sync
from backlog_watch.sources.wire import typed_json
from tests.conformance import KINDS, Rig
from tests.paths import FIXTURES

ZENDESK_PAGES = sorted(
    path
    for path in (FIXTURES / "zendesk").glob("*.json")
    if isinstance(json.loads(path.read_text())["body"].get("tickets"), list)
)


def body_of(path: Path) -> Any:
    return json.loads(path.read_text())["body"]


def response(body: Any, path: str = "/page") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(200, content=content, request=httpx.Request("GET", f"https://vendor.example{path}"))


def zendesk_connector(**extra: Any) -> ZendeskConnector:
    config = {"name": "zendesk", "url": "https://acme.zendesk.com", "email": "a@acme.test", "token": "t"} | extra
    return ZendeskConnector(ZendeskSettings.model_validate(config), httpx.AsyncClient())


def freshdesk_connector() -> FreshdeskConnector:
    config = {"name": "freshdesk", "url": "https://acme.freshdesk.com", "api_key": "k"}
    return FreshdeskConnector(FreshdeskSettings.model_validate(config), httpx.AsyncClient())


def jira_connector() -> JiraConnector:
    config = {"name": "jira", "url": "https://acme.atlassian.net", "email": "a@acme.test", "token": "t"}
    return JiraConnector(JiraSettings.model_validate(config | {"jql": "project = SUP"}), httpx.AsyncClient())


@pytest.mark.parametrize("path", ZENDESK_PAGES, ids=lambda p: p.name)
def test_recorded_zendesk_pages_fit_the_wire_types(path: Path) -> None:
    body = body_of(path)
    page = zendesk.TICKETS.decode(json.dumps(body).encode())  # a ValidationError here: the types are too strict
    assert len(page.tickets) == len(body["tickets"])
    connector = zendesk_connector()
    typed, skipped_typed = normalize_page(connector, page.tickets)
    plain, skipped_plain = normalize_page(connector, body["tickets"])
    assert typed == plain and skipped_typed == skipped_plain
    assert len(typed) + len(skipped_typed) == len(body["tickets"])
    assert_rows_are_the_tickets(connector, page.tickets)


def assert_rows_are_the_tickets(connector: Any, records: Any) -> None:
    """What a sync writes (the connector's rows, built without a Ticket) is what the store writes of the
    Tickets ``normalize`` answers, value for value: the row and the Ticket cannot disagree."""
    rows, skipped_rows = stored_page(connector, records)
    tickets, skipped = normalize_page(connector, records)
    assert rows == [stored(t) for t in tickets] and skipped_rows == skipped
    assert connector.builds_rows and rows


def test_recorded_freshdesk_and_jira_pages_fit_the_wire_types() -> None:
    tickets = body_of(FIXTURES / "freshdesk/tickets-list-with-stats.json")
    decoded = freshdesk.TICKETS.decode(json.dumps(tickets).encode())
    assert [t.id for t in decoded] == [t["id"] for t in tickets]
    assert (
        decoded[0].stats is not None
        and decoded[0].stats.first_responded_at == tickets[0]["stats"]["first_responded_at"]
    )
    connector = jira_connector()
    connector.learn_fields(body_of(FIXTURES / "jira/fields-airbyte.json"))
    for name in ("search-jql-page.json", "issues.json"):
        body = body_of(FIXTURES / "jira" / name)
        page = connector._pages.decode(json.dumps(body).encode())
        assert [i.key for i in page.issues] == [i["key"] for i in body["issues"]]
        typed, _ = normalize_page(connector, page.issues)
        plain, _ = normalize_page(connector, body["issues"])
        assert typed == plain and typed
        assert_rows_are_the_tickets(connector, page.issues)
    assert_rows_are_the_tickets(freshdesk_connector(), decoded)


def test_an_odd_zendesk_ticket_costs_only_itself() -> None:
    """``via`` a string, ``slas`` metrics not a list: the page does not fit the types, so it is read
    record by record; the two odd tickets are skipped and named, the rest are stored as usual."""
    body = body_of(ZENDESK_PAGES[0])
    good = body["tickets"][:3]
    odd_via = {**body["tickets"][0], "id": 991, "via": "email"}
    odd_slas = {**body["tickets"][1], "id": 992, "slas": {"policy_metrics": "none"}}
    connector = zendesk_connector()
    page = typed_json(
        response({**body, "tickets": [odd_via, *good, odd_slas]}), zendesk.TICKETS, "z", connector._lenient
    )
    assert page.end_of_stream == body.get("end_of_stream")
    tickets, skipped = normalize_page(connector, page.tickets)
    assert skipped == ["991", "992"]
    assert [t.id for t in tickets] == [str(t["id"]) for t in good]
    rows, skipped_rows = stored_page(connector, page.tickets)
    assert skipped_rows == skipped and [row[1] for row, _ in rows] == [t.id for t in tickets]
    assert all(isinstance(t, zendesk.ZendeskTicket) for t in page.tickets[1:4])


def test_an_odd_freshdesk_ticket_costs_only_itself() -> None:
    (ticket,) = body_of(FIXTURES / "freshdesk/tickets-list-with-stats.json")
    odd = {**ticket, "id": 77, "stats": "resolved"}
    connector = freshdesk_connector()
    records = typed_json(response([ticket, odd]), freshdesk.TICKETS, "f", connector._lenient)
    tickets, skipped = normalize_page(connector, records)
    assert [t.id for t in tickets] == [str(ticket["id"])] and skipped == ["77"]
    assert stored_page(connector, records) == ([stored(tickets[0])], ["77"])


def test_an_odd_jira_issue_costs_only_itself() -> None:
    connector = jira_connector()
    body = body_of(FIXTURES / "jira/search-jql-page.json")
    first = body["issues"][0]
    odd = {**first, "key": "SUP-9001", "id": "9001", "fields": {**first["fields"], "status": "Open"}}
    page = typed_json(response({**body, "issues": [*body["issues"], odd]}), connector._pages, "j", connector._lenient)
    tickets, skipped = normalize_page(connector, page.issues)
    assert [t.id for t in tickets] == [i["key"] for i in body["issues"]] and skipped == ["SUP-9001"]
    assert stored_page(connector, page.issues) == ([stored(t) for t in tickets], ["SUP-9001"])


def test_a_body_that_is_not_json_is_a_pagination_error() -> None:
    connector = zendesk_connector()
    with pytest.raises(PaginationError, match="unreadable JSON"):
        typed_json(response(b"<html>maintenance</html>"), zendesk.TICKETS, "z", connector._lenient)


def test_a_plain_json_record_is_converted_before_normalize_reads_it() -> None:
    body = body_of(ZENDESK_PAGES[0])
    raw = body["tickets"][0]
    connector = zendesk_connector()
    assert connector.normalize(raw) == connector.normalize(msgspec.convert(raw, zendesk.ZendeskTicket))


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_the_simulators_pages_take_the_typed_path(kind: str, sim_clock: SimClock, tmp_path: Path) -> None:
    """A cold sync over loopback never reads a page leniently (every page fits the wire types) and writes
    each record's row as the connector built it, without a Ticket in between."""
    sim = KINDS[kind].simulator(seed=5, tickets=300, clock=sim_clock)
    await sim.start()
    async with httpx.AsyncClient() as client:
        rig = Rig(KINDS[kind], sim, tmp_path / "bw.db", client)
        try:
            connector = rig.connector()
            lenient = connector._lenient

            def refused(response: httpx.Response) -> Any:
                raise AssertionError(f"read leniently: {lenient(response)!r:.200}")

            connector._lenient = refused
            connector.normalize = lambda raw: pytest.fail("a Ticket built for the write")  # type: ignore[method-assign]
            result = await sync(connector, rig.store)
            assert result.stored > 250 and result.skipped == 0
            rig.assert_store_is_the_truth()
        finally:
            rig.store.close()
            await sim.stop()


def test_a_connector_of_tickets_is_stored_through_its_normalize() -> None:
    """A vendor that writes ``_ticket``, or overrides ``normalize`` itself (a plugin's), is stored as the
    row of the Ticket its ``normalize`` answers; a record it refuses is skipped and counted as before."""
    from backlog_watch import HelpdeskSettings, HttpConnector, MalformedRecord, Status, Ticket
    from tests.factories import NOW

    class Overriding(HttpConnector):
        kind = "overriding"
        Settings = HelpdeskSettings

        def normalize(self, raw: Any) -> Ticket:
            if raw.get("bad"):
                raise MalformedRecord("bad record", helpdesk="p", record_id=str(raw["id"]))
            return Ticket(helpdesk="p", id=str(raw["id"]), status=Status.OPEN, created_at=NOW, updated_at=NOW)

    class Plain(HttpConnector):
        kind = "plain"
        Settings = HelpdeskSettings

        def _ticket(self, raw: Any) -> Ticket:
            return Ticket(helpdesk="p", id=str(raw["id"]), status=Status.NEW, created_at=NOW, updated_at=NOW)

    settings = {"name": "p", "type": "plain", "url": "https://p.example"}
    for kind in (Overriding, Plain):
        connector = kind(settings | {"type": kind.kind}, httpx.AsyncClient())
        assert not connector.builds_rows
        records = [{"id": 1}, {"id": 2, "bad": kind is Overriding}]
        tickets, skipped = normalize_page(connector, records)
        assert stored_page(connector, records) == ([stored(t) for t in tickets], skipped)
        assert [t.id for t in tickets] == (["1"] if kind is Overriding else ["1", "2"])
