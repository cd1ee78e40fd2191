"""keep_firing_for through the daemon: simulated Zendesk -> SQLite on disk -> real slack-sdk -> stand-in.

Every `once` is a new daemon on the same store, so the time the condition stopped holding must survive
a restart for the alert to resolve at all under cron.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from tests.helpers.config import document, dump, parse, slack, threshold, zendesk
from tests.helpers.daemon import once


def chat_calls(slack_standin: SlackStandIn) -> list[str]:
    return [c.method + ("(thread)" if c.params.get("thread_ts") else "") for c in slack_standin.calls]


async def test_a_hovering_backlog_is_one_episode_resolved_after_keep_firing_for(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)  # past the export's one-minute rule
    backlog = len(zendesk_sim.open_ids())
    rule = threshold(warn_above=backlog - 1, keep_firing_for="30m")
    doc = document(
        db=tmp_path / "bw.db", helpdesks=[zendesk(zendesk_sim)], notifiers=[slack(slack_standin)], notify=["slack"]
    )
    doc["rules"] = [rule]
    config = parse(dump(doc), "keep.yaml")

    assert await once(config, sim_clock) == 0
    assert chat_calls(slack_standin) == ["chat.postMessage"]
    first, second = sorted(zendesk_sim.open_ids())[:2]

    zendesk_sim.solve_ticket(first)  # below the threshold ...
    sim_clock.advance(120)
    assert await once(config, sim_clock) == 0
    zendesk_sim.create_ticket(status="open")  # ... above it again ...
    sim_clock.advance(120)
    assert await once(config, sim_clock) == 0
    zendesk_sim.solve_ticket(second)  # ... and below it for good
    sim_clock.advance(120)
    assert await once(config, sim_clock) == 0
    sim_clock.advance(timedelta(minutes=29))
    assert await once(config, sim_clock) == 0
    assert chat_calls(slack_standin) == ["chat.postMessage"]  # one episode, still firing

    sim_clock.advance(timedelta(minutes=2))  # 31 minutes below the threshold
    assert await once(config, sim_clock) == 0
    assert chat_calls(slack_standin)[1:] == ["chat.postMessage(thread)", "chat.update"]
    (parent,) = slack_standin.messages("#support")
    assert "resolved" in parent.replies[-1].text.lower()
    assert f"open tickets is {backlog - 1} now" in parent.replies[-1].text  # where it stands at resolution
