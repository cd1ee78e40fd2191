"""The HTTP surface over real loopback: /metrics (parsed by prometheus_client), /readyz, /api/backlog,
and push-to-poll hooks, against the Zendesk simulator with the store on disk."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backlog_watch.app import Parts, assemble, daemon_hooks, web_state
from backlog_watch.config.models import Config
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.web.hooks import TOKEN_HEADER, Hooks, PollTrigger, Timers
from backlog_watch.web.server import BOARD_CACHE_SECONDS, BoardCache, WebServer
from tests.helpers.config import HOOK_SECRET, web_config
from tests.helpers.timers import ManualTimers
from tests.helpers.waiting import until


class Ticker:
    """Monotonic seconds that move only when the test moves them (the board cache's clock)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


@asynccontextmanager
async def serving(
    config: Config, clock: SimClock, board_clock: Ticker | None = None, timers: Timers | None = None
) -> AsyncIterator[tuple[Parts, httpx.AsyncClient, Hooks]]:
    async with assemble(config, clock=clock.now) as parts:
        parts.daemon.notifiers["console"]._stream = io.StringIO()  # type: ignore[attr-defined]
        hooks = daemon_hooks(parts.daemon, timers)
        state = web_state(config, parts, hooks)
        if board_clock is not None:
            state.board_cache = BoardCache(clock=board_clock)
        server = WebServer("127.0.0.1", 0, state)
        url = await server.start()
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                yield parts, client, hooks
        finally:
            await hooks.close()
            await server.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_expose_kpis_polls_alerts_and_notifications(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="backlog_watch.daemon")
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = web_config(zendesk_sim, tmp_path / "bw.db", warn_above=backlog - 1)
    async with serving(config, sim_clock) as (parts, client, _):
        assert (await parts.daemon.once())[0] == 0
        response = await client.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
    hd = (("helpdesk", "zendesk"),)
    assert found[("backlog_watch_open_tickets", hd)] == backlog
    groups = {labels: v for (name, labels), v in found.items() if name == "backlog_watch_group_open_tickets"}
    assert len(groups) >= 2 and sum(groups.values()) == backlog
    assert found[("backlog_watch_last_success_timestamp_seconds", hd)] == sim_clock.now().timestamp()
    assert found[("backlog_watch_poll_duration_seconds_count", hd)] == 1
    assert found[("backlog_watch_poll_errors_total", hd)] == 0
    assert found[("backlog_watch_helpdesk_up", hd)] == 1
    assert found[("backlog_watch_alerts_firing", (("level", "warn"), ("rule", "backlog-size")))] == 1
    assert found[("backlog_watch_notifications_sent_total", (("notifier", "console"),))] == 1
    assert ("backlog_watch_created_24h", hd) in found and ("backlog_watch_age_p90_hours", hd) in found
    (fired,) = [r for r in caplog.records if r.getMessage().startswith("alert firing")]
    assert (fired.rule, fired.helpdesk) == ("backlog-size", "zendesk")  # type: ignore[attr-defined]


async def test_poll_errors_are_counted(zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path) -> None:
    async with serving(web_config(zendesk_sim, tmp_path / "bw.db"), sim_clock) as (parts, client, _):
        zendesk_sim.fail_next(1, status=401)  # refused at once (a 5xx would be retried with backoff)
        assert not await parts.daemon.poll("zendesk", then_evaluate=False)
        found = samples((await client.get("/metrics")).text)
    assert found[("backlog_watch_poll_errors_total", (("helpdesk", "zendesk"),))] == 1
    assert found[("backlog_watch_helpdesk_up", (("helpdesk", "zendesk"),))] == 0


async def test_readyz_follows_successful_polls(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    async with serving(web_config(zendesk_sim, tmp_path / "bw.db"), sim_clock) as (parts, client, _):
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["helpdesks"]["zendesk"] == "not polled successfully yet"
        await parts.daemon.poll("zendesk", then_evaluate=False)
        assert (await client.get("/readyz")).status_code == 200
        sim_clock.advance(timedelta(minutes=5, seconds=1))  # poll_every 2m: late after 2 x 2m + 1m
        late = await client.get("/readyz")
        assert late.status_code == 503 and "last successful poll" in late.json()["helpdesks"]["zendesk"]


async def test_api_backlog_turns_red_with_a_critical_alert(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = web_config(zendesk_sim, tmp_path / "bw.db", warn_above=backlog - 10, critical_above=backlog - 1)
    ticker = Ticker()
    async with serving(config, sim_clock, board_clock=ticker) as (parts, client, _):
        await parts.daemon.poll("zendesk", then_evaluate=False)
        quiet = (await client.get("/api/backlog")).json()
        assert quiet["status"] == "green" and quiet["helpdesks"][0]["alerts"] == []
        await parts.daemon.evaluate()
        assert (await client.get("/api/backlog")).json() == quiet  # within the cache: the same board
        ticker.seconds += BOARD_CACHE_SECONDS + 0.1  # past the board's cache
        board = (await client.get("/api/backlog")).json()
    (zendesk,) = board["helpdesks"]
    assert board["status"] == zendesk["status"] == "red"
    assert zendesk["open_tickets"] == backlog and zendesk["sparkline"][-1] == backlog
    assert zendesk["alerts"][0]["rule"] == "backlog-size" and zendesk["alerts"][0]["level"] == "critical"
    assert zendesk["oldest"]["url"].startswith(f"{zendesk_sim.url}/agent/tickets/")
    assert zendesk_sim.token not in str(board) and "token" not in str(board)


async def test_a_hook_naming_no_ticket_needs_the_secret_polls_now_and_once_more_after_the_export_lag(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    timers = ManualTimers()
    config = web_config(zendesk_sim, tmp_path / "bw.db")
    async with serving(config, sim_clock, timers=timers) as (parts, client, hooks):
        assert (await client.post("/hooks/zendesk")).status_code == 401
        assert (await client.post("/hooks/zendesk", headers={TOKEN_HEADER: "wrong"})).status_code == 401
        assert (await client.post("/hooks/nope", headers={TOKEN_HEADER: HOOK_SECRET})).status_code == 404
        assert timers.waiting == [] and hooks.trigger.polls_started == 0
        response = await client.post("/hooks/zendesk", headers={"Authorization": f"Bearer {HOOK_SECRET}"})
        assert response.status_code == 202
        assert response.json() == {"helpdesk": "zendesk", "poll": "started", "follow_up_seconds": 61.0}
        await until(lambda: parts.store.poll_status("zendesk").last_success is not None, what="the hook's poll")
        assert parts.store.poll_status("zendesk").last_success == sim_clock.now()
        assert parts.store.count_tickets("zendesk") > 0
        found = samples((await client.get("/metrics")).text)
        assert found[("backlog_watch_hooks_received_total", (("helpdesk", "zendesk"),))] == 1
        assert hooks.trigger.polls_started == 1 and timers.waiting == [61.0]
        sim_clock.advance(61)
        timers.advance(61)
        await until(lambda: parts.store.poll_status("zendesk").last_success == sim_clock.now(), what="the follow-up")
        assert hooks.trigger.polls_started == 2 and hooks.follow_ups_started == 1 and timers.waiting == []


async def test_hooks_are_off_without_a_secret(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    config = web_config(zendesk_sim, tmp_path / "bw.db", hook_secret=None)
    async with serving(config, sim_clock) as (_, client, hooks):
        response = await client.post("/hooks/zendesk", headers={TOKEN_HEADER: HOOK_SECRET})
        assert response.status_code == 404 and "disabled" in response.json()["error"]
        assert hooks.trigger.polls_started == 0


async def test_a_burst_of_hooks_is_one_poll_then_at_most_one_more() -> None:
    release = asyncio.Event()
    polls: list[str] = []

    async def poll(name: str) -> None:
        polls.append(name)
        await release.wait()

    async def idle(name: str) -> None:
        return None

    trigger = PollTrigger(poll, idle)
    assert trigger.trigger("zendesk") is True
    await asyncio.sleep(0)
    assert [trigger.trigger("zendesk") for _ in range(25)] == [False] * 25  # folded into one queued poll
    release.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert polls == ["zendesk", "zendesk"]
    assert trigger.trigger("zendesk") is True  # idle again: the next hook polls at once
    await asyncio.sleep(0)
    await trigger.close()
    assert len(polls) == 3


def test_the_board_cache_holds_a_board_for_its_seconds_by_its_clock() -> None:
    ticker = Ticker()
    cache = BoardCache(seconds=2.0, clock=ticker)
    assert cache.get() is None
    board = cache.put({"status": "green"})
    ticker.seconds += 2.0
    assert cache.get() is board  # still within its two seconds
    ticker.seconds += 0.01
    assert cache.get() is None  # stale: the next request computes it again
