"""The real ZendeskConnector, driven by sync() into the real SqliteStore, against the simulator over HTTP.

The simulator's clock is manual; the connector's injected sleep records each wait and advances that
clock, so a Retry-After is really waited out (in simulated time) and the simulator's rate window rolls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from backlog_watch_connectors.zendesk import PRIORITIES, STATUSES, ZendeskConnector

from backlog_watch.errors import AuthError
from backlog_watch.models import Priority, Status
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.sim.generate import SLA_TARGETS, parse_time
from backlog_watch.sources.connector import read_named, sync
from backlog_watch.store.sqlite import SqliteStore

EXPORT = "/api/v2/incremental/tickets/cursor.json"
HELPDESK = "zendesk"


@dataclass
class Rig:
    """A simulator, a store on disk, and the means to build connectors that record their sleeps."""

    sim: ZendeskSimulator
    path: Path
    client: httpx.AsyncClient
    store: SqliteStore = field(init=False)
    sleeps: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = SqliteStore(self.path)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sim.clock.advance(seconds)

    def connector(self, **settings: Any) -> ZendeskConnector:
        return ZendeskConnector(
            self.sim.settings(HELPDESK, **settings),
            self.client,
            sleep=self.sleep,
            clock=self.sim.clock.timestamp,
        )

    def reopen(self) -> None:
        self.store.close()
        self.store = SqliteStore(self.path)

    def requests_since(self, start: int) -> list[tuple[str, str, dict[str, str]]]:
        return list(self.sim.requests[start:])


@pytest.fixture
async def rig(zendesk_sim: ZendeskSimulator, tmp_path: Path) -> AsyncIterator[Rig]:
    async with httpx.AsyncClient(base_url=zendesk_sim.url) as client:
        rig = Rig(zendesk_sim, tmp_path / "bw.db", client)
        try:
            yield rig
        finally:
            rig.store.close()


@pytest.fixture
async def rig_for(sim_clock: SimClock, tmp_path: Path) -> AsyncIterator[Any]:
    """Build a rig around a simulator with other options (limits, SLA sideloading)."""
    opened: list[tuple[ZendeskSimulator, Rig]] = []
    async with httpx.AsyncClient() as client:

        async def build(**options: Any) -> Rig:
            sim = ZendeskSimulator(seed=7, tickets=300, clock=sim_clock, **options)
            await sim.start()
            rig = Rig(sim, tmp_path / f"bw{len(opened)}.db", client)
            opened.append((sim, rig))
            return rig

        try:
            yield build
        finally:
            for sim, rig in opened:
                rig.store.close()
                await sim.stop()


def assert_store_is_the_truth(rig: Rig) -> None:
    """Every ticket the simulator has, stored with its mapped values; the open backlog is its open set."""
    truth = {str(key): raw for key, raw in rig.sim.ground_truth().items()}
    stored = {t.id: t for t in rig.store.tickets([HELPDESK], open_only=False)}
    assert stored.keys() == truth.keys()
    for ticket_id, ticket in stored.items():
        raw = truth[ticket_id]
        assert ticket.status == STATUSES[raw["status"]], ticket_id
        assert ticket.priority == (PRIORITIES[raw["priority"]] if raw["priority"] else Priority.NONE)
        assert ticket.updated_at == parse_time(raw["updated_at"])
        assert ticket.created_at == parse_time(raw["created_at"])
        assert ticket.subject == raw["subject"]
        assert ticket.url == f"{rig.sim.url}/agent/tickets/{ticket_id}"
    backlog = {t.id for t in rig.store.tickets([HELPDESK])}
    assert backlog == {str(i) for i in rig.sim.open_ids()}
    assert not any(stored[i].status is Status.DELETED for i in backlog)


async def test_a_cold_sync_stores_the_ground_truth(rig: Rig):
    result = await sync(rig.connector(), rig.store)
    truth = rig.sim.ground_truth()
    assert result.stored == len(truth) == 300 and result.skipped == 0
    assert_store_is_the_truth(rig)
    assert rig.sleeps == []
    stored = rig.store.tickets([HELPDESK], open_only=False)
    assert {t.status for t in stored} == set(Status) - {Status.MOVED}  # moved: a Jira issue leaving the JQL
    assert any(t.status is Status.ON_HOLD for t in rig.store.tickets([HELPDESK]))
    # Names were resolved through groups.json and users/show_many.
    agents = {u["name"] for u in rig.sim.account.users.values() if u["role"] == "agent"}
    assert {t.group for t in stored} - {None} == {"Billing", "Technical", "Onboarding"}
    assert {t.assignee for t in stored} - {None} <= agents
    # SLAs came sideloaded with the export: no show_many for tickets.
    assert not any(r.path == "/api/v2/tickets/show_many.json" for r in rig.sim.requests)
    backlog = rig.store.tickets([HELPDESK])
    assert any(t.sla.breached for t in backlog)
    new_with_policy = [t for t in backlog if t.status is Status.NEW and t.priority.value in SLA_TARGETS]
    assert new_with_policy
    for ticket in new_with_policy:
        first_reply = SLA_TARGETS[ticket.priority.value][0]
        assert ticket.sla.first_response_due == ticket.created_at + first_reply


async def test_an_idle_poll_is_exactly_one_request(rig: Rig):
    await sync(rig.connector(), rig.store)
    cursor = rig.store.cursor(HELPDESK)
    assert cursor
    before = len(rig.sim.requests)
    rig.sim.clock.advance(120)
    result = await sync(rig.connector(), rig.store)
    requests = rig.requests_since(before)
    assert len(requests) == 1
    assert requests[0].path == EXPORT and requests[0].query["cursor"] == cursor
    assert (result.pages, result.stored) == (1, 0)
    assert rig.store.cursor(HELPDESK) == cursor


async def test_an_incremental_sync_brings_back_only_the_changes(rig: Rig):
    await sync(rig.connector(), rig.store)
    open_ids = sorted(rig.sim.open_ids())
    created = rig.sim.create_ticket(priority="urgent", tags=["outage"])
    rig.sim.update_ticket(open_ids[0], priority="low")
    rig.sim.solve_ticket(open_ids[1])
    rig.sim.delete_ticket(open_ids[2])
    # Within the minute nothing is exported yet: the poll is idle.
    assert (await sync(rig.connector(), rig.store)).stored == 0
    rig.sim.clock.advance(61)
    result = await sync(rig.connector(), rig.store)
    assert result.stored == 4
    assert_store_is_the_truth(rig)
    solved = next(t for t in rig.store.tickets([HELPDESK], open_only=False) if t.id == str(open_ids[1]))
    assert solved.solved_at == solved.updated_at == rig.sim.clock.now().replace(microsecond=0) - timedelta(seconds=61)
    assert str(created["id"]) in {t.id for t in rig.store.tickets([HELPDESK])}
    assert str(open_ids[2]) not in {t.id for t in rig.store.tickets([HELPDESK])}


async def test_after_hours_of_helpdesk_life_the_store_converges_again(rig: Rig):
    await sync(rig.connector(), rig.store)
    happened = rig.sim.evolve(timedelta(hours=3))
    assert len(happened) >= 10
    rig.sim.clock.advance(61)
    result = await sync(rig.connector(), rig.store)
    assert 0 < result.stored <= len(happened)
    assert_store_is_the_truth(rig)


async def test_a_429_is_waited_out(rig: Rig):
    rig.sim.rate_limit_next(1, retry_after=7)
    result = await sync(rig.connector(), rig.store)
    assert rig.sleeps == [7.0]
    assert result.stored == 300
    assert_store_is_the_truth(rig)


async def test_the_export_limit_of_10_per_minute_is_waited_out(rig_for: Any):
    rig: Rig = await rig_for(export_rate_limit=2)
    connector = rig.connector(per_page=50)
    result = await sync(connector, rig.store)
    assert result.pages == 6
    assert rig.sleeps == [60.0, 60.0]
    assert connector.rate_limited == 2
    assert_store_is_the_truth(rig)


async def test_refused_credentials_raise_auth_error_once(rig: Rig):
    with pytest.raises(AuthError, match=r"credentials refused \(401 Couldn't authenticate you\)") as caught:
        await sync(rig.connector(token="not-the-token"), rig.store)
    assert caught.value.helpdesk == HELPDESK and caught.value.status == 401
    assert "not-the-token" not in str(caught.value)
    assert len(rig.sim.requests) == 1 and rig.sleeps == []
    assert rig.store.cursor(HELPDESK) is None and rig.store.count_tickets() == 0


async def test_a_burst_of_server_errors_is_retried(rig: Rig):
    rig.sim.fail_next(3, status=503)
    connector = rig.connector()
    result = await sync(connector, rig.store)
    assert result.stored == 300
    assert connector.retries == 3 and len(rig.sleeps) == 3
    assert_store_is_the_truth(rig)


async def test_malformed_tickets_are_skipped_and_counted(rig: Rig):
    victim = min(rig.sim.open_ids())
    rig.sim.inject_malformed(victim)
    rig.sim.inject_malformed({"id": 99999, "status": "open", "created_at": "yesterday"})
    rig.sim.clock.advance(61)
    result = await sync(rig.connector(), rig.store)
    assert result.skipped == 2 and set(result.skipped_ids) == {str(victim), "99999"}
    stored = {t.id for t in rig.store.tickets([HELPDESK], open_only=False)}
    assert stored == {str(i) for i in rig.sim.ground_truth()} - {str(victim), "99999"}
    # A stored ticket that turns unreadable keeps its last good version.
    other = max(rig.sim.open_ids() - {99999})
    rig.sim.inject_malformed(other)
    rig.sim.clock.advance(61)
    again = await sync(rig.connector(), rig.store)
    assert (again.stored, again.skipped_ids) == (0, [str(other)])
    assert str(other) in {t.id for t in rig.store.tickets([HELPDESK])}


async def test_the_cursor_survives_reopening_the_store(rig: Rig):
    await sync(rig.connector(), rig.store)
    cursor = rig.store.cursor(HELPDESK)
    rig.reopen()
    assert rig.store.cursor(HELPDESK) == cursor and rig.store.count_tickets(HELPDESK) == 300
    changed = rig.sim.solve_ticket(min(rig.sim.open_ids()))
    rig.sim.clock.advance(61)
    before = len(rig.sim.requests)
    result = await sync(rig.connector(), rig.store)
    assert rig.sim.requests[before].query == {"cursor": cursor, "per_page": "1000", "include": "slas"}
    assert result.stored == 1
    assert_store_is_the_truth(rig)
    assert str(changed["id"]) not in {t.id for t in rig.store.tickets([HELPDESK])}


async def test_without_sideloaded_slas_the_connector_asks_show_many(rig_for: Any):
    rig: Rig = await rig_for(export_includes_slas=False)
    await sync(rig.connector(), rig.store)
    asked = [r for r in rig.sim.requests if r.path == "/api/v2/tickets/show_many.json"]
    assert asked and all(len(r.query["ids"].split(",")) <= 100 for r in asked)
    asked_ids = {int(i) for r in asked for i in r.query["ids"].split(",")}
    # Every ticket not deleted: the solved ones' achieved metrics are what SLA attainment counts.
    assert asked_ids == {i for i, t in rig.sim.ground_truth().items() if t["status"] != "deleted"}
    solved = [t for t in rig.store.tickets([HELPDESK], open_only=False) if t.status is Status.SOLVED]
    assert any(t.sla.outcome is not None for t in solved)
    assert_store_is_the_truth(rig)
    backlog = rig.store.tickets([HELPDESK])
    assert any(t.sla.breached for t in backlog)
    assert sum(t.sla.earliest_due is not None for t in backlog) >= len(backlog) // 3


@pytest.mark.parametrize("bad_id", ["abc", "", 3.5, True, -4, None])
async def test_a_ticket_whose_id_is_not_an_integer_is_skipped_not_a_phantom(rig: Rig, bad_id: Any):
    model = rig.sim.ticket(min(rig.sim.open_ids()))  # a readable open ticket, but for its id
    served_as = rig.sim.inject_malformed({**model, "id": bad_id, "status": "open"})
    rig.sim.clock.advance(61)
    result = await sync(rig.connector(), rig.store)
    assert result.skipped == 1 and result.stored == 300
    stored = {t.id for t in rig.store.tickets([HELPDESK], open_only=False)}
    assert stored == {str(i) for i in rig.sim.ground_truth()} - {str(served_as)}


async def test_tickets_a_hook_names_are_read_at_once_and_stored_with_the_cursor_unchanged(rig: Rig):
    """The export hides the last minute; show_many does not: a hook's ids are read now, SLAs and names
    included, and committed without moving the cursor, so the export still brings them in its turn."""
    connector = rig.connector()
    await sync(connector, rig.store)
    cursor = rig.store.cursor(HELPDESK)
    created = rig.sim.create_ticket(priority="urgent", status="open", subject="Checkout is down")
    deleted = min(rig.sim.open_ids())
    rig.sim.delete_ticket(deleted)
    assert (await sync(connector, rig.store)).stored == 0  # the export cannot show them yet
    named = [str(created["id"]), str(deleted), "999999", *(str(i) for i in sorted(rig.sim.open_ids())[:120])]
    start = len(rig.sim.requests)

    result = await read_named(connector, rig.store, named)

    asked = [r for r in rig.requests_since(start) if r.path == "/api/v2/tickets/show_many.json"]
    assert [len(r.query["ids"].split(",")) for r in asked] == [100, 23] and all(
        r.query["include"] == "slas" for r in asked
    )
    assert not any(r.path == EXPORT for r in rig.requests_since(start))
    assert result.stored == 121 and result.skipped == 0  # the deleted and the unknown one are simply absent
    assert rig.store.cursor(HELPDESK) == cursor
    stored = {t.id: t for t in rig.store.tickets([HELPDESK])}
    fresh = stored[str(created["id"])]
    assert fresh.subject == "Checkout is down" and fresh.priority is Priority.URGENT and fresh.status is Status.OPEN
    assert fresh.sla.earliest_due is not None  # the urgent policy's first reply target, from include=slas
    assert fresh.group in {"Billing", "Technical", "Onboarding"} and fresh.assignee is not None
    assert str(deleted) in stored  # a deletion is the export's to say, not a hook's
    rig.sim.clock.advance(61)
    await sync(connector, rig.store)
    assert str(deleted) not in {t.id for t in rig.store.tickets([HELPDESK])}
    assert_store_is_the_truth(rig)
