"""Run the Jira simulator until cancelled: what ``backlog-watch simulate jira`` calls."""

from __future__ import annotations

import time
from collections.abc import Callable

from backlog_watch.sim.activity import Activity
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.jira.simulator import JiraSimulator
from backlog_watch.sim.zendesk import evolve_forever


async def serve_jira(
    port: int = 0,
    *,
    seed: int = 1,
    tickets: int = 300,
    speed: float = 1.0,
    host: str = "127.0.0.1",
    email: str = "ops@example.com",
    token: str = "sim-jira-token",
    tick: float = 1.0,
    activity: Activity | None = None,
    out: Callable[[str], None] = print,
    started: Callable[[JiraSimulator], None] | None = None,
) -> None:
    """Serve a simulated Jira Service Management until cancelled (``backlog-watch simulate jira``)."""
    sim = JiraSimulator(
        seed=seed,
        tickets=tickets,
        clock=SimClock(speed=speed),
        email=email,
        token=token,
        rate_clock=time.monotonic,
        activity=activity,
    )
    url = await sim.start(host, port)
    out(f"Jira simulator at {url}: {tickets} issues (seed {seed}), {len(sim.open_ids())} open, time x{speed:g}")
    out(f"  helpdesk block: type: jira, url: {url}, email: {email}, token: {token}, jql: project = {sim.project}")
    if started is not None:
        started(sim)
    await evolve_forever(sim, tick, out)
