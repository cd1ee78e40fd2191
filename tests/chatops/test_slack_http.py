"""The Slack app over HTTP (POST /slack/events): every request signed with the signing secret, checked
by timestamp and HMAC, replays refused; a refused request leaves nothing behind. Also what the team sees
of the actions: the wallboard's /api/backlog and `backlog-watch alerts`."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx

from backlog_watch.app import Parts, assemble, daemon_hooks, slack_chat, web_state
from backlog_watch.cli_output import list_alerts
from backlog_watch.config.models import Config
from backlog_watch.delivery.notifiers.slack import ACKNOWLEDGE_ACTION, SNOOZE_ACTION
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.sim.slack.interactive import signed_request
from backlog_watch.web.server import WebServer
from tests.helpers.config import document, parse, slack, threshold, zendesk
from tests.helpers.waiting import until

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALICE = ("U0ALICE", "alice", "alice@example.com")


def http_config(sim: ZendeskSimulator, standin: SlackStandIn, db: Path) -> Config:
    interactive = {"transport": "http", "signing_secret": SECRET}
    return parse(
        document(
            db=db,
            http={"listen": "127.0.0.1:0"},
            helpdesks=[zendesk(sim)],
            notifiers=[slack(standin, interactive=interactive)],
            notify=["slack"],
            rules=[threshold(warn_above=1)],
        )
    )


@asynccontextmanager
async def serving(config: Config, clock: SimClock) -> AsyncIterator[tuple[Parts, httpx.AsyncClient]]:
    async with assemble(config, clock=clock.now) as parts, slack_chat(config, parts) as chat:
        assert chat is not None and chat.events is not None
        server = WebServer("127.0.0.1", 0, web_state(config, parts, daemon_hooks(parts.daemon), chat))
        url = await server.start()
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                yield parts, client
        finally:
            await server.stop()


async def test_signed_requests_act_and_bad_stale_or_replayed_ones_leave_nothing_behind(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(*ALICE)
    sim_clock.advance(120)
    config = http_config(zendesk_sim, slack_standin, tmp_path / "bw.db")
    async with serving(config, sim_clock) as (parts, client):
        await parts.daemon.once()
        (firing,) = slack_standin.messages("#support")
        since = sim_clock.now() - timedelta(days=1)

        snooze = slack_standin.click(firing, SNOOZE_ACTION, ALICE[0], "1h")
        body, headers = signed_request("interactive", snooze, "not-the-secret")
        assert (await client.post("/slack/events", content=body, headers=headers)).status_code == 401
        body, headers = signed_request("interactive", snooze, SECRET, timestamp=int(time.time()) - 10 * 60)
        assert (await client.post("/slack/events", content=body, headers=headers)).status_code == 401
        headers_without = {k: v for k, v in headers.items() if k != "X-Slack-Signature"}
        assert (await client.post("/slack/events", content=body, headers=headers_without)).status_code == 401
        assert parts.store.silences() == [] and parts.store.actions(since) == []

        body, headers = signed_request("interactive", slack_standin.click(firing, ACKNOWLEDGE_ACTION, ALICE[0]), SECRET)
        assert (await client.post("/slack/events", content=body, headers=headers)).status_code == 200
        await until(lambda: len(parts.store.actions(since)) == 1, what="the acknowledgement recorded")
        await until(lambda: "Acknowledged by @alice" in str(slack_standin.messages("#support")[0].blocks))
        replayed = await client.post("/slack/events", content=body, headers=headers)
        assert replayed.status_code == 401
        assert [a.action for a in parts.store.actions(since)] == ["acknowledge"]

        board = (await client.get("/api/backlog")).json()
        assert [(a["actor"], a["action"], a["rule"]) for a in board["actions"]] == [
            ("alice", "acknowledge", "backlog-size")
        ]
        assert [(a["acknowledged_by"], a["acknowledged_ago"]) for a in board["alerts"]] == [("alice", "0s")]
        listing = io.StringIO()
        assert list_alerts(config, listing, include_all=False, as_json=False) == 0
        assert listing.getvalue().splitlines()[0].endswith("LAST ACTION")
        assert "alice acknowledge" in listing.getvalue().splitlines()[1]


async def test_the_slash_command_answers_privately_and_app_home_shows_the_board(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(*ALICE)
    sim_clock.advance(120)
    config = http_config(zendesk_sim, slack_standin, tmp_path / "bw.db")
    async with serving(config, sim_clock) as (parts, client):
        await parts.daemon.once()
        open_now = len(zendesk_sim.open_ids())
        body, headers = signed_request(
            "slash_commands", slack_standin.slash_command(ALICE[0], "#support", "zendesk"), SECRET
        )
        answer = await client.post("/slack/events", content=body, headers=headers)
        assert answer.status_code == 200
        assert answer.json()["response_type"] == "ephemeral"
        assert answer.json()["text"].startswith(f"*zendesk* (WARN): {open_now} open")
        body, headers = signed_request(
            "slash_commands", slack_standin.slash_command(ALICE[0], "#support", "nope"), SECRET
        )
        assert (await client.post("/slack/events", content=body, headers=headers)).json()["text"] == (
            'No helpdesk named "nope" (known: zendesk).'
        )

        body, headers = signed_request("events_api", slack_standin.home_opened(ALICE[0]), SECRET)
        assert (await client.post("/slack/events", content=body, headers=headers)).status_code == 200
        await until(lambda: ALICE[0] in slack_standin.home_views, what="views.publish of the App Home")
        home = str(slack_standin.home_views[ALICE[0]]["blocks"])
        assert f"{open_now} open" in home and "Backlog now" in home
