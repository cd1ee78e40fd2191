"""`backlog-watch demo` (`make demo`): simulated Zendesk, Freshdesk and Jira on loopback, the daemon
watching all three, alerts on the console.

The simulators run in real time with a busy day's activity, so the backlog moves while you watch:
tickets arrive, get assigned, wait on customers and get solved; alerts fire, repeat and resolve.

Every run starts from a fresh store: the simulators are new each time (new ports, a new backlog), so the
last run's store would hold links to dead ports and alerts already sent, and a second demo would stay
silent. Only a folder the demo made (its MARKER inside) or the default ``demo-data`` is cleared, so a
``--data`` pointed at a real store by mistake is refused, not wiped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Any

from backlog_watch import app
from backlog_watch.config import load_config
from backlog_watch.errors import ConfigError
from backlog_watch.sim import Activity, serve_freshdesk, serve_jira, serve_zendesk

DEMO_CONFIG = Path(__file__).resolve().parent / "sim" / "demo.yaml"
"""Shipped in the package (package data), so `pip install` + `backlog-watch demo` works outside a checkout."""
STORE_FILE = "backlog-watch.db"
"""The store's file name in the data folder, as sim/demo.yaml names it."""
MARKER = ".backlog-watch-demo"
DEFAULT_DATA = "demo-data"
COMMANDS_CONFIG = "backlog-watch.yaml"
DEMO_ACTIVITY = Activity(arrivals=90, assignments=60, replies=60, solves=80, escalations=6, deletions=1)
"""Events per hour: a busy support desk, so a few minutes of demo show the backlog moving."""


async def _start(serve: Any, name: str, seed: int) -> tuple[asyncio.Task[None], Any]:
    """Run one simulator in the background; returns its task and, once it serves, the simulator."""
    up: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            0,
            seed=seed,
            tickets=300,
            activity=DEMO_ACTIVITY,
            tick=5.0,
            out=lambda line: print(f"[{name}] {line}", flush=True),
            started=up.set_result,
        )
    )
    try:
        return task, await asyncio.wait_for(asyncio.shield(up), timeout=30)
    except BaseException:
        task.cancel()
        raise


def fresh_store(data: Path) -> bool:
    """Remove the last demo's store from ``data``; True when there was one. Refuses (ConfigError) a
    folder holding a store the demo did not make."""
    store = data / STORE_FILE
    if store.exists() and not (data / MARKER).exists() and data.name != DEFAULT_DATA:
        raise ConfigError(
            [f"demo: {store} is not a demo's store (no {MARKER} beside it): choose another --data folder"]
        )
    cleared = store.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        (data / f"{STORE_FILE}{suffix}").unlink(missing_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    (data / MARKER).write_text("made by `backlog-watch demo`: its store is cleared at every demo start\n")
    return cleared


def demo_env(zendesk: Any, freshdesk: Any, jira: Any, data: Path, **more: str) -> dict[str, str]:
    """The environment the demo config reads: each simulator's URL and credentials, the data folder."""
    return dict(
        os.environ,
        DEMO_ZENDESK_URL=zendesk.url,
        DEMO_ZENDESK_EMAIL=zendesk.email,
        DEMO_ZENDESK_TOKEN=zendesk.token,
        DEMO_FRESHDESK_URL=freshdesk.url,
        DEMO_FRESHDESK_API_KEY=freshdesk.api_key,
        DEMO_JIRA_URL=jira.url,
        DEMO_JIRA_EMAIL=jira.email,
        DEMO_JIRA_TOKEN=jira.token,
        DEMO_DATA=str(data.resolve()),
        **more,
    )


def write_commands_config(config_path: Path, data: Path, env: dict[str, str]) -> Path:
    """The demo's config with this run's simulators filled in, beside its store: `report`, `alerts`,
    `silence` and `once --dry-run` work on the demo's data with ``--config`` pointing at it."""
    variable = re.compile(r"\$\{(DEMO_[A-Z_]+)(?::-[^}]*)?\}")
    text = variable.sub(lambda m: env.get(m.group(1), m.group(0)), config_path.read_text())
    target = data / COMMANDS_CONFIG
    target.write_text(
        f"# written by `backlog-watch demo` for this run (its simulators' ports); not for editing\n{text}"
    )
    return target


def banner(data: Path, port: int, cleared: bool) -> str:
    """The first line of the demo: where to look, and that the store starts empty."""
    where = f"http://127.0.0.1:{port}/" if port else "a free port (named below)"
    store = f"{data / STORE_FILE}" + (" (the last run's removed: its simulators are gone)" if cleared else "")
    return f"[demo] starting: the wallboard will be on {where}; a fresh store in {store}"


async def demo(*, data: str = DEFAULT_DATA, port: int = 8080, config_path: Path = DEMO_CONFIG) -> int:
    if not config_path.is_file():
        raise ConfigError(
            [f"{config_path}: the demo config is missing (reinstall backlog-watch: it ships in the package)"]
        )
    cleared = fresh_store(Path(data))
    print(banner(Path(data), port, cleared), flush=True)
    tasks: list[asyncio.Task[None]] = []
    try:
        sims = {}
        for name, serve, seed in (
            ("zendesk", serve_zendesk, 1),
            ("freshdesk", serve_freshdesk, 2),
            ("jira", serve_jira, 3),
        ):
            task, sims[name] = await _start(serve, name, seed)
            tasks.append(task)
        zendesk, freshdesk, jira = sims["zendesk"], sims["freshdesk"], sims["jira"]
        env = demo_env(zendesk, freshdesk, jira, Path(data), DEMO_PORT=str(port))
        config = load_config(config_path, env=env)
        commands_config = write_commands_config(config_path, Path(data), env)

        def listening(url: str) -> None:
            print(
                f"[demo] wallboard on {url}/ (also /api/backlog, /metrics, /healthz); store {data}/backlog-watch.db; "
                "Ctrl-C stops",
                flush=True,
            )
            print(
                f"[demo] the other commands on this demo's data: backlog-watch report --config {commands_config} "
                "(also alerts, silence, once --dry-run)",
                flush=True,
            )

        return await app.run(config, on_listening=listening)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
