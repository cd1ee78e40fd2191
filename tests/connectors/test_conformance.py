"""The shipped conformance suite (backlog_watch.sources.testing) run over every bundled connector, against
its simulator over loopback HTTP, synced by the framework's sync() into SQLite on disk, exactly as a
third-party connector runs it; plus what only the bundled simulators can show (their variety, hours of
helpdesk life). Simulated time only: the connectors' injected sleep advances the simulator's clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any, ClassVar

import pytest

from backlog_watch.errors import AuthError, RequestError
from backlog_watch.models import Status
from backlog_watch.sim import SimClock
from backlog_watch.sources.connector import ENTRY_POINT_GROUP, available_connectors, sync
from backlog_watch.sources.testing import ConnectorConformance, Expected, Rig
from tests.conformance import KINDS, Kind


def test_every_bundled_connector_is_in_the_suite() -> None:
    """Bundled: registered by the backlog-watch distribution itself (an installed plugin runs its own)."""
    bundled = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.dist and ep.dist.name == "backlog-watch"}
    assert bundled == set(KINDS) == {"zendesk", "freshdesk", "jira"} and bundled <= set(available_connectors())
    assert {c.kind for c in (TestZendesk, TestFreshdesk, TestJira)} == set(KINDS)


class BundledConformance(ConnectorConformance):
    """A bundled kind of tests/conformance.py: its simulator with 300 tickets (seed 7)."""

    bundled: ClassVar[Kind]
    min_tickets = 251

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.bundled.name
        cls.settings = cls.bundled.settings
        cls.bad_credentials = cls.bundled.bad_credentials

    @asynccontextmanager
    async def start_helpdesk(self, clock: SimClock) -> AsyncIterator[Any]:
        sim = self.bundled.simulator(seed=7, tickets=300, clock=clock, **self.bundled.sim_options)
        await sim.start()
        try:
            yield sim
        finally:
            await sim.stop()

    def truth(self, helpdesk: Any) -> Mapping[str, Expected]:
        return self.bundled.truth(helpdesk)

    def key(self, helpdesk: Any, ticket_id: Any) -> str:
        return self.bundled.key(helpdesk, ticket_id)

    def tune(self, connector: Any) -> None:
        self.bundled.tune(connector)

    async def test_a_cold_sync_shows_the_simulators_variety(self, rig: Rig) -> None:
        """Every status, the groups and agents by name, SLAs on a third of the backlog, some breached."""
        await sync(rig.connector(), rig.store)
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

    async def test_after_hours_of_helpdesk_life_the_store_converges_again(self, rig: Rig) -> None:
        connector = rig.connector()
        await sync(connector, rig.store)
        happened = rig.sim.evolve(timedelta(hours=3))
        assert len(happened) >= 10
        rig.clock.advance(self.settle)
        result = await sync(connector, rig.store)
        assert 0 < result.stored <= len(happened)
        rig.assert_store_matches(self.truth(rig.sim))

    async def test_assign_finds_the_agent_by_email_and_the_helpdesk_shows_the_assignee(self, rig: Rig) -> None:
        """Take oldest's write: the vendor's agent lookup by email, then its assignment; its refusals
        (403 when the credentials may not write, an unknown agent or ticket) are raised, nothing changed."""
        connector = rig.connector()
        await sync(connector, rig.store)
        agent = next(u for u in rig.sim.account.users.values() if u["role"] == "agent")
        ticket = next(t for t in rig.stored().values() if t.is_open and t.assignee is None)
        internal = next(k for k in rig.sim.open_ids() if rig.key(k) == ticket.id)
        assert await connector.assign(ticket.id, agent["email"].upper()) == agent["name"]
        assert rig.sim.ticket(internal)["assignee_id"] == agent["id"]
        rig.clock.advance(self.settle)
        await sync(connector, rig.store)  # and the next poll brings it back
        assert rig.stored()[ticket.id].assignee == agent["name"]

        with pytest.raises(RequestError) as unknown_agent:
            await connector.assign(ticket.id, "nobody@nowhere.example")
        assert unknown_agent.value.status == 404
        with pytest.raises(RequestError) as unknown_ticket:
            await connector.assign(rig.key(999_999), agent["email"])
        assert unknown_ticket.value.status == 404
        rig.sim.can_write = False
        with pytest.raises(AuthError) as refused:
            await connector.assign(ticket.id, agent["email"])
        assert refused.value.status == 403
        assert rig.sim.ticket(internal)["assignee_id"] == agent["id"]


class TestZendesk(BundledConformance):
    bundled = KINDS["zendesk"]


class TestFreshdesk(BundledConformance):
    bundled = KINDS["freshdesk"]


class TestJira(BundledConformance):
    bundled = KINDS["jira"]
