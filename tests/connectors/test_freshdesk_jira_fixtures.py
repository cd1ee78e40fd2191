"""Every Freshdesk ticket and Jira issue really sent (tests/fixtures) normalizes, with the status, priority
and SLA dates the fixtures README lists; the JSM SLA values are read by field name."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from backlog_watch_connectors.freshdesk import FreshdeskConnector
from backlog_watch_connectors.jira import JiraConnector, JiraNamed

from backlog_watch.errors import MalformedRecord
from backlog_watch.models import Channel, Priority, Sla, Status
from tests.paths import FIXTURES


def body(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())["body"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def pending(sla: Sla) -> Sla:
    """The pending targets only (what the sla rule reads); outcomes are asserted in test_sla_outcomes.py."""
    return sla.model_copy(update={"targets": ()})


@pytest.fixture
def client() -> Iterator[httpx.AsyncClient]:
    # normalize() never sends a request; the client is only there because the constructor takes one.
    yield httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500)))


@pytest.fixture
def freshdesk(client: httpx.AsyncClient) -> FreshdeskConnector:
    return FreshdeskConnector({"name": "freshdesk", "url": "https://acme.freshdesk.com", "api_key": "k3y"}, client)


def jira_connector(client: httpx.AsyncClient, **settings: Any) -> JiraConnector:
    return JiraConnector(
        {
            "name": "jira",
            "url": "https://acme.atlassian.net",
            "email": "ops@acme.com",
            "token": "t0k3n",
            "jql": "project = SUP",
            **settings,
        },
        client,
    )


# ---- Freshdesk -------------------------------------------------------------------------------------

FRESHDESK_TICKETS = [
    # file, status, priority, channel, created_at, SLA (pending targets only), solved_at
    (
        "freshdesk/tickets-list-with-stats.json",
        Status.CLOSED,
        Priority.LOW,
        Channel.EMAIL,
        "2022-11-16T15:59:28",
        Sla(),
        "2022-11-16T15:59:28",
    ),
    (
        "freshdesk/ticket-create-49548.json",
        Status.OPEN,
        Priority.NORMAL,
        Channel.WEB,
        "2025-01-08T09:43:49",
        Sla(),
        None,
    ),
    (
        "freshdesk/ticket-create-99374.json",
        Status.OPEN,
        Priority.NORMAL,
        Channel.WEB,
        "2026-02-13T04:44:35",
        Sla(),
        None,
    ),
    # Responded (stats.first_responded_at), so only the resolution target is pending; is_escalated: breached.
    (
        "freshdesk/python-freshdesk-ticket_1.json",
        Status.OPEN,
        Priority.LOW,
        Channel.WEB,
        "2016-05-18T04:36:04",
        Sla(resolution_due=utc("2016-05-18T23:36:04"), breached=True),
        None,
    ),
    (
        "freshdesk/python-freshdesk-ticket_1_updated.json",
        Status.SOLVED,
        Priority.HIGH,
        Channel.WEB,
        "2016-05-18T04:36:04",
        Sla(),
        "2016-05-18T23:42:50",
    ),
    ("freshdesk/python-freshdesk-outbound_email_1.json", None, None, Channel.WEB, None, None, None),
]


def records(path: str) -> list[Mapping[str, Any]]:
    found = body(path)
    return found if isinstance(found, list) else [found]


@pytest.mark.parametrize(
    ("path", "status", "priority", "channel", "created", "sla", "solved"),
    FRESHDESK_TICKETS,
    ids=[row[0] for row in FRESHDESK_TICKETS],
)
def test_every_freshdesk_ticket_normalizes(
    freshdesk: FreshdeskConnector,
    path: str,
    status: Status | None,
    priority: Priority | None,
    channel: Channel,
    created: str | None,
    sla: Sla | None,
    solved: str | None,
) -> None:
    for raw in records(path):
        ticket = freshdesk.normalize(raw)
        assert ticket.id == str(raw["id"]) and ticket.url == f"https://acme.freshdesk.com/a/tickets/{raw['id']}"
        assert ticket.channel is channel
        if status is None:  # outbound email sample: only its shape is asserted
            continue
        assert (ticket.status, ticket.priority) == (status, priority)
        assert ticket.created_at == utc(created or "")
        assert pending(ticket.sla) == sla
        assert ticket.solved_at == (utc(solved) if solved else None)


def test_freshdesk_fixture_files_are_all_covered() -> None:
    tickets = {str(p.relative_to(FIXTURES)) for p in (FIXTURES / "freshdesk").glob("*ticket*.json")}
    tickets |= {"freshdesk/python-freshdesk-outbound_email_1.json"}
    assert tickets == {row[0] for row in FRESHDESK_TICKETS}


def test_freshdesk_sla_dates_of_an_open_ticket(freshdesk: FreshdeskConnector) -> None:
    raw = {**records("freshdesk/tickets-list-with-stats.json")[0], "status": 2, "stats": {}}
    ticket = freshdesk.normalize(raw)
    assert pending(ticket.sla) == Sla(
        first_response_due=utc("2022-11-17T15:59:28"), resolution_due=utc("2022-11-19T15:59:28")
    )


def test_freshdesk_custom_statuses_map_by_label_and_by_config(client: httpx.AsyncClient) -> None:
    raw = records("freshdesk/ticket-create-49548.json")[0]
    connector = FreshdeskConnector(
        {
            "name": "fd",
            "url": "https://acme.freshdesk.com",
            "api_key": "k",
            "status_map": {"Awaiting approval": "on_hold", "9": "pending"},
            "priority_map": {"2": "high"},
        },
        client,
    )
    connector.status_labels = {"6": "Waiting on Customer", "7": "Waiting on Third Party", "8": "Awaiting approval"}
    assert connector.normalize({**raw, "status": 6}).status is Status.PENDING
    assert connector.normalize({**raw, "status": 7}).status is Status.ON_HOLD
    assert connector.normalize({**raw, "status": 8}).status is Status.ON_HOLD
    assert connector.normalize({**raw, "status": 9}).status is Status.PENDING
    assert connector.normalize(raw).priority is Priority.HIGH
    with pytest.raises(MalformedRecord, match=r"unknown status 10 \(map it with status_map\)"):
        connector.normalize({**raw, "status": 10})
    assert connector.normalize({**raw, "deleted": True}).status is Status.DELETED


def test_freshdesk_error_bodies_are_read(freshdesk: FreshdeskConnector) -> None:
    response = httpx.Response(400, json=body("freshdesk/error-page-301.json"))
    assert freshdesk.error_text(response) == (
        "Validation failed; page: You cannot access tickets beyond the 300th page. "
        "Please provide a smaller page number."
    )


# ---- Jira --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["jira/search-jql-page.json", "jira/issues.json"])
def test_the_recorded_jira_issue_normalizes(client: httpx.AsyncClient, path: str) -> None:
    found = body(path)
    issues = found["issues"] if isinstance(found, Mapping) else found
    connector = jira_connector(client)
    connector.learn_fields(body("jira/fields-airbyte.json"))
    (ticket,) = [connector.normalize(raw) for raw in issues]
    assert (ticket.id, ticket.status, ticket.priority) == ("TESTKEY13-1", Status.NEW, Priority.LOW)
    assert ticket.created_at == utc("2022-06-09T23:29:31.871")
    assert ticket.updated_at == utc("2022-12-08T10:22:18.889")
    assert ticket.subject == "My Summary" and ticket.tags == ("test",) and ticket.group == "Component 0"
    assert ticket.assignee == "integration test" and ticket.solved_at is None and ticket.sla == Sla()
    assert ticket.url == "https://acme.atlassian.net/browse/TESTKEY13-1"


def test_jira_statuses_map_by_name_then_category_and_by_config(client: httpx.AsyncClient) -> None:
    raw = body("jira/search-jql-page.json")["issues"][0]

    def with_status(name: str, category: str, **settings: Any) -> Status:
        fields = {**raw["fields"], "status": {"name": name, "statusCategory": {"key": category}}}
        return jira_connector(client, **settings).normalize({**raw, "fields": fields}).status

    assert with_status("Waiting for support", "indeterminate") is Status.OPEN
    assert with_status("Waiting for customer", "indeterminate") is Status.PENDING
    assert with_status("Pending", "indeterminate") is Status.ON_HOLD
    assert with_status("Resolved", "done") is Status.SOLVED
    assert with_status("Canceled", "done") is Status.CLOSED
    assert with_status("Waiting for support", "indeterminate", status_map={"waiting for support": "new"}) is Status.NEW
    assert with_status("Parked", "indeterminate", status_map={"indeterminate": "on_hold"}) is Status.ON_HOLD


def test_jira_priorities_map_and_unknown_ones_count_as_none(client: httpx.AsyncClient) -> None:
    connector = jira_connector(client, priority_map={"P1": "urgent"})
    assert connector.priority_of(JiraNamed(name="Highest")) is Priority.URGENT
    assert connector.priority_of(JiraNamed(name="Medium")) is Priority.NORMAL
    assert connector.priority_of(JiraNamed(name="Lowest")) is Priority.LOW
    assert connector.priority_of(JiraNamed(name="P1")) is Priority.URGENT
    assert connector.priority_of(JiraNamed(name="Sehr hoch")) is Priority.NONE
    assert connector.priority_of(None) is Priority.NONE


def test_jsm_sla_fields_are_found_by_schema_and_read_by_name(client: httpx.AsyncClient) -> None:
    dump = json.loads((FIXTURES / "jira/jsm-sla-field-values.json").read_text())
    names = {
        "해결 시간 SLA": "resolution_due",
        "최초 응답 SLA": "first_response_due",
        "연구소 대기 SLA": "next_reply_due",
    }
    connector = jira_connector(client, sla_fields=names)
    connector.learn_fields(dump["field_schemas"])
    assert {"customfield_12151", "customfield_12152", "customfield_12085"} <= connector.sla_names.keys()
    assert connector.request_type_field == "customfield_10203"
    issues = dump["issues"]
    assert pending(connector.sla_of(issues["TACEA-4540"]["fields"])) == Sla(resolution_due=utc("2026-07-27T09:00:00"))
    assert pending(connector.sla_of(issues["TACEA-4539"]["fields"])) == Sla()  # completed cycles only
    assert pending(connector.sla_of(issues["TACEA-4537"]["fields"])) == Sla(
        resolution_due=utc("2026-07-31T08:41:39.756"), next_reply_due=utc("2026-07-07T05:47:59.409")
    )
    # Unnamed SLA fields still say whether something is breached, but give no due date.
    unnamed = jira_connector(client)
    unnamed.learn_fields(dump["field_schemas"])
    assert unnamed.sla_of(issues["TACEA-4540"]["fields"]) == Sla()


def test_the_xsoar_field_list_names_time_to_resolution(client: httpx.AsyncClient) -> None:
    connector = jira_connector(client)
    connector.learn_fields(body("jira/fields-jsm-xsoar.json"))
    assert connector.sla_names == {"customfield_10071": "Time to resolution"}
    ongoing = {"ongoingCycle": {"breachTime": {"epochMillis": 1785142800000}, "breached": True, "paused": False}}
    assert pending(connector.sla_of({"customfield_10071": ongoing})) == Sla(
        resolution_due=utc("2026-07-27T09:00:00"), breached=True
    )


def test_jira_error_bodies_are_read(client: httpx.AsyncClient) -> None:
    response = httpx.Response(404, json=body("jira/error-404-issue-not-found-auth-failed.json"))
    assert jira_connector(client).error_text(response) == (
        "Issue does not exist or you do not have permission to see it."
    )


def test_jira_settings_need_email_and_token_or_a_bearer_token() -> None:
    from backlog_watch_connectors.jira import JiraSettings
    from pydantic import ValidationError

    base = {"name": "jira", "url": "https://acme.atlassian.net", "jql": "project = SUP"}
    assert JiraSettings.model_validate({**base, "bearer_token": "pat"}).bearer_token is not None
    with pytest.raises(ValidationError, match="set email and token"):
        JiraSettings.model_validate({**base, "email": "ops@acme.com"})


# ---- ids: a record that cannot be named is skipped, never a phantom ticket -------------------------


@pytest.mark.parametrize("bad_id", ["77", "abc", 0, -3, 1.5, True])
def test_a_freshdesk_ticket_without_a_positive_integer_id_is_malformed(
    freshdesk: FreshdeskConnector, bad_id: Any
) -> None:
    raw = body("freshdesk/ticket-create-49548.json")
    assert freshdesk.normalize(raw).id == str(raw["id"])
    with pytest.raises(MalformedRecord, match="is not a Freshdesk ticket id"):
        freshdesk.normalize({**raw, "id": bad_id})


@pytest.mark.parametrize(
    ("key", "issue_id"), [("SUP-1", "1x"), ("SUP-1", 10001), ("sup 1", "10001"), ("SUP-", "10001"), ("", "10001")]
)
def test_a_jira_issue_needs_a_numeric_id_and_a_project_key(client: httpx.AsyncClient, key: str, issue_id: Any) -> None:
    found = body("jira/issues.json")
    raw = found[0] if isinstance(found, list) else found["issues"][0]
    connector = jira_connector(client)
    assert connector.normalize(raw).id == raw["key"]
    with pytest.raises(MalformedRecord, match="is not a Jira issue (id|key)"):
        connector.normalize({**raw, "key": key, "id": issue_id})
