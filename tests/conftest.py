"""Shared fixtures: the local simulators, started on ephemeral loopback ports and stopped after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from tests.factories import SIM_START


@pytest.fixture
def sim_clock() -> SimClock:
    """A manual clock at SIM_START: it moves only when a test (or an injected sleep) moves it."""
    return SimClock(SIM_START)


@pytest.fixture
async def zendesk_sim(sim_clock: SimClock) -> AsyncIterator[ZendeskSimulator]:
    """A simulated Zendesk with 300 tickets (seed 7), serving on 127.0.0.1 at an ephemeral port."""
    sim = ZendeskSimulator(seed=7, tickets=300, clock=sim_clock)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def slack_standin() -> AsyncIterator[SlackStandIn]:
    """The Slack Web API stand-in, serving on 127.0.0.1 at an ephemeral port."""
    async with SlackStandIn() as standin:
        yield standin


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of this session's throwaway PostgreSQL database (the server is started if down)."""
    from tests.helpers.postgres import throwaway_database

    with throwaway_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied for this test: a ``store:`` URL."""
    from tests.helpers.postgres import empty_schema

    empty_schema(pg_database)
    return pg_database
