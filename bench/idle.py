"""Idle helpdesks: the daemon's CPU per poll when nothing changed, for N helpdesks, simulators out of process.

A child process serves N simulated Zendesks (300 tickets each, still: nothing changes). The daemon in
this process syncs them all once and evaluates; then it polls every helpdesk ``--rounds`` times, as
the scheduler's poll job does (an idle poll asks for no evaluation), and prints per N:
  - CPU per idle poll (this process only: the simulators' CPU is the child's)
  - the evaluations those polls caused (goal 0: time-driven rules are the periodic evaluation's)
  - CPU of one evaluation at N, what every idle poll used to cost on top
  - the share of one core N helpdesks use at ``poll_every: 2m`` plus one evaluation a minute

Usage: python bench/idle.py [--helpdesks 10,50,100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.config import parse_config
from backlog_watch.sim import QUIET, SimClock, ZendeskSimulator

UNLIMITED = 10**9
POLL_EVERY = 120.0
EVALUATE_EVERY = 60.0


async def serve(count: int) -> None:
    """The child: N still simulators; prints their URLs as one JSON line, serves until stdin closes."""
    clock = SimClock()
    clock.advance(120)  # past the export's hidden last minute: an idle poll sees everything there is
    sims = [
        ZendeskSimulator(
            seed=i, tickets=300, clock=clock, export_rate_limit=UNLIMITED, account_rate_limit=UNLIMITED, activity=QUIET
        )
        for i in range(count)
    ]
    for sim in sims:
        await sim.start()
    print(json.dumps([sim.url for sim in sims]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for sim in sims:
        await sim.stop()


def config_text(urls: list[str], db: Path) -> str:
    helpdesks = "".join(
        f"  - {{name: desk{i}, type: zendesk, url: {url}, email: ops@example.com, token: sim-token, "
        f"export_requests_per_minute: {UNLIMITED}}}\n"
        for i, url in enumerate(urls)
    )
    rules = "".join(
        f"  - {{name: backlog-{level}, type: threshold, metric: open_tickets, {level}_above: {n}}}\n"
        for level, n in (("warn", 100), ("critical", 1000))
    )
    return f"store: sqlite:///{db}\nhelpdesks:\n{helpdesks}rules:\n{rules}"


async def measure(count: int, rounds: int) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(count), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None and child.stdin is not None
    urls = json.loads(await child.stdout.readline())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = parse_config(config_text(urls, Path(tmp) / "bw.db"), "idle.yaml", env={})
            async with assemble(config) as parts:
                daemon = parts.daemon
                names = list(parts.connectors)
                await asyncio.gather(*(daemon.poll(n) for n in names))  # the cold sync, then an evaluation
                evaluations = daemon.evaluations
                cpu = time.process_time()
                for _ in range(rounds):
                    await asyncio.gather(*(daemon._poll_job(n) for n in names))
                poll_cpu = (time.process_time() - cpu) / (rounds * count)
                caused = daemon.evaluations - evaluations
                cpu = time.process_time()
                await daemon.evaluate(deliver=False)
                evaluation_cpu = time.process_time() - cpu
    finally:
        child.stdin.close()
        await child.wait()
    share = (count * poll_cpu / POLL_EVERY + evaluation_cpu / EVALUATE_EVERY) * 100
    before = count * (poll_cpu + evaluation_cpu) / POLL_EVERY * 100
    print(
        f"{count:>5} helpdesks: {poll_cpu * 1000:6.1f} ms CPU per idle poll, {caused} evaluations caused; "
        f"one evaluation {evaluation_cpu * 1000:7.1f} ms; at poll_every 2m: {share:5.1f}% of a core "
        f"(an evaluation per poll would be {before:6.1f}%)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helpdesks", default="10,50,100", help="comma-separated counts of helpdesks")
    parser.add_argument("--rounds", type=int, default=3, help="idle polls of every helpdesk measured")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    for count in (int(n) for n in args.helpdesks.split(",")):
        asyncio.run(measure(count, args.rounds))


if __name__ == "__main__":
    main()
