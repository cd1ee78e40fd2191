"""Hooks that name tickets: read at once (no export lag) and alerted within seconds, over real loopback
HTTP (the daemon's server, the Zendesk simulator, the Slack stand-in); hooks naming none poll now and
once more when the export can show the change; bad bodies are refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from backlog_watch.app import Parts, assemble, daemon_hooks, web_state
from backlog_watch.config.models import Config
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.web.hooks import TOKEN_HEADER, BadHook, Hooks, PollTrigger, ticket_ids
from backlog_watch.web.server import WebServer
from tests.helpers.config import HOOK_SECRET, slack_config
from tests.helpers.timers import ManualTimers
from tests.helpers.waiting import until

HOOKS_ON = f"http:\n  listen: 127.0.0.1:0\n  hook_secret: {HOOK_SECRET}\nevaluate_every: 1h\n"
"""The hook route on, and no periodic evaluation during a test: what reaches Slack came from the hook."""


@asynccontextmanager
async def running(
    config: Config, clock: SimClock, timers: ManualTimers | None = None
) -> AsyncIterator[tuple[Parts, httpx.AsyncClient, Hooks]]:
    """The daemon as ``run`` has it (scheduler, deliverer task, hook route), with no poll scheduled."""
    async with assemble(config, clock=clock.now) as parts:
        hooks = daemon_hooks(parts.daemon, timers)
        server = WebServer("127.0.0.1", 0, web_state(config, parts, hooks))
        url = await server.start()
        parts.daemon.start({})
        try:
            async with httpx.AsyncClient(base_url=url, headers={TOKEN_HEADER: HOOK_SECRET}) as client:
                yield parts, client, hooks
        finally:
            await hooks.close()
            await parts.daemon.shutdown()
            await server.stop()


async def test_a_hook_naming_a_changed_ticket_brings_its_alert_to_slack_in_seconds_without_a_poll(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = slack_config(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog, rules=(), extra=HOOKS_ON)
    async with running(config, sim_clock) as (parts, client, hooks):
        daemon = parts.daemon
        assert await daemon.poll("zendesk")  # the backlog as it was: at the threshold, quiet
        assert slack_standin.messages("#support") == []
        cursor, polled = parts.store.cursor("zendesk"), parts.store.poll_status("zendesk").last_success
        assert daemon.scheduler is not None and [j.id for j in daemon.scheduler.get_jobs()] == ["evaluate"]
        asked_before = len(zendesk_sim.requests)

        changed = time.monotonic()
        ticket = zendesk_sim.create_ticket(status="open", priority="urgent", subject="Checkout is down")
        response = await client.post("/hooks/zendesk", json={"ticket_id": ticket["id"]})
        await until(lambda: slack_standin.messages("#support"), timeout=5, what="the alert in Slack")
        latency = time.monotonic() - changed

        print(f"change -> Slack with a hook naming the ticket: {latency:.3f}s")  # the figure, with -rP
        assert response.status_code == 202
        assert response.json() == {"helpdesk": "zendesk", "tickets": [str(ticket["id"])], "read": "started"}
        (message,) = slack_standin.messages("#support")
        assert f"{backlog + 1} open" in message.text
        assert latency <= 5
        asked = [r.path for r in zendesk_sim.requests[asked_before:]]
        assert "/api/v2/tickets/show_many.json" in asked and "/api/v2/incremental/tickets/cursor.json" not in asked
        assert parts.store.cursor("zendesk") == cursor  # the export still owes the change: it brings it later
        assert parts.store.poll_status("zendesk").last_success == polled
        assert hooks.trigger.polls_started == 0 and hooks.reads_started == 1


async def test_a_hook_naming_a_deleted_ticket_leaves_it_to_the_export_and_evaluates_nothing(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    config = slack_config(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=10_000, rules=(), extra=HOOKS_ON)
    async with running(config, sim_clock) as (parts, client, hooks):
        assert await parts.daemon.poll("zendesk")
        evaluations = parts.daemon.evaluations
        deleted = min(zendesk_sim.open_ids())
        zendesk_sim.delete_ticket(deleted)
        response = await client.post("/hooks/zendesk", json={"ticket": {"id": deleted}})
        assert response.status_code == 202 and response.json()["read"] == "started"
        await hooks.settled("zendesk")
        assert hooks.reads_started == 1 and parts.daemon.evaluations == evaluations  # nothing read, nothing new
        assert str(deleted) in {t.id for t in parts.store.tickets(["zendesk"])}  # still open until the export says


async def test_when_zendesk_refuses_the_read_the_hook_polls_now_and_after_the_export_lag(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    timers = ManualTimers()
    config = slack_config(zendesk_sim, slack_standin, tmp_path / "bw.db", extra=HOOKS_ON)
    async with running(config, sim_clock, timers) as (parts, client, hooks):
        zendesk_sim.fail_next(1, status=400)
        response = await client.post("/hooks/zendesk", json={"ticket_id": min(zendesk_sim.open_ids())})
        assert response.status_code == 202 and response.json()["read"] == "started"
        await hooks.settled("zendesk")
        await hooks.trigger.settled("zendesk")
        assert hooks.reads_started == hooks.trigger.polls_started == 1 and timers.waiting == [61.0]
        assert parts.store.poll_status("zendesk").last_success == sim_clock.now()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"ticket=123", "not JSON"),
        (b"[123]", "not a JSON object"),
        (b'{"ticket_id": "12a"}', '"12a" is not a ticket id'),
        (b'{"ticket_id": 1.5}', "1.5 is not a ticket id"),
        (b'{"ticket": {"id": true}}', "true is not a ticket id"),
        (b'{"ticket_ids": [1, -2]}', "-2 is not a ticket id"),
        (b'{"ticket_ids": "1,2"}', "ticket_ids is not a list"),
        (json.dumps({"ticket_id": "x" * 5000}).encode(), '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not a ticket id'),
        (json.dumps({"ticket_ids": list(range(1, 102))}).encode(), "101 ticket ids: a hook names at most 100"),
    ],
)
async def test_a_bad_body_is_refused_with_its_reason_and_nothing_is_read_polled_or_stored(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
    body: bytes,
    said: str,
) -> None:
    config = slack_config(zendesk_sim, slack_standin, tmp_path / "bw.db", extra=HOOKS_ON)
    async with running(config, sim_clock) as (parts, client, hooks):
        response = await client.post("/hooks/zendesk", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and said in response.json()["error"]
        refused_without_secret = await client.post(
            "/hooks/zendesk", json={"ticket_id": 1}, headers={TOKEN_HEADER: "wrong"}
        )
        assert refused_without_secret.status_code == 401
        await asyncio.sleep(0)  # a read or poll wrongly started would have begun by now
        assert hooks.reads_started == hooks.trigger.polls_started == hooks.follow_ups_started == 0
        assert zendesk_sim.requests == [] and parts.store.count_tickets() == 0


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        (b"", ()),
        (b"  ", ()),
        (b'{"ticket_id": 123}', ("123",)),
        (b'{"ticket_id": "123"}', ("123",)),  # a placeholder written in quotes: "{{ticket.id}}"
        (b'{"ticket": {"id": 7, "status": "open"}}', ("7",)),
        (b'{"ticket_ids": [3, "2", 3], "ticket_id": 2}', ("2", "3")),
        (b'{"ticket_ids": []}', ()),
        (b'{"issue": {"key": "SUP-1"}, "ticket": "SUP-1"}', ()),  # a Jira payload names no Zendesk ticket
    ],
)
def test_the_ticket_ids_a_body_names(body: bytes, ids: tuple[str, ...]) -> None:
    assert ticket_ids(body) == ids


def test_a_hundred_ids_are_the_most_one_hook_names() -> None:
    assert len(ticket_ids(json.dumps({"ticket_ids": list(range(1, 101))}).encode())) == 100
    with pytest.raises(BadHook, match="at most 100"):
        ticket_ids(json.dumps({"ticket_ids": list(range(1, 101)), "ticket_id": 101}).encode())


class Recorder:
    """Stands for the daemon's poll and read: records each call; a read waits for ``release``."""

    def __init__(self) -> None:
        self.polls: list[str] = []
        self.reads: list[tuple[str, list[str]]] = []
        self.release = asyncio.Event()
        self.read_succeeds = True

    async def poll(self, name: str) -> None:
        self.polls.append(name)

    async def idle(self, name: str) -> None:
        return None

    async def read(self, name: str, ids: Sequence[str]) -> bool:
        self.reads.append((name, list(ids)))
        await self.release.wait()
        return self.read_succeeds


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def recording_hooks(timers: ManualTimers) -> tuple[Hooks, Recorder]:
    done = Recorder()
    hooks = Hooks(PollTrigger(done.poll, done.idle), done.read, {"zendesk": 61.0, "jira": 0.0}, timers)
    return hooks, done


