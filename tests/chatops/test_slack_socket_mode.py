"""End to end over Socket Mode: the Slack stand-in sends what people click through slack-sdk's real
SocketModeClient, into the real daemon, store, outbox and simulators; the stand-in shows the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backlog_watch.app import Chat, Parts, assemble, slack_chat
from backlog_watch.config.models import Config
from backlog_watch.delivery.notifiers.slack import ACKNOWLEDGE_ACTION, SNOOZE_ACTION, TAKE_ACTION, UNSNOOZE_ACTION
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.sim.slack.web_api import SlackMessage
from tests.helpers.cli import cli
from tests.helpers.config import document, parse, slack, threshold, write, zendesk
from tests.helpers.waiting import until

ALICE = ("U0ALICE", "alice", "alice@example.com")


def document_for(
    sim: ZendeskSimulator, standin: SlackStandIn, db: Path, actions: dict[str, bool] | None = None, **rule: object
) -> dict[str, Any]:
    interactive = {"transport": "socket_mode", "app_token": standin.app_token}
    return document(
        db=db,
        helpdesks=[zendesk(sim, **({"actions": actions} if actions else {}))],
        notifiers=[slack(standin, interactive=interactive)],
        notify=["slack"],
        repeat_every="1h",
        rules=[threshold(**rule)],
    )


def config_for(
    sim: ZendeskSimulator, standin: SlackStandIn, db: Path, actions: dict[str, bool] | None = None, **rule: object
) -> Config:
    return parse(document_for(sim, standin, db, actions, **rule))


@asynccontextmanager
async def running(config: Config, clock: SimClock, standin: SlackStandIn) -> AsyncIterator[tuple[Parts, Chat]]:
    async with assemble(config, clock=clock.now) as parts, slack_chat(config, parts) as chat:
        assert chat is not None
        await until(standin.connected.is_set, what="the Socket Mode client's connection")
        yield parts, chat


def parent(standin: SlackStandIn) -> SlackMessage:
    (message,) = standin.messages("#support")
    return message


async def click(standin: SlackStandIn, action_id: str, option: str | None = None) -> None:
    envelope = await standin.send_envelope("interactive", standin.click(parent(standin), action_id, ALICE[0], option))
    await until(envelope.acked.is_set, what=f"the ack of {action_id}")


async def test_acknowledge_edits_the_parent_stops_repeats_and_a_worsening_clears_it(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(*ALICE)
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = config_for(
        zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog - 3, critical_above=backlog + 2
    )
    async with running(config, sim_clock, slack_standin) as (parts, _):
        await parts.daemon.once()
        buttons = [
            e["action_id"] for b in parent(slack_standin).blocks if b["type"] == "actions" for e in b["elements"]
        ]
        assert ACKNOWLEDGE_ACTION in buttons and SNOOZE_ACTION in buttons

        await click(slack_standin, ACKNOWLEDGE_ACTION)
        await until(lambda: "Acknowledged by @alice at" in str(parent(slack_standin).blocks), what="the edited parent")
        edited = parent(slack_standin)
        assert ACKNOWLEDGE_ACTION not in str(edited.blocks)  # acknowledged once: no button left for it
        context = edited.blocks[-1]["elements"][0]["text"]
        assert context.count("Acknowledged by @alice at") == 1 and " · Firing since " in context, context
        (ack,) = parts.store.actions(sim_clock.now() - timedelta(days=1))
        assert (ack.action, ack.actor, ack.level) == ("acknowledge", "alice", "warn")

        sim_clock.advance(2 * 3600)  # past repeat_every: an unacknowledged alert would be repeated
        await parts.daemon.evaluate()
        assert len(parent(slack_standin).replies) == 0

        for _ in range(6):  # warn -> critical clears the acknowledgement and notifies again
            zendesk_sim.create_ticket(subject="Another one")
        sim_clock.advance(120)
        await parts.daemon.once()
        message = parent(slack_standin)
        assert [r.text.startswith(":red_circle: Escalated to critical") for r in message.replies] == [True]
        assert "Acknowledged by" not in str(message.blocks) and ACKNOWLEDGE_ACTION in str(message.blocks)
        actions = parts.store.actions(sim_clock.now() - timedelta(days=1))
        assert [(a.action, a.actor, a.detail) for a in actions][-1] == (
            "unacknowledge",
            "backlog-watch",
            "now critical",
        )
    assert slack_standin.unacked == []


async def test_snooze_makes_a_silence_on_exactly_this_alert_by_the_clicker_and_unsnooze_ends_it(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(*ALICE)
    sim_clock.advance(120)
    doc = document_for(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=1)
    config = parse(doc)
    async with running(config, sim_clock, slack_standin) as (parts, _):
        await parts.daemon.once()
        await click(slack_standin, SNOOZE_ACTION, "4h")
        await until(lambda: len(parent(slack_standin).replies) == 1, what="the snooze told in the thread")
        assert "Snoozed by @alice until" in parent(slack_standin).replies[0].text
        (silence,) = parts.store.silences()
        assert silence.created_by == "alice"
        assert set(silence.matchers) == {("helpdesk", "=", "zendesk"), ("rule", "=", "backlog-size")}
        assert silence.ends_at - silence.starts_at == timedelta(hours=4)
        path = str(write(tmp_path / "c.yaml", doc))  # --all: the CLI reads the wall clock, the test a 2024 one
        code, listed, _ = await cli("silence", "list", "--all", "--config", path)
        assert code == 0 and silence.id[:8] in listed and "alice" in listed and "snoozed from Slack" in listed

        sim_clock.advance(2 * 3600)
        evaluation = await parts.daemon.evaluate()
        assert [m.reason for m in evaluation.muted.values()] == ["silenced"]
        assert len(parent(slack_standin).replies) == 1  # snoozed: no repeat

        await click(slack_standin, UNSNOOZE_ACTION)
        await until(lambda: len(parent(slack_standin).replies) == 2, what="the unsnooze told in the thread")
        assert "Unsnoozed by @alice" in parent(slack_standin).replies[1].text
        (ended,) = parts.store.silences()
        assert ended.ends_at == sim_clock.now()
        assert [a.action for a in parts.store.actions(sim_clock.now() - timedelta(days=1))] == ["snooze", "unsnooze"]


def an_agent(sim: ZendeskSimulator) -> dict[str, Any]:
    return next(u for u in sim.account.users.values() if u["role"] == "agent")


async def test_take_oldest_assigns_the_oldest_unassigned_ticket_to_the_clicker_in_zendesk(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    agent = an_agent(zendesk_sim)
    slack_standin.add_user(ALICE[0], ALICE[1], agent["email"])
    sim_clock.advance(120)
    config = config_for(zendesk_sim, slack_standin, tmp_path / "bw.db", actions={"assign": True}, warn_above=1)
    async with running(config, sim_clock, slack_standin) as (parts, _):
        await parts.daemon.once()
        alert = next(iter(parts.store.load_alerts().values()))
        oldest = min((t for t in alert.tickets if t.assignee is None), key=lambda t: t.created_at)
        await click(slack_standin, TAKE_ACTION)
        await until(lambda: len(parent(slack_standin).replies) == 1, what="the take told in the thread")
        assert zendesk_sim.ticket(int(oldest.id))["assignee_id"] == agent["id"]
        assert parent(slack_standin).replies[0].text.startswith(f":raising_hand: #{oldest.id} (")
        assert parent(slack_standin).replies[0].text.endswith(f"is now assigned to {agent['name']}.")
        (take,) = parts.store.actions(sim_clock.now() - timedelta(days=1))
        assert (take.action, take.actor, take.detail) == ("take", "alice", f"#{oldest.id} to {agent['name']}")

        zendesk_sim.can_write = False  # a read-only API user: Zendesk answers 403
        await click(slack_standin, TAKE_ACTION)
        await until(lambda: len(parent(slack_standin).replies) == 2, what="the refusal told in the thread")
        assert "zendesk refused to assign" in parent(slack_standin).replies[1].text
        assert "may not write (HTTP 403)" in parent(slack_standin).replies[1].text
        assert len(parts.store.actions(sim_clock.now() - timedelta(days=1))) == 1  # a refusal changes nothing


async def test_an_action_on_an_alert_resolved_since_is_answered_privately_and_not_applied(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(*ALICE)
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = config_for(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog - 1)
    async with running(config, sim_clock, slack_standin) as (parts, _):
        await parts.daemon.once()
        firing = parent(slack_standin)
        for ticket_id in sorted(zendesk_sim.open_ids())[:3]:
            zendesk_sim.solve_ticket(ticket_id)
        sim_clock.advance(120)
        await parts.daemon.once()
        assert "Resolved" in parent(slack_standin).replies[-1].text
        envelope = await slack_standin.send_envelope(
            "interactive", slack_standin.click(firing, ACKNOWLEDGE_ACTION, ALICE[0])
        )
        await until(lambda: len(slack_standin.ephemerals) == 1, what="the private answer")
        assert envelope.acked.is_set()
        (answer,) = slack_standin.ephemerals
        assert answer["user"] == ALICE[0] and "resolved at" in str(answer["text"])
        assert parts.store.actions(sim_clock.now() - timedelta(days=1)) == []

        for _ in range(4):  # the backlog grows past the threshold again: a new episode, a new message
            zendesk_sim.create_ticket(status="open")
        sim_clock.advance(120)
        await parts.daemon.once()
        assert len(slack_standin.messages("#support")) == 2
        await slack_standin.send_envelope("interactive", slack_standin.click(firing, ACKNOWLEDGE_ACTION, ALICE[0]))
        await until(lambda: len(slack_standin.ephemerals) == 2, what="the second private answer")
        assert "earlier episode" in str(slack_standin.ephemerals[-1]["text"])
        assert parts.store.actions(sim_clock.now() - timedelta(days=1)) == []


async def test_the_slash_command_rides_on_its_ack_and_app_home_is_published_over_socket_mode(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(*ALICE)
    sim_clock.advance(120)
    config = config_for(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=1)
    async with running(config, sim_clock, slack_standin) as (parts, _):
        await parts.daemon.once()
        command = await slack_standin.send_envelope("slash_commands", slack_standin.slash_command(ALICE[0], "#support"))
        await until(command.acked.is_set, what="the ack of /backlog")
        assert command.response is not None and command.response["response_type"] == "ephemeral"
        assert command.response["text"].startswith(f"*All helpdesks* (WARN): {len(zendesk_sim.open_ids())} open")
        opened = await slack_standin.send_envelope("events_api", slack_standin.home_opened(ALICE[0]))
        await until(lambda: ALICE[0] in slack_standin.home_views, what="views.publish of the App Home")
        assert opened.acked.is_set() and opened.response is None
        assert "1 alert firing" in str(slack_standin.home_views[ALICE[0]]["blocks"])
    assert slack_standin.unacked == []


async def test_take_oldest_writes_nothing_where_the_helpdesk_does_not_allow_assigning(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    slack_standin.add_user(ALICE[0], ALICE[1], an_agent(zendesk_sim)["email"])
    sim_clock.advance(120)
    config = config_for(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=1)  # no actions: {assign: true}
    async with running(config, sim_clock, slack_standin) as (parts, _):
        await parts.daemon.once()
        await click(slack_standin, TAKE_ACTION)
        await until(lambda: len(slack_standin.ephemerals) == 1, what="the private answer")
        assert "not enabled for zendesk" in str(slack_standin.ephemerals[0]["text"])
        assert not [r for r in zendesk_sim.requests if r.method == "PUT"]
        assert parent(slack_standin).replies == []
        assert parts.store.actions(sim_clock.now() - timedelta(days=1)) == []


async def test_a_refused_app_token_is_logged_and_alerts_still_go_out(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim_clock.advance(120)
    config = config_for(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=1)
    slack_standin.app_token = "xapp-1-rotated-since"  # the config's token was revoked
    async with assemble(config, clock=sim_clock.now) as parts, slack_chat(config, parts) as chat:
        assert chat is not None and not slack_standin.connected.is_set()
        await parts.daemon.once()
        assert len(slack_standin.messages("#support")) == 1
    (failure,) = [r.getMessage() for r in caplog.records if "Socket Mode could not connect" in r.getMessage()]
    assert "answered invalid_auth: notifiers slack: interactive.app_token must be the app's xapp-" in failure
    assert "xapp-1-standin-token" not in caplog.text
