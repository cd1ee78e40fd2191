"""The alert lifecycle through the daemon: simulated Zendesk -> SQLite on disk -> real slack-sdk -> stand-in.

Fire once, no duplicate, repeat as a thread reply with the parent edited, survive a restart without
sending twice, resolve; a Slack outage delays and never loses; a refused token stops that helpdesk.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from tests.helpers.config import slack_config
from tests.helpers.daemon import once


def methods(slack: SlackStandIn) -> list[str]:
    return [
        c.method + ("(thread)" if c.params.get("thread_ts") else "")
        for c in slack.calls
        if c.method.startswith("chat.")
    ]


async def test_fire_once_repeat_restart_resolve(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)  # past the export's one-minute rule
    backlog = len(zendesk_sim.open_ids())
    config = slack_config(
        zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog - 3, repeat_every="1h", rules=()
    )

    assert await once(config, sim_clock) == 0
    assert methods(slack_standin) == ["chat.postMessage"]
    (parent,) = slack_standin.messages("#support")
    header = parent.blocks[0]
    assert header["type"] == "header" and "backlog-size" in header["text"]["text"]
    assert f"{backlog} open" in parent.text
    links = str(parent.blocks)
    assert f"{zendesk_sim.url}/agent/tickets/" in links  # each listed ticket links to the agent UI

    sim_clock.advance(600)
    assert await once(config, sim_clock) == 0  # a restart (new daemon, same store) sends nothing twice
    assert methods(slack_standin) == ["chat.postMessage"]

    sim_clock.advance(timedelta(hours=1))
    assert await once(config, sim_clock) == 0
    assert methods(slack_standin) == ["chat.postMessage", "chat.postMessage(thread)", "chat.update"]
    reply, update = slack_standin.calls[-2:]
    assert reply.params["thread_ts"] == update.params["ts"] == parent.ts

    for ticket_id in sorted(zendesk_sim.open_ids())[:5]:
        zendesk_sim.solve_ticket(ticket_id)
    sim_clock.advance(120)
    assert await once(config, sim_clock) == 0
    assert methods(slack_standin)[3:] == ["chat.postMessage(thread)", "chat.update"]
    (parent,) = slack_standin.messages("#support")
    assert "resolved" in parent.replies[-1].text.lower()
    assert parent.edited and "RESOLVED" in parent.text.upper()

    sim_clock.advance(timedelta(hours=2))
    assert await once(config, sim_clock) == 0
    assert len(methods(slack_standin)) == 5  # resolved is said once


async def test_slack_outage_delays_and_never_loses(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    config = slack_config(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=1, repeat_every="1h", rules=())
    slack_standin.fail_next(50, status=500)
    assert await once(config, sim_clock) == 1  # the notifier failed; nothing crashed
    assert slack_standin.messages("#support") == []

    failed_attempts = len(slack_standin.calls_to("chat.postMessage"))
    assert failed_attempts == 1  # slack-sdk does not retry: the outbox reschedules (backoff 30s)
    slack_standin.faults.clear()
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 0
    assert len(slack_standin.messages("#support")) == 1
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 0
    # delivered exactly once after recovery, and not again
    assert len(slack_standin.calls_to("chat.postMessage")) == failed_attempts + 1
    (message,) = slack_standin.messages("#support")
    assert message.replies == [] and not message.edited


async def test_refused_token_fails_that_helpdesk_with_a_clear_error(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    config = slack_config(
        zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=1, token="wrong", repeat_every="1h", rules=()
    )
    async with assemble(config, clock=sim_clock.now) as parts:
        code, evaluation = await parts.daemon.once()
        status = parts.store.poll_status("zendesk")
        assert parts.daemon.stopped == {"zendesk"}
    assert code == 1
    assert status.auth_failed and "401" in (status.last_error or "")
    assert "wrong" not in (status.last_error or "")
    # no backlog alert from a helpdesk never read; the helpdesk-down alert fires at once for refused credentials
    assert [(a.rule, a.state.value) for a in evaluation.alerts.values()] == [("helpdesk-down", "firing")]
    (message,) = slack_standin.messages("#support")
    assert "helpdesk-down" in message.text and "401" in str(message.blocks)
