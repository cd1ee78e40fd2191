"""The conformance suite every registered connector passes, against its simulator over loopback HTTP,
synced by the framework's sync() into SQLite on disk. Simulated time only: the connectors' injected
sleep advances the simulator's clock, so a Retry-After or a throttle wait costs no wall time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from backlog_watch.errors import AuthError
from backlog_watch.models import Status
from backlog_watch.sim import SimClock
from backlog_watch.sources.connector import available_connectors, sync
from tests.conformance import KINDS, Rig

SETTLE = timedelta(minutes=31)
"""Long enough for every helpdesk to show a change: Zendesk's last minute, Jira's index delay, and
the deletion checks (Freshdesk's 15 minutes, Jira's 30-minute reconciliation)."""


def test_every_registered_connector_is_in_the_suite() -> None:
    assert set(available_connectors()) == set(KINDS) == {"zendesk", "freshdesk", "jira"}


@pytest.fixture(params=sorted(KINDS))
async def rig(request: pytest.FixtureRequest, sim_clock: SimClock, tmp_path: Path) -> AsyncIterator[Rig]:
    kind = KINDS[request.param]
    sim = kind.simulator(seed=7, tickets=300, clock=sim_clock, **kind.sim_options)
    sim_clock.advance(120)
    await sim.start()
    try:
        async with httpx.AsyncClient() as client:
            rig = Rig(kind, sim, tmp_path / "bw.db", client)
            try:
                yield rig
            finally:
                rig.store.close()
    finally:
        await sim.stop()


async def test_a_cold_sync_stores_the_ground_truth(rig: Rig) -> None:
    result = await sync(rig.connector(), rig.store)
    assert result.skipped == 0 and result.stored == len(rig.kind.truth(rig.sim)) > 250
    rig.assert_store_is_the_truth()
    assert rig.sleeps == []
    stored = rig.stored().values()
    assert {Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED} <= {
        t.status for t in stored
    } | {Status.NEW}  # Freshdesk has no "new"
    assert {t.group for t in stored} - {None} == {"Billing", "Technical", "Onboarding"}
    agents = {u["name"] for u in rig.sim.account.users.values() if u["role"] == "agent"}
    assert {t.assignee for t in stored} - {None} <= agents and {t.assignee for t in stored} - {None}
    backlog = [t for t in stored if t.is_open]
    assert sum(t.sla.earliest_due is not None for t in backlog) >= len(backlog) // 3
    assert any(t.sla.breached for t in backlog)


async def test_an_incremental_sync_brings_back_exactly_the_changes(rig: Rig) -> None:
    await sync(rig.connector(), rig.store)
    sim = rig.sim
    open_ids = sorted(sim.open_ids())
    created = sim.create_ticket(priority="urgent", tags=["outage"])["id"]
    sim.clock.advance(3)
    sim.update_ticket(open_ids[0], priority="low", subject="Now low")
    sim.solve_ticket(open_ids[1])
    sim.delete_ticket(open_ids[2])
    sim.clock.advance(3)
    # 25 tickets changed in one second: they cross page boundaries (pages of 10 to 50).
    same_second = open_ids[3:28]
    for key in same_second:
        sim.update_ticket(key, tags=["bulk-edit"])
    rig.clock.advance(SETTLE)
    result = await sync(rig.connector(), rig.store)
    assert result.skipped == 0
    assert result.stored == 4 + len(same_second)  # each change once: none lost, none repeated
    rig.assert_store_is_the_truth()
    stored = rig.stored()
    assert stored[rig.key(created)].is_open and stored[rig.key(open_ids[0])].subject == "Now low"
    assert stored[rig.key(open_ids[1])].status in (Status.SOLVED, Status.CLOSED)
    assert stored[rig.key(open_ids[2])].status is Status.DELETED
    assert all(stored[rig.key(k)].tags == ("bulk-edit",) for k in same_second)


async def test_after_hours_of_helpdesk_life_the_store_converges_again(rig: Rig) -> None:
    connector = rig.connector()
    await sync(connector, rig.store)
    happened = rig.sim.evolve(timedelta(hours=3))
    assert len(happened) >= 10
    rig.clock.advance(SETTLE)
    result = await sync(connector, rig.store)
    assert 0 < result.stored <= len(happened)
    rig.assert_store_is_the_truth()


async def test_a_poll_with_no_change_makes_one_request(rig: Rig) -> None:
    connector = rig.connector()
    await sync(connector, rig.store)
    cursor = rig.store.cursor(rig.kind.name)
    assert cursor
    before = len(rig.sim.requests)
    rig.clock.advance(120)
    result = await sync(connector, rig.store)
    assert len(rig.sim.requests) - before == 1
    assert result.stored == 0 and rig.store.cursor(rig.kind.name) == cursor


async def test_a_429_is_waited_out(rig: Rig) -> None:
    rig.sim.rate_limit_next(1, retry_after=7)
    connector = rig.connector()
    result = await sync(connector, rig.store)
    assert rig.sleeps == [7.0] and connector.rate_limited == 1
    assert result.stored == len(rig.kind.truth(rig.sim))
    rig.assert_store_is_the_truth()


async def test_refused_credentials_stop_with_a_clear_error(rig: Rig) -> None:
    with pytest.raises(AuthError, match=r"credentials refused \(401 .+\): polling of this helpdesk stops") as caught:
        await sync(rig.connector(**rig.kind.bad_credentials), rig.store)
    assert caught.value.helpdesk == rig.kind.name and caught.value.status == 401
    assert rig.kind.secret not in str(caught.value)
    assert len(rig.sim.requests) == 1 and rig.sleeps == []
    assert rig.store.cursor(rig.kind.name) is None and rig.store.count_tickets() == 0


async def test_a_burst_of_server_errors_is_retried(rig: Rig) -> None:
    rig.sim.fail_next(3, status=503)
    connector = rig.connector()
    result = await sync(connector, rig.store)
    assert connector.retries == 3 and len(rig.sleeps) == 3
    assert result.stored == len(rig.kind.truth(rig.sim))
    rig.assert_store_is_the_truth()


async def test_malformed_records_are_skipped_and_counted(rig: Rig) -> None:
    victim = min(rig.sim.open_ids())
    rig.sim.inject_malformed(victim)
    added = rig.sim.inject_malformed({"id": 99999, "status": "open", "created_at": "yesterday"})
    rig.clock.advance(SETTLE)
    result = await sync(rig.connector(), rig.store)
    assert result.skipped == 2 and set(result.skipped_ids) == {rig.key(victim), rig.key(added)}
    assert rig.key(victim) not in rig.stored() and rig.key(added) not in rig.stored()
    assert result.stored >= 250


async def test_the_cursor_survives_a_restart(rig: Rig) -> None:
    await sync(rig.connector(), rig.store)
    cursor = rig.store.cursor(rig.kind.name)
    count = rig.store.count_tickets(rig.kind.name)
    rig.reopen()
    assert rig.store.cursor(rig.kind.name) == cursor and rig.store.count_tickets(rig.kind.name) == count
    solved = min(rig.sim.open_ids())
    rig.sim.solve_ticket(solved)
    rig.clock.advance(120)
    result = await sync(rig.connector(), rig.store)  # a new connector: nothing kept in memory
    assert result.stored == 1
    rig.assert_store_is_the_truth()
    assert rig.key(solved) not in {t.id for t in rig.store.tickets([rig.kind.name])}
