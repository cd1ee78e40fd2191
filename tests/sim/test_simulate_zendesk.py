"""The Zendesk simulator over real loopback HTTP: Zendesk's export semantics, auth, limits, realism."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest

from backlog_watch.sim import SimClock, ZendeskSimulator, decode_cursor, encode_cursor, serve_zendesk
from backlog_watch.sim.generate import parse_time
from tests.factories import SIM_START
from tests.helpers.waiting import until
from tests.paths import FIXTURES

EXPORT = "/api/v2/incremental/tickets/cursor.json"
FIXTURE = FIXTURES / "zendesk" / "TicketsIncrementalTest.test_get_values.1.json"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()


@pytest.fixture
async def api(zendesk_sim: ZendeskSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": basic(zendesk_sim.email, zendesk_sim.token)}
    async with httpx.AsyncClient(base_url=zendesk_sim.url, headers=headers) as client:
        yield client


async def export(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get(EXPORT, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def drain(api: httpx.AsyncClient, **first: Any) -> tuple[list[dict[str, Any]], str, int]:
    """Follow the export to end_of_stream: (tickets, last after_cursor, pages)."""
    body = await export(api, **first)
    tickets, pages = list(body["tickets"]), 1
    while not body["end_of_stream"]:
        params = {"cursor": body["after_cursor"]} | {k: v for k, v in first.items() if k != "start_time"}
        body = await export(api, **params)
        tickets += body["tickets"]
        pages += 1
    return tickets, body["after_cursor"], pages


def open_sim(**options: Any) -> ZendeskSimulator:
    return ZendeskSimulator(clock=SimClock(SIM_START), **options)


# ---- the export --------------------------------------------------------------------------------


async def test_pages_chain_by_after_cursor_to_end_of_stream(api: httpx.AsyncClient, zendesk_sim: ZendeskSimulator):
    first = await export(api, start_time=0, per_page=100)
    assert len(first["tickets"]) == 100 and first["end_of_stream"] is False
    assert first["before_cursor"] is None and first["before_url"] is None
    assert (
        first["after_url"]
        == f"{zendesk_sim.url}{EXPORT}?cursor={first['after_cursor'].replace('=', '%3D')}&per_page=100"
    )

    tickets, last_cursor, pages = await drain(api, start_time=0, per_page=100)
    assert pages == 3
    ids = [t["id"] for t in tickets]
    assert len(ids) == len(set(ids)) == 300
    assert set(ids) == set(zendesk_sim.ground_truth())
    order = [(t["generated_timestamp"], t["id"]) for t in tickets]
    assert order == sorted(order)
    # The last page still carries a cursor; resuming from it is an idle poll: nothing, same position.
    idle = await export(api, cursor=last_cursor)
    assert idle["tickets"] == [] and idle["end_of_stream"] is True and idle["after_cursor"] == last_cursor


async def test_the_cursor_is_zendesks_base64_of_timestamp_and_id(api: httpx.AsyncClient):
    page = await export(api, start_time=0, per_page=1)
    ticket = page["tickets"][0]
    decoded = base64.b64decode(page["after_cursor"]).decode()
    assert decoded == f"{ticket['generated_timestamp']}.0||{ticket['id']}|"
    assert decode_cursor(page["after_cursor"]) == (ticket["generated_timestamp"], ticket["id"])
    assert encode_cursor(1695052663, 28) == "MTY5NTA1MjY2My4wfHwyOHw="  # the recorded cursor of ticket 28
    response = await api.get(EXPORT, params={"cursor": "not-a-cursor"})
    assert response.status_code == 400


async def test_changes_of_the_last_minute_are_not_exported_yet(api, zendesk_sim: ZendeskSimulator):
    _, cursor, _ = await drain(api, start_time=0)
    created = zendesk_sim.create_ticket(subject="Printer on fire")
    for wait in (0, 59):
        zendesk_sim.clock.advance(wait)
        body = await export(api, cursor=cursor)
        assert body["tickets"] == [] and body["after_cursor"] == cursor
        everything, _, _ = await drain(api, start_time=0)
        assert created["id"] not in {t["id"] for t in everything}
    zendesk_sim.clock.advance(1)
    body = await export(api, cursor=cursor)
    assert [t["id"] for t in body["tickets"]] == [created["id"]]
    assert body["tickets"][0]["subject"] == "Printer on fire"
    assert decode_cursor(body["after_cursor"]) == (created["generated_timestamp"], created["id"])


async def test_a_start_time_within_the_last_minute_is_422(api: httpx.AsyncClient, zendesk_sim):
    now = int(zendesk_sim.clock.timestamp())
    response = await api.get(EXPORT, params={"start_time": now - 30})
    assert response.status_code == 422
    assert response.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }
    assert (await api.get(EXPORT, params={"start_time": now + 3600})).status_code == 422
    assert (await api.get(EXPORT, params={"start_time": now - 60})).status_code == 200


async def test_start_time_selects_by_generated_timestamp(api: httpx.AsyncClient, zendesk_sim):
    truth = zendesk_sim.ground_truth()
    stamps = sorted(t["generated_timestamp"] for t in truth.values())
    middle = stamps[150]
    tickets, _, _ = await drain(api, start_time=middle)
    assert {t["id"] for t in tickets} == {i for i, t in truth.items() if t["generated_timestamp"] >= middle}


async def test_deleted_tickets_come_through_the_export(api: httpx.AsyncClient, zendesk_sim: ZendeskSimulator):
    tickets, cursor, _ = await drain(api, start_time=0)
    generated_deleted = {t["id"] for t in tickets if t["status"] == "deleted"}
    assert generated_deleted, "the generated history has deleted tickets"
    victim = next(iter(zendesk_sim.open_ids()))
    zendesk_sim.delete_ticket(victim)
    zendesk_sim.clock.advance(61)
    body = await export(api, cursor=cursor)
    assert [(t["id"], t["status"]) for t in body["tickets"]] == [(victim, "deleted")]
    assert victim not in zendesk_sim.open_ids()
    shown = await api.get(f"/api/v2/tickets/{victim}.json")
    assert shown.status_code == 404
    kept, _, _ = await drain(api, start_time=0, exclude_deleted="true")
    assert not {t["id"] for t in kept} & (generated_deleted | {victim})


async def test_the_cursor_resumes_with_only_the_changed_tickets(api, zendesk_sim: ZendeskSimulator):
    _, cursor, _ = await drain(api, start_time=0)
    open_ids = sorted(zendesk_sim.open_ids())
    new = zendesk_sim.create_ticket(priority="urgent", tags=["outage"])
    zendesk_sim.clock.advance(5)
    zendesk_sim.update_ticket(open_ids[0], priority="high")
    zendesk_sim.solve_ticket(open_ids[1])
    zendesk_sim.delete_ticket(open_ids[2])
    zendesk_sim.clock.advance(61)
    changed, after, _ = await drain(api, cursor=cursor)
    got = {t["id"]: t for t in changed}
    assert set(got) == {new["id"], *open_ids[:3]}
    assert got[new["id"]]["status"] == "new" and got[new["id"]]["priority"] == "urgent"
    assert got[open_ids[0]]["priority"] == "high"
    assert got[open_ids[1]]["status"] == "solved" and got[open_ids[1]]["assignee_id"] is not None
    assert got[open_ids[2]]["status"] == "deleted"
    truth = zendesk_sim.ground_truth()
    assert all(ticket == truth[i] for i, ticket in got.items())
    assert (await export(api, cursor=after))["tickets"] == []


async def test_include_slas_sideloads_policy_metrics(api, zendesk_sim: ZendeskSimulator):
    tickets, _, _ = await drain(api, start_time=0, include="slas")
    assert all("slas" in t for t in tickets)
    metrics = [m for t in tickets if t["status"] in ("new", "open", "hold") for m in t["slas"]["policy_metrics"]]
    active = [m for m in metrics if m["stage"] == "active"]
    left = [next(m[u] for u in ("days", "hours", "minutes") if u in m) for m in active]
    assert any(v < 0 for v in left), "some SLA targets are breached"
    due_soon = [m for m in active if m.get("minutes", -1) >= 0 or 0 <= m.get("hours", -1) < 24]
    assert due_soon, "some SLA targets are due within hours"
    for metric in active:
        breach = parse_time(metric["breach_at"])
        assert breach is not None and (breach < SIM_START) == (
            next(metric[u] for u in ("days", "hours", "minutes") if u in metric) < 0
        )
    plain, _, _ = await drain(api, start_time=0)
    assert not any("slas" in t for t in plain)


async def test_the_export_may_ignore_include_slas():
    async with open_sim(tickets=20, export_includes_slas=False) as sim:
        headers = {"Authorization": basic(sim.email, sim.token)}
        async with httpx.AsyncClient(base_url=sim.url, headers=headers) as client:
            body = await export(client, start_time=0, include="slas")
            assert body["tickets"] and not any("slas" in t for t in body["tickets"])
            ids = ",".join(str(i) for i in sorted(sim.open_ids()))
            many = await client.get("/api/v2/tickets/show_many.json", params={"ids": ids, "include": "slas"})
            assert many.status_code == 200
            shown = many.json()["tickets"]
            assert {t["id"] for t in shown} == sim.open_ids()
            assert all("slas" in t and "generated_timestamp" not in t for t in shown)


# ---- the other endpoints -------------------------------------------------------------------------


async def test_show_many_groups_and_users_answer_what_the_connector_asks(api, zendesk_sim):
    truth = zendesk_sim.ground_truth()
    ids = sorted(truth)[:5]
    many = await api.get("/api/v2/tickets/show_many.json", params={"ids": ",".join(map(str, ids))})
    live = {i for i in ids if truth[i]["status"] != "deleted"}
    assert {t["id"] for t in many.json()["tickets"]} == live
    too_many = await api.get("/api/v2/tickets/show_many.json", params={"ids": ",".join(map(str, range(1, 102)))})
    assert too_many.status_code == 400

    groups = (await api.get("/api/v2/groups.json", params={"per_page": 2})).json()
    assert len(groups["groups"]) == 2 and groups["count"] == 3
    rest = (await api.get(groups["next_page"])).json()
    names = {g["name"] for g in groups["groups"] + rest["groups"]}
    assert names == {"Billing", "Technical", "Onboarding"} and rest["next_page"] is None

    assignees = sorted({t["assignee_id"] for t in truth.values() if t.get("assignee_id")})
    users = (await api.get("/api/v2/users/show_many.json", params={"ids": ",".join(map(str, assignees))})).json()
    assert {u["id"] for u in users["users"]} == set(assignees)
    assert all(u["role"] == "agent" and u["name"] for u in users["users"])

    one = (await api.get(f"/api/v2/tickets/{ids[-1]}.json", params={"include": "slas"})).json()["ticket"]
    assert one["id"] == ids[-1] and "slas" in one and "generated_timestamp" not in one


async def test_unknown_records_are_zendesks_404(api: httpx.AsyncClient):
    for path in ("/api/v2/tickets/9223372036854775807.json", "/api/v2/nothing/here.json"):
        response = await api.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": "RecordNotFound", "description": "Not found"}


# ---- auth, limits, faults ----------------------------------------------------------------------


async def test_wrong_or_missing_credentials_are_401(zendesk_sim: ZendeskSimulator):
    async with httpx.AsyncClient(base_url=zendesk_sim.url) as client:
        for headers in (
            {},
            {"Authorization": basic(zendesk_sim.email, "wrong")},
            {"Authorization": basic("someone@else.com", zendesk_sim.token)},
        ):
            response = await client.get(EXPORT, params={"start_time": 0}, headers=headers)
            assert response.status_code == 401
            assert response.json() == {"error": "Couldn't authenticate you"}


async def test_the_export_limit_answers_429_with_retry_after():
    async with open_sim(tickets=10, export_rate_limit=3) as sim:
        headers = {"Authorization": basic(sim.email, sim.token)}
        async with httpx.AsyncClient(base_url=sim.url, headers=headers) as client:
            remaining = []
            for _ in range(3):
                response = await client.get(EXPORT, params={"start_time": 0})
                assert response.status_code == 200
                assert response.headers["X-Rate-Limit"] == response.headers["ratelimit-limit"] == "700"
                remaining.append(int(response.headers["X-Rate-Limit-Remaining"]))
            assert remaining == [699, 698, 697]
            sim.clock.advance(20)
            refused = await client.get(EXPORT, params={"start_time": 0})
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "40"
            assert refused.json()["error"] == "APIRateLimitExceeded"
            # The account quota is not spent: other endpoints still answer.
            assert (await client.get("/api/v2/groups.json")).status_code == 200
            sim.clock.advance(40)
            assert (await client.get(EXPORT, params={"start_time": 0})).status_code == 200


async def test_the_account_limit_covers_every_endpoint():
    async with open_sim(tickets=5, account_rate_limit=4) as sim:
        headers = {"Authorization": basic(sim.email, sim.token)}
        async with httpx.AsyncClient(base_url=sim.url, headers=headers) as client:
            answers = [await client.get("/api/v2/groups.json") for _ in range(5)]
            assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
            assert answers[3].headers["ratelimit-remaining"] == "0"
            assert answers[3].headers["ratelimit-reset"] == "60"
            assert int(answers[4].headers["Retry-After"]) == 60


async def test_injected_faults_come_first_and_requests_are_logged(api, zendesk_sim: ZendeskSimulator):
    zendesk_sim.fail_next(2, status=503)
    zendesk_sim.rate_limit_next(1, retry_after=7)
    statuses = [(await api.get(EXPORT, params={"start_time": 0})).status_code for _ in range(3)]
    assert statuses == [503, 503, 429]
    ok = await api.get(EXPORT, params={"start_time": 0, "per_page": 5})
    assert ok.status_code == 200
    assert zendesk_sim.requests[-1] == ("GET", EXPORT, {"start_time": "0", "per_page": "5"})
    assert len(zendesk_sim.requests) == 4
    zendesk_sim.rate_limit_next(1, retry_after=7)
    assert (await api.get("/api/v2/groups.json")).headers["Retry-After"] == "7"


async def test_malformed_tickets_are_served_as_injected(api, zendesk_sim: ZendeskSimulator):
    _, cursor, _ = await drain(api, start_time=0)
    victim = min(zendesk_sim.open_ids())
    zendesk_sim.inject_malformed(victim)
    extra = zendesk_sim.inject_malformed({"subject": "no id, no dates"})
    zendesk_sim.clock.advance(61)
    body = await export(api, cursor=cursor)
    got = {t["id"]: t for t in body["tickets"]}
    assert set(got) == {victim, extra}
    assert got[victim]["created_at"] == "not a date" and got[victim]["status"] == 42
    assert got[extra]["subject"] == "no id, no dates" and "status" not in got[extra]


# ---- the generated backlog ---------------------------------------------------------------------


def test_the_generated_backlog_looks_like_a_real_one(zendesk_sim: ZendeskSimulator):
    truth = zendesk_sim.ground_truth()
    recorded: Mapping[str, Any] = json.loads(FIXTURE.read_text())["body"]["tickets"][0] if FIXTURE.exists() else {}
    statuses = Counter(t["status"] for t in truth.values())
    assert all(statuses[s] >= 3 for s in ("new", "open", "pending", "hold", "solved", "closed", "deleted")), statuses
    priorities = Counter(t["priority"] for t in truth.values())
    assert all(priorities[p] >= 3 for p in ("urgent", "high", "normal", "low", None)), priorities
    assert len({t["via"]["channel"] for t in truth.values()}) >= 5
    assert {t["group_id"] for t in truth.values()} >= set(zendesk_sim.account.groups)
    backlog = [truth[i] for i in zendesk_sim.open_ids()]
    assert 50 <= len(backlog) <= 200
    week_ago = SIM_START - timedelta(days=7)
    assert sum(parse_time(t["created_at"]) < week_ago for t in backlog) >= 5  # type: ignore[operator]
    assert any(t["priority"] == "urgent" for t in backlog)
    assert any(t["assignee_id"] is None for t in backlog) and any(t["assignee_id"] for t in backlog)
    oldest = min(parse_time(t["created_at"]) for t in truth.values())  # type: ignore[type-var]
    assert timedelta(days=20) < SIM_START - oldest <= timedelta(days=30)  # type: ignore[operator]
    for ticket in truth.values():
        assert ticket["url"] == f"https://acme.zendesk.com/api/v2/tickets/{ticket['id']}.json"
        assert TIME.match(ticket["created_at"]) and TIME.match(ticket["updated_at"])
        assert ticket["created_at"] <= ticket["updated_at"]
        assert ticket["generated_timestamp"] <= SIM_START.timestamp() - 60
        if recorded:
            assert list(ticket) == list(recorded), "same keys, same order as a recorded export ticket"


def test_the_backlog_is_determined_by_the_seed():
    same = [open_sim(seed=3, tickets=120) for _ in range(2)]
    assert same[0].ground_truth() == same[1].ground_truth()
    assert same[0].evolve(timedelta(hours=3)) == same[1].evolve(timedelta(hours=3))
    assert same[0].ground_truth() == same[1].ground_truth()
    assert open_sim(seed=4, tickets=120).ground_truth() != open_sim(seed=3, tickets=120).ground_truth()


def test_evolve_moves_the_backlog_and_the_clock(zendesk_sim: ZendeskSimulator):
    before = zendesk_sim.ground_truth()
    happened = zendesk_sim.evolve(timedelta(hours=4))
    kinds = Counter(kind for kind, _ in happened)
    assert kinds["arrivals"] >= 5 and kinds["solves"] >= 5 and kinds["assignments"] >= 3, kinds
    assert zendesk_sim.clock.now() == SIM_START + timedelta(hours=4)
    after = zendesk_sim.ground_truth()
    new_ids = set(after) - set(before)
    assert len(new_ids) == kinds["arrivals"]
    changed = {i for i in before if before[i] != after[i]}
    assert changed and all(after[i]["generated_timestamp"] > SIM_START.timestamp() for i in changed | new_ids)
    stamps = [after[i]["created_at"] for i in sorted(new_ids)]
    assert stamps == sorted(stamps) and len(set(stamps)) > 1, "events are spread over the stretch"


async def test_a_flowing_clock_follows_real_time_times_speed():
    clock = SimClock(SIM_START, speed=3600.0)
    assert clock.now() >= SIM_START and clock.now().tzinfo is not None
    clock.advance(60)
    assert clock.now() - SIM_START >= timedelta(seconds=60)
    manual = SimClock(SIM_START)
    manual.advance(timedelta(minutes=5))
    assert manual.now() == SIM_START + timedelta(minutes=5)
    with pytest.raises(ValueError):
        manual.advance(-1)
    await manual.sleep(30)
    assert manual.now() == SIM_START + timedelta(minutes=5, seconds=30)
    manual.set(SIM_START)
    assert manual.now() == SIM_START
    with pytest.raises(ValueError):
        manual.set(SIM_START.replace(tzinfo=None))


async def test_serve_zendesk_runs_until_cancelled_and_evolves():
    lines: list[str] = []
    task = asyncio.create_task(serve_zendesk(0, seed=2, tickets=30, speed=36_000.0, tick=0.02, out=lines.append))
    try:
        await until(lambda: len(lines) >= 3, what="serve_zendesk's address, credentials and first tick")
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", lines[0])
        assert url, lines
        assert "email: ops@example.com, token: sim-token" in lines[1]
        assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d (\d+ \w+, )*\d+ \w+; \d+ open$", lines[2]), lines
        headers = {"Authorization": basic("ops@example.com", "sim-token")}
        async with httpx.AsyncClient(base_url=url[1], headers=headers) as client:
            response = await client.get(EXPORT, params={"start_time": 0})
        assert response.status_code == 200
        # The backlog evolves while we read (36,000x real time), and the export hides the last minute's
        # changes, so the count is not fixed: every ticket shown is a distinct, real one.
        ids = [t["id"] for t in response.json()["tickets"]]
        assert ids and len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url[1] + EXPORT)
