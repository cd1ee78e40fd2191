"""The daemon's evaluation loop: polls that finish together are evaluated once; a storm of paced Slack
messages holds up neither a poll nor the next evaluation, and SIGTERM still stops at once; a resolved
notice says where the scope stands now. Simulated Zendesk, SQLite on disk, real slack-sdk -> stand-in."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from pydantic import SecretStr

from backlog_watch.app import assemble
from backlog_watch.config import parse_config
from backlog_watch.debounce import Debouncer
from backlog_watch.delivery.notifiers.console import ConsoleNotifier
from backlog_watch.delivery.notifiers.slack import ChannelPacer, SlackNotifier
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from tests.helpers.config import slack_config
from tests.helpers.daemon import once
from tests.helpers.waiting import until

WAIT = 10.0
"""Seconds any step below may take on a loaded machine (each is met in milliseconds)."""


async def test_requests_while_polls_run_coalesce_into_one_run() -> None:
    busy = [True]
    runs: list[int] = []

    async def action() -> int:
        runs.append(1)
        return len(runs)

    debouncer = Debouncer(action, lambda: busy[0], window=WAIT)
    shared = [debouncer.request() for _ in range(10)]
    assert len({id(t) for t in shared}) == 1  # one run for all of them
    busy[0] = False
    debouncer.request()  # the last poll ends: nothing is running any more
    assert await asyncio.wait_for(shared[0], WAIT) == 1
    assert runs == [1] and debouncer.runs == 1
    assert await asyncio.wait_for(debouncer.request(), WAIT) == 2  # a later request gets a run of its own


async def test_a_lone_request_does_not_wait_for_the_window() -> None:
    async def action() -> str:
        return "evaluated"

    debouncer = Debouncer(action, lambda: False, window=3600)
    assert await asyncio.wait_for(debouncer.request(), WAIT) == "evaluated"


async def test_ten_helpdesks_finishing_together_cause_one_evaluation(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    desks = "".join(
        f"  - {{name: desk{i}, type: zendesk, url: {zendesk_sim.url}, email: {zendesk_sim.email}, "
        f"token: {zendesk_sim.token}}}\n"
        for i in range(10)
    )
    config = parse_config(
        f"store: sqlite:///{tmp_path / 'bw.db'}\nhelpdesks:\n{desks}"
        "rules: [{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1}]\n",
        "ten.yaml",
        env={},
    )
    async with assemble(config, clock=sim_clock.now) as parts:
        results = await asyncio.gather(*(parts.daemon.poll(f"desk{i}") for i in range(10)))
        alerts = parts.store.load_alerts()
        assert results == [True] * 10
        assert parts.daemon.evaluations == 1
    assert sorted(dict(a.labels)["helpdesk"] for a in alerts.values()) == [f"desk{i}" for i in range(10)]


async def test_a_storm_of_paced_messages_blocks_no_poll_nor_evaluation_and_sigterm_stops_at_once(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    rules = "".join(f"  - {{name: r{i:02}, type: threshold, metric: open_tickets, warn_above: 1}}\n" for i in range(20))
    config = parse_config(
        f"""
store: sqlite:///{tmp_path / "bw.db"}
helpdesks:
  - {{name: zendesk, type: zendesk, url: {zendesk_sim.url}, email: {zendesk_sim.email}, token: {zendesk_sim.token}}}
notifiers:
  - {{name: slack, type: slack, token: {slack_standin.token}, channel: "#support", api_url: {slack_standin.api_url}}}
  - {{name: console, type: console}}
defaults: {{notify: [slack, console]}}
rules:
{rules}""",
        "storm.yaml",
        env={},
    )
    paced: list[float] = []
    never = asyncio.Event()

    async def pace(seconds: float) -> None:  # Slack's 1 msg/s, stretched to forever: the worst storm
        paced.append(seconds)
        await never.wait()

    pacer = ChannelPacer(1.0, clock=lambda: 0.0, sleep=pace)
    slack = SlackNotifier(
        "slack", token=SecretStr(slack_standin.token), channel="#support", api_url=slack_standin.api_url, pacer=pacer
    )
    console = io.StringIO()
    notifiers = {"slack": slack, "console": ConsoleNotifier("console", console)}
    async with assemble(config, clock=sim_clock.now, notifiers=notifiers) as parts:
        daemon = parts.daemon
        daemon.delivery_grace = 0.2
        daemon.start({"zendesk": 3600})  # the first poll now, then its evaluation, then the deliverer
        try:
            await until(lambda: console.getvalue().count("[WARN]") == 20 and paced)
            assert len(slack_standin.messages("#support")) == 1  # the second one waits for its pace
            evaluations = daemon.evaluations
            sim_clock.advance(60)
            assert await asyncio.wait_for(daemon.poll("zendesk"), WAIT)  # a poll, and its evaluation, go on
            assert daemon.evaluations == evaluations + 1
            await asyncio.wait_for(daemon.evaluate(deliver=False), WAIT)  # so does the next scheduled one
            daemon.request_stop()
            await asyncio.wait_for(daemon.shutdown(), WAIT)  # SIGTERM: the paced send is cut, at once
        finally:
            await daemon.shutdown()
        queued = parts.store.query("SELECT count(*) FROM outbox WHERE notifier = 'slack'")[0][0]
    assert queued == 19  # nothing lost: what Slack was not told waits for the next start
    assert console.getvalue().count("[WARN]") == 20  # console was told everything once


async def test_a_resolved_notice_says_the_value_now_and_how_long_it_fired(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = slack_config(
        zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog - 3, repeat_every="1h", rules=()
    )
    assert await once(config, sim_clock) == 0
    for ticket_id in sorted(zendesk_sim.open_ids())[:5]:
        zendesk_sim.solve_ticket(ticket_id)
    sim_clock.advance(2 * 3600 + 15 * 60)
    assert await once(config, sim_clock) == 0
    (parent,) = slack_standin.messages("#support")
    reply = parent.replies[-1].text
    assert f"Resolved: open tickets is {backlog - 5} now (warn above {backlog - 3})" in reply
    assert "after firing for 2h 15m" in reply
    assert f"{backlog - 5} open" in parent.text and f"{backlog} open" not in parent.text  # the parent too
