"""The receivers' stand-ins on ephemeral loopback ports, and the episode every receiver's tests drive:
simulated Zendesk -> SQLite on disk -> the real daemon and outbox -> the notifier -> its stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backlog_watch.app import assemble
from backlog_watch.config.models import Config
from backlog_watch.models import Alert, AlertState
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.sim.jsm import JsmStandIn
from backlog_watch.sim.pagerduty import PagerDutyStandIn
from backlog_watch.sim.teams import TeamsStandIn
from backlog_watch.sim.webhook import WebhookStandIn
from tests.helpers.config import document, parse, threshold, zendesk
from tests.helpers.daemon import once


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyStandIn]:
    async with PagerDutyStandIn() as standin:
        yield standin


@pytest.fixture
async def teams() -> AsyncIterator[TeamsStandIn]:
    async with TeamsStandIn() as standin:
        yield standin


@pytest.fixture
async def jsm() -> AsyncIterator[JsmStandIn]:
    async with JsmStandIn() as standin:
        yield standin


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookStandIn]:
    async with WebhookStandIn(secret="hmac-shared-secret") as standin:
        yield standin


class Episode:
    """A backlog-size alert (warn above today's backlog) told to one notifier: quiet, fire, resolve."""

    def __init__(self, sim: ZendeskSimulator, clock: SimClock, db: Path, notifier: dict[str, Any]) -> None:
        self.sim, self.clock = sim, clock
        self.name = notifier["name"]
        clock.advance(120)  # past the export's one-minute rule
        self.backlog = len(sim.open_ids())
        self.config: Config = parse(
            document(
                db=db,
                helpdesks=[zendesk(sim)],
                notifiers=[notifier],
                notify=[self.name],
                repeat_every="1d",
                rules=[threshold(warn_above=self.backlog)],
            ),
            "receivers.yaml",
        )
        self.extra: list[int] = []

    async def run(self) -> int:
        """One poll, evaluation and delivery by a fresh daemon on the same store (a restart)."""
        return await once(self.config, self.clock)

    async def fire(self) -> int:
        self.extra += [self.sim.create_ticket(subject="Refund [urgent] <now>")["id"] for _ in range(2)]
        self.clock.advance(60)
        return await self.run()

    async def resolve(self) -> int:
        for ticket in self.extra:
            self.sim.solve_ticket(ticket)
        self.clock.advance(timedelta(minutes=7))
        return await self.run()

    async def acknowledge(self, by: str) -> Alert:
        """What a Slack acknowledgement will do: tell the notifier, through the notifier the daemon built."""
        async with assemble(self.config, clock=self.clock.now) as parts:
            alert = self.firing(parts.store.load_alerts().values())
            await parts.notifiers[self.name].acknowledge(alert, by=by)  # type: ignore[attr-defined]
            return alert

    async def stored(self) -> Alert:
        async with assemble(self.config, clock=self.clock.now) as parts:
            return next(a for a in parts.store.load_alerts().values() if a.rule == "backlog-size")

    @staticmethod
    def firing(alerts: Iterable[Alert]) -> Alert:
        (alert,) = [a for a in alerts if a.rule == "backlog-size" and a.state is AlertState.FIRING]
        return alert


@pytest.fixture
def episode_for(zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path) -> Any:
    """``episode_for(notifier_entry)``: an Episode of that notifier on this test's simulator and store."""

    def make(notifier: dict[str, Any]) -> Episode:
        return Episode(zendesk_sim, sim_clock, tmp_path / "bw.db", notifier)

    return make
