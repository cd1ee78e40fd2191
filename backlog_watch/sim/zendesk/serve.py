"""Run the Zendesk simulator until cancelled (``backlog-watch simulate zendesk``), and ``evolve_forever``,
the loop every simulated helpdesk (Freshdesk and Jira subclass ZendeskSimulator) runs while served."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from backlog_watch.sim.activity import Activity
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.zendesk.simulator import ZendeskSimulator


async def serve_zendesk(
    port: int = 0,
    *,
    seed: int = 1,
    tickets: int = 300,
    speed: float = 1.0,
    host: str = "127.0.0.1",
    email: str = "ops@example.com",
    token: str = "sim-token",
    subdomain: str = "acme",
    tick: float = 1.0,
    activity: Activity | None = None,
    out: Callable[[str], None] = print,
    started: Callable[[ZendeskSimulator], None] | None = None,
) -> None:
    """Serve a simulated Zendesk on ``host:port`` until cancelled, its backlog evolving as simulated time
    (real time x ``speed``) passes; prints the URL, the credentials, then a line per tick that changed
    something. Rate limits are timed in real seconds."""
    clock = SimClock(speed=speed)
    sim = ZendeskSimulator(
        seed=seed,
        tickets=tickets,
        clock=clock,
        email=email,
        token=token,
        subdomain=subdomain,
        rate_clock=time.monotonic,
        activity=activity,
    )
    url = await sim.start(host, port)
    out(f"Zendesk simulator at {url}: {tickets} tickets (seed {seed}), {len(sim.open_ids())} open, time x{speed:g}")
    out(f"  helpdesk block: type: zendesk, url: {url}, email: {email}, token: {token}")
    if started is not None:
        started(sim)
    await evolve_forever(sim, tick, out)


async def evolve_forever(sim: ZendeskSimulator, tick: float, out: Callable[[str], None]) -> None:
    """Evolve a started simulator every ``tick`` real seconds until cancelled, then stop it; prints a
    line per tick that changed something."""
    clock = sim.clock
    try:
        last = clock.now()
        while True:
            await asyncio.sleep(tick)
            now = clock.now()
            happened = sim.evolve(now - last)
            last = now
            if happened:
                counts = Counter(kind for kind, _ in happened)
                summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
                out(f"{now:%Y-%m-%d %H:%M} {summary}; {len(sim.open_ids())} open")
    finally:
        await sim.stop()
