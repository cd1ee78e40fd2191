"""What each connector does about its own vendor's quirks, against the simulators over loopback HTTP:
limits the headers do not show, the Freshdesk page cap and window, Jira's anonymous trap, bearer auth,
index delay and removed endpoint. Simulated time only (see tests/conformance.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from backlog_watch.errors import AuthError
from backlog_watch.models import Status
from backlog_watch.sim import SimClock
from backlog_watch.sources.connector import sync
from tests.conformance import KINDS, Rig

Build = Callable[..., Any]


@pytest.fixture
async def rig_for(sim_clock: SimClock, tmp_path: Path) -> AsyncIterator[Build]:
    """Build a rig around a simulator of a kind with other options."""
    opened: list[Rig] = []
    async with httpx.AsyncClient() as client:

        async def build(kind: str, **options: Any) -> Rig:
            sim = KINDS[kind].simulator(seed=7, tickets=300, clock=sim_clock, **options)
            await sim.start()
            rig = Rig(KINDS[kind], sim, tmp_path / f"bw{len(opened)}.db", client)
            opened.append(rig)
            return rig

        try:
            yield build
        finally:
            for rig in opened:
                rig.store.close()
                await rig.sim.stop()


async def test_zendesk_keeps_under_the_export_limit_the_headers_do_not_show(rig_for: Build) -> None:
    rig = await rig_for("zendesk")  # 10 export requests a minute, enforced
    connector = rig.connector(per_page=20)
    result = await sync(connector, rig.store)
    assert result.pages == 15 and connector.rate_limited == 0
    assert rig.sleeps == [61.0]  # ten at once, then the minute (and a second's margin) before the eleventh
    rig.assert_store_is_the_truth()


async def test_freshdesk_waits_for_credits_before_running_out(rig_for: Build) -> None:
    rig = await rig_for("freshdesk", rate_limit=30, max_page=300)  # include=stats costs 3 credits
    connector = rig.connector()  # pages of 10: about 35 requests, 100 credits
    result = await sync(connector, rig.store)
    assert connector.rate_limited == 0 and len(rig.sleeps) >= 3 and set(rig.sleeps) == {60.0}
    assert result.stored == 300
    rig.assert_store_is_the_truth()


async def test_freshdesk_keeps_under_the_ticket_list_limit(rig_for: Build) -> None:
    rig = await rig_for("freshdesk", list_rate_limit=2)
    connector = rig.connector(list_requests_per_minute=2)  # ~35 list requests: longer than deleted_every
    await sync(connector, rig.store)
    assert connector.rate_limited == 0 and len(rig.sleeps) >= 6
    rig.assert_store_is_the_truth()
    await assert_idle_poll_is_one_request(rig, connector)  # the long cold sync counts as a deletion check


async def assert_idle_poll_is_one_request(rig: Rig, connector: Any) -> None:
    before = len(rig.sim.requests)
    rig.clock.advance(120)
    assert (await sync(connector, rig.store)).stored == 0
    assert len(rig.sim.requests) - before == 1


async def test_freshdesk_restarts_the_window_when_the_page_cap_refuses(rig_for: Build) -> None:
    rig = await rig_for("freshdesk", max_page=3)
    connector = rig.connector(per_page=10)
    connector.max_page = 300  # as documented; this account refuses earlier
    result = await sync(connector, rig.store)
    assert connector.max_page == 3 and result.stored == 300
    refused = [r for r in rig.sim.requests if r.query.get("page") == "4"]
    assert len(refused) == 1  # learnt once, then the window restarts before the cap
    rig.assert_store_is_the_truth()


async def test_freshdesk_ties_are_exact_when_updated_since_is_exclusive(rig_for: Build) -> None:
    rig = await rig_for("freshdesk", max_page=3, updated_since_inclusive=False)
    connector = rig.connector(per_page=10, list_requests_per_minute=100)
    connector.max_page = 3
    await sync(connector, rig.store)
    for key in sorted(rig.sim.open_ids())[:25]:
        rig.sim.update_ticket(key, tags=["same-second"])
    rig.clock.advance(60)
    result = await sync(connector, rig.store)
    assert result.stored == 25
    rig.assert_store_is_the_truth()


async def test_freshdesk_simulator_lists_like_freshdesk(rig_for: Build) -> None:
    rig = await rig_for("freshdesk")
    async with httpx.AsyncClient(base_url=rig.sim.url, auth=(rig.sim.api_key, "X")) as client:
        recent = (await client.get("/api/v2/tickets", params={"per_page": 100})).json()
        since = {"per_page": 100, "updated_since": "2000-01-01T00:00:00Z"}
        everything = await client.get("/api/v2/tickets", params=since)
        deleted = (await client.get("/api/v2/tickets", params={**since, "filter": "deleted"})).json()
        capped = await client.get("/api/v2/tickets", params={"page": 301})
    assert 0 < len(recent) <= 100 and 'rel="next"' in everything.headers["Link"]
    assert everything.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    assert deleted and all(t["deleted"] is True for t in deleted)
    assert not any(t.get("deleted") for t in everything.json())
    assert capped.status_code == 400 and capped.json()["errors"][0]["field"] == "page"


async def test_jira_checks_credentials_because_search_answers_strangers_with_nothing(rig_for: Build) -> None:
    rig = await rig_for("jira")
    async with httpx.AsyncClient(base_url=rig.sim.url) as anonymous:
        search = await anonymous.get("/rest/api/3/search/jql", params={"jql": "project = SUP"})
        removed = await anonymous.get("/rest/api/3/search", params={"jql": "project = SUP"})
    assert search.status_code == 200 and search.json() == {"issues": [], "isLast": True}
    assert removed.status_code == 410 and "CHANGE-2046" in removed.json()["errorMessages"][0]
    with pytest.raises(AuthError, match="Client must be authenticated"):
        await sync(rig.connector(token="wrong"), rig.store)


async def test_jira_search_reads_repeated_fields_parameters_as_a_list(rig_for: Build) -> None:
    rig = await rig_for("jira")
    async with httpx.AsyncClient(base_url=rig.sim.url, auth=(rig.sim.email, rig.sim.token)) as client:
        params = [("jql", "project = SUP"), ("fields", "summary"), ("fields", "status"), ("maxResults", "1")]
        repeated = (await client.get("/rest/api/3/search/jql", params=params)).json()
        joined = (await client.get("/rest/api/3/search/jql", params=[*params[:1], ("fields", "summary,status")])).json()
    assert set(repeated["issues"][0]["fields"]) == {"summary", "status"}
    assert repeated["issues"][0]["fields"] == joined["issues"][0]["fields"]


async def test_jira_accepts_a_bearer_token(rig_for: Build) -> None:
    rig = await rig_for("jira", bearer="pat-123")
    result = await sync(rig.connector(email=None, token=None, bearer_token="pat-123"), rig.store)
    assert result.stored == len(rig.kind.truth(rig.sim))
    rig.assert_store_is_the_truth()


async def test_jira_waits_for_the_rate_limit_reset(rig_for: Build) -> None:
    rig = await rig_for("jira", rate_limit=2)
    connector = rig.connector(page_size=5)  # ~60 requests: longer than reconcile_every
    await sync(connector, rig.store)
    assert connector.rate_limited == 0 and rig.sleeps and all(0 < s <= 60 for s in rig.sleeps)
    rig.assert_store_is_the_truth()
    await assert_idle_poll_is_one_request(rig, connector)  # the long cold sync counts as a reconciliation


async def test_jira_overlap_catches_changes_the_index_showed_late(rig_for: Build) -> None:
    rig = await rig_for("jira", index_delay=30)
    connector = rig.connector()
    rig.clock.advance(60)
    await sync(connector, rig.store)
    changed = min(rig.sim.open_ids())
    rig.sim.solve_ticket(changed)
    rig.clock.advance(10)  # not indexed yet: the poll sees nothing
    assert (await sync(connector, rig.store)).stored == 0
    rig.clock.advance(60)
    assert (await sync(connector, rig.store)).stored == 1
    assert rig.stored()[rig.key(changed)].status is Status.SOLVED


async def test_jira_status_names_are_mappable_per_helpdesk(rig_for: Build) -> None:
    rig = await rig_for("jira")
    await sync(rig.connector(status_map={"Waiting for support": "new"}), rig.store)
    waiting = [t for t in rig.sim.vendor_truth().values() if t["fields"]["status"]["name"] == "Waiting for support"]
    assert waiting
    stored = rig.stored()
    assert all(stored[t["key"]].status is Status.NEW for t in waiting)
