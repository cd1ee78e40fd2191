"""Simulators in a process of their own, so a bench times the client alone (not the server sharing its loop).

``python bench/harness.py --kind zendesk --count 500 --tickets 300`` starts ``count`` simulators on
ephemeral loopback ports and prints one JSON line: ``{"control": url, "helpdesks": [settings...]}``
(each entry a helpdesk block ready for a config). It serves until stdin closes or SIGTERM.
``--kind slack`` serves one Slack stand-in instead: its line gives ``"slack": {"api_url", "token"}``
(``Simulators.slack``), and the control URL reads it (``messages``, ``calls_to``) or fails it.
The control URL takes ``POST {"sim": i, "op": name, "args": [...], "kwargs": {...}}`` and calls that
simulator's method (only those in ``OPERATIONS``), answering its result as JSON: benches change
tickets, advance the clock, or read the truth (``open_ids``) across the process boundary.

In a bench: ``with Simulators("zendesk", count=1, tickets=100_000) as sims: sims.helpdesks[0]...``.
The clocks follow real time (speed 1) unless ``--manual``; rate limits are lifted with ``--unlimited``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx
from aiohttp import web
from live import cpu_seconds

from backlog_watch.sim import QUIET, FreshdeskSimulator, JiraSimulator, SimClock, SlackStandIn, ZendeskSimulator

UNLIMITED = 10**9
FACTORIES: dict[str, tuple[Callable[..., Any], dict[str, int]]] = {
    "zendesk": (ZendeskSimulator, {"export_rate_limit": UNLIMITED, "account_rate_limit": UNLIMITED}),
    "freshdesk": (FreshdeskSimulator, {"rate_limit": UNLIMITED, "list_rate_limit": UNLIMITED}),
    "jira": (JiraSimulator, {"rate_limit": UNLIMITED}),
}
OPERATIONS = frozenset(
    {"create_ticket", "update_ticket", "solve_ticket", "delete_ticket", "open_ids", "evolve", "advance"}
    | {"messages", "calls_to", "fail_next", "rate_limit_next"}  # the Slack stand-in's
)


class Simulators:
    """The child process's simulators, seen from the bench: ``helpdesks`` (config blocks) and ``call``."""

    def __init__(
        self,
        kind: str,
        *,
        count: int = 1,
        tickets: int = 300,
        seed: int = 11,
        unlimited: bool = True,
        manual: bool = False,
        quiet: bool = True,
    ) -> None:
        self.command = [sys.executable, __file__, "--kind", kind, "--count", str(count), "--tickets", str(tickets)]
        self.command += ["--seed", str(seed)] + ["--unlimited"] * unlimited + ["--manual"] * manual
        self.command += ["--quiet"] * quiet
        self.process: subprocess.Popen[str] | None = None
        self.helpdesks: list[dict[str, Any]] = []
        self.slack: dict[str, str] = {}
        self.control = ""
        self.client = httpx.Client(timeout=60)  # one connection: a client per call costs ~0.1 s (its SSL context)

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulators did not start: {' '.join(self.command)}")
        ready = json.loads(line)
        self.helpdesks, self.control = ready["helpdesks"], ready["control"]
        self.slack = ready.get("slack", {})
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.client.close()
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            assert self.process.stdout is not None
            self.process.stdout.close()

    def call(self, sim: int, op: str, *args: Any, **kwargs: Any) -> Any:
        """Call a simulator's method in the child process (see OPERATIONS)."""
        response = self.client.post(self.control, json={"sim": sim, "op": op, "args": args, "kwargs": kwargs})
        response.raise_for_status()
        return response.json()["result"]

    def cpu_seconds(self) -> float:
        """CPU time the simulators' process has used (user + system), from /proc."""
        assert self.process is not None
        return cpu_seconds(self.process.pid)


def _jsonable(value: Any) -> Any:
    """json.dumps's ``default``: sets sorted, dataclasses (Slack messages and calls) as dicts, else str."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


async def start_simulators(arguments: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """The simulators (or the Slack stand-in) serving, and what the ready line says about them."""
    if arguments.kind == "slack":
        standin = SlackStandIn()
        await standin.start()
        return [standin], {"helpdesks": [], "slack": {"api_url": standin.api_url, "token": standin.token}}
    factory, unlimited = FACTORIES[arguments.kind]
    sims: list[Any] = []
    for i in range(arguments.count):
        clock = SimClock() if arguments.manual else SimClock(speed=1.0)
        extra: dict[str, Any] = {"activity": QUIET} if arguments.quiet else {}
        limits = unlimited if arguments.unlimited else {}
        sim = factory(seed=arguments.seed + i, tickets=arguments.tickets, clock=clock, **extra, **limits)
        sim.clock.advance(120)  # the export hides the last minute: start with every ticket exportable
        await sim.start()
        sims.append(sim)
    names = [f"{arguments.kind}-{i}" for i in range(len(sims))]
    return sims, {"helpdesks": [sim.settings(name) for sim, name in zip(sims, names, strict=True)]}


async def serve(arguments: argparse.Namespace) -> None:
    sims, described = await start_simulators(arguments)

    async def control(request: web.Request) -> web.Response:
        body = await request.json()
        if body["op"] not in OPERATIONS:
            return web.json_response({"error": f"unknown operation {body['op']!r}"}, status=400)
        sim = sims[int(body["sim"])]
        target = sim.clock if body["op"] == "advance" else sim
        result = getattr(target, body["op"])(*body.get("args", ()), **body.get("kwargs", {}))
        return web.json_response({"result": result}, dumps=lambda data: json.dumps(data, default=_jsonable))

    app = web.Application()
    app.router.add_post("/control", control)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"control": f"http://127.0.0.1:{port}/control", **described}), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
    await stop.wait()
    for sim in sims:
        await sim.stop()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kind", choices=[*sorted(FACTORIES), "slack"], default="zendesk")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--unlimited", action="store_true", help="lift the simulators' rate limits")
    parser.add_argument("--manual", action="store_true", help="clocks that move only by the control URL")
    parser.add_argument("--quiet", action="store_true", help="no simulated activity (tickets change only when told)")
    asyncio.run(serve(parser.parse_args()))
