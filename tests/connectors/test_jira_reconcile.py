"""Jira's reconciliation against the simulator over loopback HTTP, into SQLite on disk: the listing is
matched by issue id, an absence is confirmed by a direct read before anything leaves the backlog, and
a broken listing deletes nothing. After every poll the store's open backlog is the simulator's queue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from backlog_watch.models import Status
from backlog_watch.sim import JiraSimulator, SimClock
from backlog_watch.sources.connector import sync
from tests.conformance import KINDS, Rig

RECONCILE = timedelta(minutes=31)
"""Past the default reconcile_every (30 minutes) and the index delay."""


@pytest.fixture
async def rig(sim_clock: SimClock, tmp_path: Path) -> AsyncIterator[Rig]:
    sim = JiraSimulator(seed=7, tickets=300, clock=sim_clock)
    sim_clock.advance(120)
    await sim.start()
    try:
        async with httpx.AsyncClient() as client:
            rig = Rig(KINDS["jira"], sim, tmp_path / "bw.db", client)
            try:
                yield rig
            finally:
                rig.store.close()
    finally:
        await sim.stop()


def open_backlog(rig: Rig) -> set[str]:
    return {t.id for t in rig.store.tickets(["jira"])}


def queue(rig: Rig) -> set[str]:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    return sim.queue_open_keys()


async def test_a_search_that_answers_ids_only_loses_nothing(rig: Rig) -> None:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    connector = rig.connector()
    await sync(connector, rig.store)
    assert open_backlog(rig) == queue(rig) and len(queue(rig)) > 50
    sim.ids_only_search = True
    victim = min(sim.open_ids())
    sim.delete_ticket(victim)
    rig.clock.advance(RECONCILE)
    await sync(connector, rig.store)
    assert open_backlog(rig) == queue(rig)
    assert rig.stored()[sim.key(victim)].status is Status.DELETED


@pytest.mark.parametrize("last", [False, True], ids=["empty-middle-page", "empty-last-page"])
async def test_an_empty_listing_page_deletes_nothing(rig: Rig, last: bool, caplog: pytest.LogCaptureFixture) -> None:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    connector = rig.connector()
    connector.listing_page_size = 20
    await sync(connector, rig.store)
    before = open_backlog(rig)
    sim.blank_id_pages(1, last=last)
    rig.clock.advance(RECONCILE)
    with caplog.at_level(logging.WARNING):
        await sync(connector, rig.store)
    assert open_backlog(rig) == before == queue(rig)
    assert "nothing deleted" in caplog.text
    # The next reconciliation, with a sound listing, still notices a real deletion.
    victim = min(sim.open_ids())
    sim.delete_ticket(victim)
    rig.clock.advance(RECONCILE)
    await sync(connector, rig.store)
    assert open_backlog(rig) == queue(rig) == before - {sim.key(victim)}


async def test_an_issue_moved_to_another_project_leaves_the_backlog_as_moved(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    connector = rig.connector()
    await sync(connector, rig.store)
    victim = min(sim.open_ids())
    old_key = sim.key(victim)
    sim.move_issue(victim, "OPS")
    sim.update_ticket(victim, subject="Now an OPS issue")
    rig.clock.advance(RECONCILE)
    with caplog.at_level(logging.INFO):
        await sync(connector, rig.store)
    moved = rig.stored()[old_key]
    assert moved.status is Status.MOVED and moved.subject == "Now an OPS issue"  # read fresh
    assert sim.key(victim) not in rig.stored()
    assert open_backlog(rig) == queue(rig)
    assert "left this helpdesk's queue" in caplog.text and old_key in caplog.text


async def test_an_issue_deleted_for_real_is_confirmed_by_a_404(rig: Rig) -> None:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    connector = rig.connector()
    await sync(connector, rig.store)
    victim = min(sim.open_ids())
    sim.delete_ticket(victim)
    rig.clock.advance(RECONCILE)
    await sync(connector, rig.store)
    assert rig.stored()[sim.key(victim)].status is Status.DELETED
    assert open_backlog(rig) == queue(rig)
    reads = [r for r in sim.requests if r.path.startswith("/rest/api/3/issue/") and r.method == "GET"]
    assert [r.path for r in reads] == [f"/rest/api/3/issue/{sim.key(victim)}"]


async def test_an_issue_absent_from_a_lagging_listing_is_updated_not_deleted(rig: Rig) -> None:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    connector = rig.connector()
    await sync(connector, rig.store)
    sim.index_delay = 3600.0  # the index has seen nothing of the last hour
    victim = min(sim.open_ids())
    rig.clock.advance(RECONCILE)
    sim.update_ticket(victim, subject="Changed a moment ago")
    await sync(connector, rig.store)
    stored = rig.stored()[sim.key(victim)]
    assert stored.is_open and stored.subject == "Changed a moment ago"
    assert open_backlog(rig) == queue(rig)


async def test_a_listing_that_would_remove_over_a_tenth_of_the_backlog_deletes_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    sim = rig.sim
    assert isinstance(sim, JiraSimulator)
    connector = rig.connector()
    await sync(connector, rig.store)
    before = open_backlog(rig)
    victims = sorted(sim.open_ids())[: len(before) // 10 + 1]
    for victim in victims:
        sim.delete_ticket(victim)
    rig.clock.advance(RECONCILE)
    with caplog.at_level(logging.WARNING):
        await sync(connector, rig.store)
    assert open_backlog(rig) == before
    assert f"lacks {len(victims)} of {len(before)} open tickets" in caplog.text
    assert "nothing deleted" in caplog.text
