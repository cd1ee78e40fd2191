"""Run the Freshdesk simulator until cancelled: what ``backlog-watch simulate freshdesk`` calls."""

from __future__ import annotations

import time
from collections.abc import Callable

from backlog_watch.sim.activity import Activity
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.freshdesk.simulator import FreshdeskSimulator
from backlog_watch.sim.zendesk import evolve_forever


async def serve_freshdesk(
    port: int = 0,
    *,
    seed: int = 1,
    tickets: int = 300,
    speed: float = 1.0,
    host: str = "127.0.0.1",
    api_key: str = "sim-api-key",
    tick: float = 1.0,
    activity: Activity | None = None,
    out: Callable[[str], None] = print,
    started: Callable[[FreshdeskSimulator], None] | None = None,
) -> None:
    """Serve a simulated Freshdesk until cancelled (``backlog-watch simulate freshdesk``)."""
    sim = FreshdeskSimulator(
        seed=seed,
        tickets=tickets,
        clock=SimClock(speed=speed),
        api_key=api_key,
        rate_clock=time.monotonic,
        activity=activity,
    )
    url = await sim.start(host, port)
    out(f"Freshdesk simulator at {url}: {tickets} tickets (seed {seed}), {len(sim.open_ids())} open, time x{speed:g}")
    out(f"  helpdesk block: type: freshdesk, url: {url}, api_key: {api_key}")
    if started is not None:
        started(sim)
    await evolve_forever(sim, tick, out)
