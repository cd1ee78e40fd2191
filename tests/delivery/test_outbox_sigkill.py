"""A flapping alert, Slack unreachable mid-request, and the daemon SIGKILLed again and again.

A real ``backlog-watch run`` process polls the Zendesk simulator and posts to the Slack stand-in, both
served from this test's process. Each cycle flips the alert (fire or resolve), lets the daemon through
a few Slack calls, leaves the next one hanging and kills the process while it waits. Once Slack answers
again, every episode that fired has its own parent, in order, and every parent reads what its episode
became: none lost, none left saying it still fires.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from backlog_watch.sim import SimClock, SlackMessage, SlackStandIn, ZendeskSimulator
from tests.helpers.waiting import until

CYCLES = 5
"""fire, resolve, fire, resolve, fire: three episodes, the last one still firing."""


def config_text(sim: ZendeskSimulator, slack: SlackStandIn, db: Path, threshold: int) -> str:
    return f"""
store: sqlite:///{db}
http:
  listen: 127.0.0.1:0
helpdesks:
  - name: zendesk
    type: zendesk
    url: {sim.url}
    email: {sim.email}
    token: {sim.token}
    poll_every: 1h
notifiers:
  - name: slack
    type: slack
    token: {slack.token}
    channel: "#support"
    api_url: {slack.api_url}
defaults:
  notify: [slack]
  repeat_every: 1d
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: {threshold}
"""


async def start(config: Path, log: Path) -> asyncio.subprocess.Process:
    """The daemon as users run it: it polls at once, evaluates and delivers what is due."""
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backlog_watch",
            "--log-format",
            "json",
            "run",
            "-c",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )


async def until_daemon(condition: Callable[[], bool], what: str, log: Path, timeout: float = 20) -> None:
    """Wait for what the test can observe (the stand-in, the store); on timeout, show the daemon's log."""
    await until(condition, timeout=timeout, what=lambda: f"{what}; the daemon logged:\n{log.read_text()[-3000:]}")


def size_parents(slack: SlackStandIn) -> list[SlackMessage]:
    return [m for m in slack.messages("#support") if "backlog-size" in m.blocks[0]["text"]["text"]]


def queued(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        return int(raw.execute("SELECT count(*) FROM outbox").fetchone()[0])


async def test_sigkill_while_an_alert_flaps_loses_no_episode_and_leaves_no_parent_stale(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    config, db, log = tmp_path / "bw.yaml", tmp_path / "bw.db", tmp_path / "daemon.log"
    config.write_text(config_text(zendesk_sim, slack_standin, db, len(zendesk_sim.open_ids())))
    extra: list[int] = []
    try:
        for cycle in range(CYCLES):
            if cycle % 2 == 0:  # two tickets over the threshold: a new episode fires
                extra = [zendesk_sim.create_ticket(subject=f"Flap {cycle}")["id"] for _ in range(2)]
            else:
                for ticket in extra:
                    zendesk_sim.solve_ticket(ticket)
            sim_clock.advance(120)  # the export leaves out its last minute
            slack_standin.hang_after(cycle % 3)  # some calls get through, the next one never returns
            process = await start(config, log)
            try:
                await until_daemon(
                    slack_standin.hang_started.is_set,
                    f"a hanging Slack call in cycle {cycle} (none: this cycle's news was not queued)",
                    log,
                )
            finally:
                process.kill()
                await process.wait()
        assert queued(db) > 0  # news still waiting when the last process died

        slack_standin.release()
        process = await start(config, log)
        try:
            await until_daemon(
                lambda: (
                    len(size_parents(slack_standin)) == 3
                    and sum("RESOLVED" in p.text for p in size_parents(slack_standin)) == 2
                    and queued(db) == 0
                ),
                "every episode told and every parent converged",
                log,
            )
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        slack_standin.release()

    first, second, third = size_parents(slack_standin)  # 3 episodes fired: 3 parents, in order
    assert "RESOLVED" in first.text and "RESOLVED" in second.text  # their resolution reached THEIR parent
    assert "RESOLVED" not in third.text and "WARN" in third.text  # the episode still firing reads so
    for resolved in (first, second):
        assert any("resolved" in reply.text.lower() for reply in resolved.replies)
    assert not any("resolved" in reply.text.lower() for reply in third.replies)
