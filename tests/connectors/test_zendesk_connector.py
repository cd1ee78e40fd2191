"""ZendeskConnector driven by backlog_watch.sources.connector.sync() against a scripted Zendesk (httpx.MockTransport).

The export pages are modelled on the zenpy recordings: the per_page=1 chain of
TicketsIncrementalTest.test_pagination.17/.18 (tickets 28 and 29, cursors "{ts}.0||{id}|" in base64) and
a last page with ``end_of_stream: true`` that still carries an ``after_cursor`` (test_get_values.1).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest
from backlog_watch_connectors.zendesk import ZendeskConnector, ZendeskSettings

from backlog_watch.errors import AuthError, MalformedRecord, PaginationError, RequestError
from backlog_watch.models import Channel, Priority, Status, Ticket
from backlog_watch.sources.connector import Cursor, sync

EMAIL, TOKEN = "ops@acme.com", "zd-t0ken-123"
CURSOR_28 = "MTY5NTA1MjY2My4wfHwyOHw="  # 1695052663.0||28|
CURSOR_29 = "MTY5NTA1MjY2My4wfHwyOXw="  # 1695052663.0||29|
CURSOR_END = "MTcwNzI3MTc0MS4wfHw0MDQ1fA=="  # 1707271741.0||4045|
SLAS = {
    "policy_metrics": [
        {"breach_at": "2024-02-07T03:09:01Z", "stage": "active", "metric": "first_reply_time", "hours": 1},
        {
            "breach_at": "2024-02-07T01:39:01Z",
            "stage": "active",
            "metric": "total_resolution_time",
            "minutes": -30,
        },
        {"breach_at": None, "stage": "achieved", "metric": "next_reply_time"},
    ]
}


def raw_ticket(ticket_id: int, status: str = "new", **fields: Any) -> dict[str, Any]:
    """An export record shaped like ticket 28 of the recordings."""
    return {
        "url": f"https://z3n-jteitelbaum.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": "2023-09-18T15:57:42Z",
        "updated_at": "2023-09-18T15:57:42Z",
        "subject": "test",
        "priority": None,
        "status": status,
        "assignee_id": None,
        "group_id": None,
        "tags": [],
        "due_at": None,
        "generated_timestamp": 1695052663,
    } | fields


def export_page(tickets: list[dict[str, Any]], after: str | None, end: bool) -> dict[str, Any]:
    return {
        "tickets": tickets,
        "after_url": None
        if after is None
        else f"https://z3n-jteitelbaum.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor={after}",
        "before_url": None,
        "after_cursor": after,
        "before_cursor": None,
        "end_of_stream": end,
    }


@dataclass
class FakeZendesk:
    """Just enough Zendesk: export pages by position, show_many with SLAs, groups and users, auth."""

    pages: dict[str, dict[str, Any]]  # "start_time=0" or the cursor -> export body
    sideloads: bool = True
    refuses_include: bool = False
    slas: dict[int, Any] = field(default_factory=dict)
    groups: list[list[dict[str, Any]]] = field(default_factory=list)  # pages of groups.json
    users: dict[int, str] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"error": "Couldn't authenticate you"})
        query, path = request.url.params, request.url.path
        if path == "/api/v2/incremental/tickets/cursor.json":
            return self.export(query)
        if path == "/api/v2/tickets/show_many.json":
            ids = [int(i) for i in query["ids"].split(",")]
            assert len(ids) <= 100 and query.get("include") == "slas"
            return httpx.Response(200, json={"tickets": [raw_ticket(i, slas=self.slas.get(i)) for i in ids]})
        if path == "/api/v2/groups.json":
            number = int(query.get("page", "1"))
            has_next = number < len(self.groups)
            next_page = f"https://acme.zendesk.com/api/v2/groups.json?page={number + 1}" if has_next else None
            return httpx.Response(200, json={"groups": self.groups[number - 1], "next_page": next_page})
        if path == "/api/v2/users/show_many.json":
            ids = [int(i) for i in query["ids"].split(",")]
            found = [{"id": i, "name": self.users[i]} for i in ids if i in self.users]
            return httpx.Response(200, json={"users": found})
        return httpx.Response(404, json={"error": "RecordNotFound", "description": "Not found"})

    def export(self, query: httpx.QueryParams) -> httpx.Response:
        if self.refuses_include and "include" in query:
            return httpx.Response(400, json={"error": "InvalidValue", "description": "include is not allowed"})
        position = query.get("cursor") or f"start_time={query['start_time']}"
        # A cursor with nothing after it: an empty last page that hands the same position back.
        body = self.pages.get(position) or export_page([], position, True)
        if not self.sideloads:
            body = body | {"tickets": [{k: v for k, v in t.items() if k != "slas"} for t in body["tickets"]]}
        return httpx.Response(200, json=body)


class MemoryStore:
    """The two store methods sync() needs, in memory."""

    def __init__(self) -> None:
        self.tickets: dict[tuple[str, str], Ticket] = {}
        self.cursors: dict[str, Cursor] = {}
        self.commits: list[tuple[int, Cursor | None]] = []

    def cursor(self, helpdesk: str) -> Cursor | None:
        return self.cursors.get(helpdesk)

    def commit_page(self, helpdesk: str, tickets: Sequence[Ticket], cursor: Cursor | None) -> None:
        self.tickets.update({t.key: t for t in tickets})
        if cursor is not None:
            self.cursors[helpdesk] = cursor
        self.commits.append((len(tickets), cursor))


Build = Callable[..., tuple[ZendeskConnector, FakeZendesk]]


@pytest.fixture
async def zendesk() -> AsyncIterator[Build]:
    clients: list[httpx.AsyncClient] = []

    def build(fake: FakeZendesk, **settings: Any) -> tuple[ZendeskConnector, FakeZendesk]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
        clients.append(client)
        config = {
            "name": "zendesk",
            "url": "https://acme.zendesk.com",
            "email": EMAIL,
            "token": TOKEN,
        } | settings
        return ZendeskConnector(ZendeskSettings.model_validate(config), client, sleep=_no_sleep), fake

    yield build
    for client in clients:
        await client.aclose()


async def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"nothing here should wait, yet it slept {seconds}s")


def chain() -> dict[str, dict[str, Any]]:
    """start_time=0 -> 28 -> 29 -> last page (4044, 4045; end_of_stream with an after_cursor)."""
    return {
        "start_time=0": export_page([raw_ticket(28, slas=None)], CURSOR_28, False),
        CURSOR_28: export_page([raw_ticket(29, slas=None)], CURSOR_29, False),
        CURSOR_29: export_page([raw_ticket(4044, slas=None), raw_ticket(4045, slas=None)], CURSOR_END, True),
    }


async def test_cold_sync_then_idle_poll_makes_one_request(zendesk: Build) -> None:
    connector, fake = zendesk(FakeZendesk(chain()), per_page=1)
    store = MemoryStore()

    result = await sync(connector, store)
    assert (result.pages, result.stored, result.skipped) == (3, 4, 0)
    assert store.cursors["zendesk"] == CURSOR_END  # the last page's after_cursor is stored
    assert [str(r.url.query, "ascii") for r in fake.requests] == [
        "start_time=0&per_page=1&include=slas",
        f"cursor={CURSOR_28.replace('=', '%3D')}&per_page=1&include=slas",
        f"cursor={CURSOR_29.replace('=', '%3D')}&per_page=1&include=slas",
    ]
    assert sorted(i for _, i in store.tickets) == ["28", "29", "4044", "4045"]

    idle = await sync(connector, store)
    assert len(fake.requests) == 4  # exactly one more request
    assert fake.requests[-1].url.params["cursor"] == CURSOR_END
    assert (idle.pages, idle.stored) == (1, 0)
    assert store.cursors["zendesk"] == CURSOR_END
    assert connector.requests_made == 4


async def test_last_page_without_after_cursor_keeps_the_position(zendesk: Build) -> None:
    pages = chain()
    pages[CURSOR_29] = export_page([raw_ticket(4045, slas=None)], None, True)
    connector, _ = zendesk(FakeZendesk(pages))
    store = MemoryStore()
    await sync(connector, store)
    assert store.cursors["zendesk"] == CURSOR_29
    assert store.commits[-1][1] == CURSOR_29  # the last page's ticket went with the position kept
    assert ("zendesk", "4045") in store.tickets


async def test_unfinished_page_without_after_cursor_is_a_pagination_error(zendesk: Build) -> None:
    connector, _ = zendesk(FakeZendesk({"start_time=0": export_page([raw_ticket(28, slas=None)], None, False)}))
    with pytest.raises(PaginationError, match="after_cursor"):
        await sync(connector, MemoryStore())


async def test_malformed_ticket_is_skipped_and_counted(zendesk: Build) -> None:
    broken = {k: v for k, v in raw_ticket(30, slas=None).items() if k != "created_at"}
    page = export_page([raw_ticket(28, slas=None), broken, raw_ticket(31, "weird", slas=None)], CURSOR_END, True)
    connector, _ = zendesk(FakeZendesk({"start_time=0": page}))
    store = MemoryStore()
    result = await sync(connector, store)
    assert (result.stored, result.skipped, result.skipped_ids) == (1, 2, ["30", "31"])
    assert list(store.tickets) == [("zendesk", "28")]
    assert store.cursors["zendesk"] == CURSOR_END


async def test_sideloaded_slas_need_no_show_many(zendesk: Build) -> None:
    page = export_page([raw_ticket(28, "open", slas=SLAS)], CURSOR_END, True)
    connector, fake = zendesk(FakeZendesk({"start_time=0": page}))
    store = MemoryStore()
    await sync(connector, store)
    assert fake.paths() == ["/api/v2/incremental/tickets/cursor.json"]
    sla = store.tickets[("zendesk", "28")].sla
    assert sla.first_response_due == datetime(2024, 2, 7, 3, 9, 1, tzinfo=UTC)
    assert sla.resolution_due == datetime(2024, 2, 7, 1, 39, 1, tzinfo=UTC)
    assert sla.breached and not sla.paused


async def test_show_many_completes_slas_when_the_export_does_not_sideload(zendesk: Build) -> None:
    open_ids = list(range(1000, 1150))
    tickets = [raw_ticket(i, "open") for i in open_ids] + [raw_ticket(7, "solved"), raw_ticket(8, "deleted")]
    fake = FakeZendesk({"start_time=0": export_page(tickets, CURSOR_END, True)}, sideloads=False)
    fake.slas = {i: SLAS for i in open_ids}
    connector, _ = zendesk(fake)
    store = MemoryStore()
    await sync(connector, store)
    show_many = [r for r in fake.requests if r.url.path == "/api/v2/tickets/show_many.json"]
    asked = [r.url.params["ids"].split(",") for r in show_many]
    assert [len(ids) for ids in asked] == [100, 51]
    # Solved ones too (their achieved metrics feed SLA attainment); deleted ones are not asked.
    assert sorted(int(i) for ids in asked for i in ids) == [7, *open_ids]
    assert store.tickets[("zendesk", "1149")].sla.breached
    assert store.tickets[("zendesk", "7")].sla.first_response_due is None


async def test_export_refusing_include_falls_back_to_show_many(zendesk: Build) -> None:
    fake = FakeZendesk({"start_time=0": export_page([raw_ticket(28, "open")], CURSOR_END, True)}, refuses_include=True)
    fake.slas = {28: SLAS}
    connector, _ = zendesk(fake)
    store = MemoryStore()
    await sync(connector, store)
    assert fake.paths() == [
        "/api/v2/incremental/tickets/cursor.json",
        "/api/v2/incremental/tickets/cursor.json",
        "/api/v2/tickets/show_many.json",
    ]
    assert "include" not in fake.requests[1].url.params
    assert store.tickets[("zendesk", "28")].sla.first_response_due is not None


async def test_group_and_assignee_names_are_resolved_and_refreshed(zendesk: Build) -> None:
    first = export_page([raw_ticket(1, "open", group_id=11, assignee_id=501, slas=None)], CURSOR_28, True)
    fake = FakeZendesk({"start_time=0": first}, users={501: "Ada Agent", 502: "Bo Agent"})
    fake.groups = [[{"id": 11, "name": "Support"}], [{"id": 12, "name": "Billing"}]]
    connector, _ = zendesk(fake)
    store = MemoryStore()
    await sync(connector, store)
    ticket = store.tickets[("zendesk", "1")]
    assert (ticket.group, ticket.assignee) == ("Support", "Ada Agent")
    assert [r.url.params.get("page") for r in fake.requests if r.url.path.endswith("groups.json")] == [
        None,
        "2",
    ]

    # Next poll: a group created since (13) and one nobody knows (99) over two pages: one refresh only.
    fake.groups = [[{"id": 11, "name": "Support"}, {"id": 13, "name": "Escalations"}]]
    fake.pages[CURSOR_28] = export_page([raw_ticket(2, group_id=13, assignee_id=502, slas=None)], CURSOR_29, False)
    fake.pages[CURSOR_29] = export_page([raw_ticket(3, group_id=99, slas=None)], CURSOR_END, True)
    before = len(fake.requests)
    await sync(connector, store)
    new_paths = fake.paths()[before:]
    assert new_paths.count("/api/v2/groups.json") == 1
    assert new_paths.count("/api/v2/users/show_many.json") == 1
    assert store.tickets[("zendesk", "2")].group == "Escalations"
    assert store.tickets[("zendesk", "2")].assignee == "Bo Agent"
    assert store.tickets[("zendesk", "3")].group == "99"  # unresolved: the id, as a string


async def test_known_names_cost_no_request(zendesk: Build) -> None:
    page = export_page([raw_ticket(1, group_id=11, assignee_id=501, slas=None)], CURSOR_END, True)
    fake = FakeZendesk({"start_time=0": page}, users={501: "Ada Agent"})
    fake.groups = [[{"id": 11, "name": "Support"}]]
    connector, _ = zendesk(fake)
    store = MemoryStore()
    await sync(connector, store)
    before = len(fake.requests)
    fake.pages[CURSOR_END] = export_page([raw_ticket(1, "open", group_id=11, assignee_id=501, slas=None)], None, True)
    await sync(connector, store)
    assert fake.paths()[before:] == ["/api/v2/incremental/tickets/cursor.json"]
    assert store.tickets[("zendesk", "1")].status is Status.OPEN  # the second poll did read the change


async def test_resolve_names_off_keeps_ids(zendesk: Build) -> None:
    page = export_page([raw_ticket(1, group_id=11, assignee_id=501, slas=None)], CURSOR_END, True)
    connector, fake = zendesk(FakeZendesk({"start_time=0": page}), resolve_names=False, fetch_slas=False)
    store = MemoryStore()
    await sync(connector, store)
    assert fake.paths() == ["/api/v2/incremental/tickets/cursor.json"]
    assert "include" not in fake.requests[0].url.params
    assert (store.tickets[("zendesk", "1")].group, store.tickets[("zendesk", "1")].assignee) == ("11", "501")


async def test_refused_credentials_stop_with_zendesk_message(zendesk: Build) -> None:
    connector, fake = zendesk(FakeZendesk(chain()), token="wrong-token")
    with pytest.raises(AuthError) as caught:
        await sync(connector, MemoryStore())
    assert str(caught.value) == (
        "zendesk: credentials refused (401 Couldn't authenticate you): "
        "polling of this helpdesk stops until the config changes"
    )
    assert "wrong-token" not in repr(connector) + repr(connector.settings) + str(caught.value)
    assert len(fake.requests) == 1


async def test_404_carries_zendesk_error_text(zendesk: Build) -> None:
    connector, _ = zendesk(FakeZendesk({}))
    with pytest.raises(RequestError, match=r"404 RecordNotFound: Not found"):
        await connector.request("GET", "/api/v2/tickets/9223372036854775807.json")


# ---- normalize: the mappings not exercised by the recorded fixtures -----------------------------


@pytest.fixture
def connector(zendesk: Build) -> ZendeskConnector:
    return zendesk(FakeZendesk({}), status_map={"pending": "on_hold"}, priority_map={"none": "low"})[0]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("hold", Status.ON_HOLD), ("pending", Status.ON_HOLD), ("open", Status.OPEN), ("closed", Status.CLOSED)],
)
def test_status_mapping_and_override(connector: ZendeskConnector, status: str, expected: Status) -> None:
    assert connector.normalize(raw_ticket(1, status)).status is expected


def test_priority_override_and_solved_at(connector: ZendeskConnector) -> None:
    solved = connector.normalize(raw_ticket(1, "solved", priority=None, updated_at="2024-01-02T03:04:05Z"))
    assert solved.priority is Priority.LOW  # priority_map {"none": "low"}
    assert solved.solved_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert connector.normalize(raw_ticket(2, priority="urgent")).priority is Priority.URGENT


@pytest.mark.parametrize(
    ("via", "channel"),
    [
        ({"channel": "email"}, Channel.EMAIL),
        ({"channel": "voice"}, Channel.PHONE),
        ({"channel": "chat"}, Channel.CHAT),
        ({"channel": "web_widget"}, Channel.WEB),
        ({"channel": "rule"}, Channel.OTHER),
        ({"channel": "mobile_sdk"}, Channel.OTHER),
        ({"channel": 4}, Channel.OTHER),
        (None, Channel.OTHER),
    ],
)
def test_channel_mapping(connector: ZendeskConnector, via: Mapping[str, Any] | None, channel: Channel) -> None:
    assert connector.normalize(raw_ticket(1, via=via)).channel is channel


def test_paused_sla(connector: ZendeskConnector) -> None:
    paused = {"policy_metrics": [{"breach_at": None, "stage": "paused", "metric": "next_reply_time"}]}
    sla = connector.normalize(raw_ticket(1, "pending", slas=paused)).sla
    assert sla.paused and not sla.breached and sla.earliest_due is None
    # A metric still running means the ticket's SLA clock is not paused as a whole.
    mixed = {"policy_metrics": paused["policy_metrics"] + SLAS["policy_metrics"][:1]}
    running = connector.normalize(raw_ticket(1, "open", slas=mixed)).sla
    assert not running.paused and running.first_response_due == datetime(2024, 2, 7, 3, 9, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "change",
    [
        {"id": None},
        {"status": "weird"},
        {"status": None},
        {"created_at": "yesterday"},
        {"created_at": "2023-09-18T15:57:42"},  # no zone
        {"priority": "p1"},
        {"slas": {"policy_metrics": [{"stage": "active", "metric": "first_reply_time", "breach_at": "soon"}]}},
    ],
)
def test_unreadable_values_raise_malformed_record(connector: ZendeskConnector, change: dict[str, Any]) -> None:
    with pytest.raises(MalformedRecord) as caught:
        connector.normalize(raw_ticket(42) | change)
    assert caught.value.helpdesk == "zendesk"
    assert caught.value.record_id == (None if change.get("id", 42) is None else "42")


def test_loopback_url_and_entry_point(zendesk: Build) -> None:
    local = zendesk(FakeZendesk({}), url="http://127.0.0.1:8765")[0]
    assert local.normalize(raw_ticket(5)).url == "http://127.0.0.1:8765/agent/tickets/5"
    found = {ep.name: ep.load() for ep in entry_points(group="backlog_watch.connectors")}
    assert found["zendesk"] is ZendeskConnector
