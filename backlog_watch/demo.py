"""`backlog-watch demo` (`make demo`): a simulated Zendesk on loopback, the daemon, alerts on the console.

The simulator runs in real time with a busy day's activity, so the backlog moves while you watch:
tickets arrive, get assigned, wait on customers and get solved; alerts fire, repeat and resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from backlog_watch import app
from backlog_watch.config import load_config
from backlog_watch.errors import ConfigError
from backlog_watch.simulate import Activity, ZendeskSimulator, serve_zendesk

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"
DEMO_ACTIVITY = Activity(arrivals=90, assignments=60, replies=60, solves=80, escalations=6, deletions=1)
"""Events per hour: a busy support desk, so a few minutes of demo show the backlog moving."""


async def demo(*, data: str = "demo-data", port: int = 8080, config_path: Path = DEMO_CONFIG) -> int:
    if not config_path.is_file():
        raise ConfigError([f"{config_path}: the demo config is missing (run the demo from a checkout)"])
    up: asyncio.Future[ZendeskSimulator] = asyncio.get_running_loop().create_future()
    simulator = asyncio.create_task(serve_zendesk(
        0, seed=1, tickets=300, activity=DEMO_ACTIVITY, tick=5.0,
        out=lambda line: print(f"[simulator] {line}", flush=True), started=up.set_result,
    ))
    try:
        sim = await asyncio.wait_for(asyncio.shield(up), timeout=30)
        env = dict(os.environ, DEMO_ZENDESK_URL=sim.url, DEMO_ZENDESK_EMAIL=sim.email,
                   DEMO_ZENDESK_TOKEN=sim.token, DEMO_DATA=data, DEMO_PORT=str(port))
        config = load_config(config_path, env=env)
        print(f"[demo] dashboard and health on http://127.0.0.1:{port}/healthz; "
              f"store {data}/backlog-watch.db; Ctrl-C stops", flush=True)
        return await app.run(config)
    finally:
        simulator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await simulator