async def test_a_burst_of_hooks_naming_no_ticket_gives_one_follow_up_poll_61s_after() -> None:
    timers = ManualTimers()
    hooks, done = recording_hooks(timers)
    answers = [hooks.receive("zendesk", ()) for _ in range(10)]
    assert answers[0]["follow_up_seconds"] == 61.0 and timers.waiting == [61.0]
    await settle()
    assert done.polls == ["zendesk"]  # the burst came before the poll started: one poll sees it all
    timers.advance(60.9)
    assert hooks.follow_ups_started == 0
    timers.advance(0.1)
    await settle()
    assert hooks.follow_ups_started == 1 and timers.waiting == [] and len(done.polls) == 2

    # Hooks after the first of a burst: the poll at its +61s is too early for the later change; one more.
    hooks.receive("zendesk", ())
    timers.advance(10)
    hooks.receive("zendesk", ())
    assert timers.waiting == [122.0]
    timers.advance(51)
    assert hooks.follow_ups_started == 2 and timers.waiting == [132.0]
    timers.advance(10)
    assert hooks.follow_ups_started == 3 and timers.waiting == []
    await hooks.close()


async def test_ids_are_read_not_polled_and_a_burst_of_reads_is_one_more_read() -> None:
    timers = ManualTimers()
    hooks, done = recording_hooks(timers)
    assert hooks.receive("zendesk", ("5",))["read"] == "started"
    await settle()
    assert hooks.receive("zendesk", ("9", "10"))["read"] == "queued"
    assert hooks.receive("zendesk", ("10",))["read"] == "queued"
    done.release.set()
    await hooks.settled("zendesk")
    assert done.reads == [("zendesk", ["5"]), ("zendesk", ["9", "10"])]
    assert done.polls == [] and timers.waiting == []  # the tickets were read: nothing to wait for

    # A helpdesk whose stream has no lag polls now, with no follow-up; one that cannot read ids polls too.
    assert hooks.receive("jira", ("5",))["read"] == "started"
    assert hooks.receive("jira", ())["follow_up_seconds"] is None
    assert hooks.receive("freshdesk", ("5",)) == {"helpdesk": "freshdesk", "poll": "started", "follow_up_seconds": None}
    await settle()
    assert done.polls == ["jira", "freshdesk"] and timers.waiting == []
    await hooks.close()


async def test_a_read_the_helpdesk_fails_falls_back_to_a_poll_now_and_its_follow_up() -> None:
    timers = ManualTimers()
    hooks, done = recording_hooks(timers)
    done.read_succeeds = False
    done.release.set()
    hooks.receive("zendesk", ("5",))
    await hooks.settled("zendesk")
    await settle()
    assert done.reads == [("zendesk", ["5"])] and done.polls == ["zendesk"] and timers.waiting == [61.0]
    await hooks.close()
