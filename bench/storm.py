"""An alert storm against `backlog-watch run` as a process: do polls keep their schedule, and how long
does SIGTERM take?

The bench process serves a simulated Zendesk and the Slack stand-in; the daemon, a separate process,
polls every ``--poll-every`` seconds and has ``--alerts`` threshold rules that all fire, so as many
Slack messages queue, paced at one a second per channel. After ``--seconds`` of storm, it reads the
daemon's /metrics (polls done, polls skipped), sends SIGTERM and times the exit. Prints the messages
sent, polls done and skipped during the storm, and SIGTERM -> exit in seconds (goals: 0 skipped, <= 5 s).

Usage: python bench/storm.py [--alerts 300] [--seconds 30] [--poll-every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx

from backlog_watch.sim import QUIET, SimClock, SlackStandIn, ZendeskSimulator

UNLIMITED = 10**9


def config_text(sim: ZendeskSimulator, slack: SlackStandIn, db: Path, alerts: int, poll_every: float) -> str:
    rules = "".join(
        f"  - {{name: storm-{i:03}, type: threshold, metric: open_tickets, warn_above: 1}}\n" for i in range(alerts)
    )
    return f"""
store: sqlite:///{db}
http: {{listen: "127.0.0.1:0"}}
helpdesks:
  - {{name: zendesk, type: zendesk, url: {sim.url}, email: {sim.email}, token: {sim.token},
      poll_every: {poll_every}s, export_requests_per_minute: {UNLIMITED}}}
notifiers:
  - {{name: slack, type: slack, token: {slack.token}, channel: "#support", api_url: {slack.api_url}}}
defaults: {{notify: [slack]}}
rules:
{rules}"""


def sample(metrics: str, name: str) -> float:
    """The value of the sample ``name{helpdesk="zendesk"}`` in a /metrics text (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(f'{name}{{helpdesk="zendesk"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def listening(log: list[dict[str, object]]) -> str:
    while True:
        for line in log:
            message = str(line.get("message", ""))
            if message.startswith("backlog-watch listening on "):
                return message.removeprefix("backlog-watch listening on ").split(",")[0]
        await asyncio.sleep(0.05)


async def storm(alerts: int, seconds: float, poll_every: float) -> None:
    clock = SimClock()
    clock.advance(120)
    async with (
        ZendeskSimulator(seed=7, tickets=50, clock=clock, export_rate_limit=UNLIMITED, activity=QUIET) as sim,
        SlackStandIn() as slack,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "storm.yaml"
            config.write_text(config_text(sim, slack, Path(tmp) / "bw.db", alerts, poll_every))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "backlog_watch", "--log-format", "json", "run", "-c", str(config),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            log: list[dict[str, object]] = []

            async def read() -> None:
                assert process.stderr is not None
                async for raw in process.stderr:
                    log.append(json.loads(raw))

            reader = asyncio.create_task(read())
            try:
                url = await asyncio.wait_for(listening(log), 60)
                async with httpx.AsyncClient() as client:
                    while not slack.messages("#support"):
                        await asyncio.sleep(0.1)
                    first = (await client.get(f"{url}/metrics")).text
                    await asyncio.sleep(seconds)
                    last = (await client.get(f"{url}/metrics")).text
                polls = sample(last, "backlog_watch_poll_duration_seconds_count") - sample(
                    first, "backlog_watch_poll_duration_seconds_count"
                )
                skipped = sample(last, "backlog_watch_polls_skipped_total") - sample(
                    first, "backlog_watch_polls_skipped_total"
                )
                sent = len(slack.messages("#support"))
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), 60)
                took = time.monotonic() - started
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await reader
    print(
        f"{alerts} alerts, {seconds:g} s of storm: {sent} Slack messages sent, {polls:.0f} polls done "
        f"(every {poll_every:g} s), {skipped:.0f} skipped; SIGTERM -> exit {code} in {took:.2f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--poll-every", type=float, default=2)
    args = parser.parse_args()
    asyncio.run(storm(args.alerts, args.seconds, args.poll_every))


if __name__ == "__main__":
    main()
