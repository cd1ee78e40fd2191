"""The daemon's evaluation loop: polls that finish together are evaluated once; a storm of paced Slack
messages holds up neither a poll nor the next evaluation, and SIGTERM still stops at once; a resolved
notice says where the scope stands now. Simulated Zendesk, SQLite on disk, real slack-sdk -> stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from backlog_watch.app import assemble
from backlog_watch.cluster import Changes, SoloLeases
from backlog_watch.config import parse_config
from backlog_watch.config.models import Config
from backlog_watch.debounce import Debouncer
from backlog_watch.delivery.notifiers.console import ConsoleNotifier
from backlog_watch.delivery.notifiers.slack import ChannelPacer, SlackNotifier
from backlog_watch.errors import StoreError
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.store.codec import alert_to_json
from backlog_watch.store.leases import ForwardedRequest
from connectors.zendesk import EXPORT_PATH
from tests.helpers.config import console, document, parse, slack, slack_config, threshold, zendesk
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
    later = debouncer.request()
    assert later is not shared[0]  # a later request gets a run of its own (at the next tick)
    debouncer.cancel()


async def test_a_lone_request_does_not_wait_for_the_window() -> None:
    async def action() -> str:
        return "evaluated"

    debouncer = Debouncer(action, lambda: False, window=3600)
    assert await asyncio.wait_for(debouncer.request(), WAIT) == "evaluated"


async def test_runs_are_a_tick_apart_however_often_requests_come() -> None:
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def action() -> None:
        started.append(loop.time())

    debouncer = Debouncer(action, lambda: False, window=0.2)
    await asyncio.wait_for(debouncer.request(), WAIT)
    for _ in range(3):  # changes trickling in one after another
        await asyncio.wait_for(debouncer.request(), WAIT)
    assert len(started) == 4
    gaps = [b - a for a, b in zip(started, started[1:], strict=False)]
    assert all(gap >= 0.2 * 0.99 for gap in gaps), gaps  # one run per tick, not one per request


async def test_the_gap_after_a_run_grows_with_how_long_it_took_up_to_its_bound() -> None:
    """A long evaluation is followed by a gap as long (the evaluator busy half of the time at most, not
    all of it), never longer than ``max_gap``; a quick one by the window."""
    loop = asyncio.get_running_loop()
    spans: list[tuple[float, float]] = []
    takes = iter([0.3, 0.8, 0.0, 0.0])

    async def action() -> None:
        began = loop.time()
        await asyncio.sleep(next(takes))  # the evaluation's own work, as long as it takes
        spans.append((began, loop.time()))

    debouncer = Debouncer(action, lambda: False, window=0.05, max_gap=0.5)
    gaps = []
    for _ in range(4):  # the next request comes as soon as the last run ends: a busy evaluator
        await asyncio.wait_for(debouncer.request(), WAIT)
        gaps.append(debouncer.gap)
    assert gaps[0] >= 0.3 * 0.99 and gaps[1] == 0.5 and gaps[2] == gaps[3] == 0.05, gaps
    waited = [nxt[0] - prev[1] for prev, nxt in zip(spans, spans[1:], strict=False)]
    assert waited[0] >= gaps[0] * 0.99 and waited[1] >= 0.5 * 0.99 and waited[2] >= 0.05 * 0.99, waited


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
            zendesk_sim.solve_ticket(sorted(zendesk_sim.open_ids())[0])
            sim_clock.advance(120)  # past the export's hidden last minute: the next poll stores the change
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


def _polls_and_skips(registry: CollectorRegistry | None, helpdesk: str) -> tuple[float, float]:
    """(polls done, scheduled polls skipped) as /metrics counts them."""
    assert registry is not None
    labels = {"helpdesk": helpdesk}
    done = registry.get_sample_value("backlog_watch_poll_duration_seconds_count", labels) or 0.0
    return done, registry.get_sample_value("backlog_watch_polls_skipped_total", labels) or 0.0


async def test_in_a_storm_the_scheduled_polls_keep_their_pace_and_sigterm_stops_within_five_seconds(
    slack_standin: SlackStandIn, sim_clock: SimClock, tmp_path: Path
) -> None:
    """The storm at Slack's real pace (one message a second): meanwhile the scheduler polls and
    evaluates every second (each run well within that, evaluations blocking the loop included),
    skipping no run; SIGTERM then ends it all within the 5 s bound, the paced send in flight finished
    or left queued, nothing lost."""
    sim_clock.advance(120)
    storm = 12
    async with ZendeskSimulator(seed=7, tickets=300, clock=sim_clock, export_rate_limit=100_000) as sim:
        rules = [threshold(f"r{i:02}", warn_above=1) for i in range(storm)]
        config = parse(
            document(
                db=tmp_path / "bw.db",
                helpdesks=[zendesk(sim, export_requests_per_minute=100_000)],
                notifiers=[slack(slack_standin)],
                notify=["slack"],
                rules=rules,
            ),
            "storm.yaml",
        )
        loop = asyncio.get_running_loop()
        async with assemble(config, clock=sim_clock.now) as parts:
            daemon = parts.daemon
            daemon.evaluate_every = 1.0
            daemon.start({"zendesk": 1.0})
            try:
                await until(lambda: len(slack_standin.messages("#support")) >= 2)  # the storm is on, paced
                polls, skipped = _polls_and_skips(parts.registry, "zendesk")  # the first, full sync may skip one
                evaluations = daemon.evaluations
                await until(
                    lambda: (
                        _polls_and_skips(parts.registry, "zendesk")[0] >= polls + 4
                        and daemon.evaluations >= evaluations + 3
                    )
                )
                assert len(slack_standin.messages("#support")) < storm  # all that while, still storming
                assert _polls_and_skips(parts.registry, "zendesk")[1] == skipped  # none during the storm
                daemon.request_stop()
                stopping = loop.time()
                await daemon.shutdown()
                took = loop.time() - stopping
            finally:
                await daemon.shutdown()
            sent = len(slack_standin.messages("#support"))
            queued = parts.store.query("SELECT count(*) FROM outbox WHERE notifier = 'slack'")[0][0]
    assert took <= 5.0
    assert sent + queued == storm and queued > 0  # every alert told or waiting for the next start


async def test_a_poll_stuck_past_its_interval_is_counted_as_skipped(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    """What operators watch for: a skipped scheduled poll is counted in /metrics, per helpdesk."""
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "stuck.yaml", unlimited=True)  # polled every 0.1 s as asked
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        stuck = asyncio.Event()
        never = asyncio.Event()

        async def sleep(seconds: float) -> None:  # the retry's backoff never ends
            stuck.set()
            await never.wait()

        parts.connectors["zendesk"].sleep = sleep  # type: ignore[attr-defined]
        zendesk_sim.fail_next(1, 503)
        daemon.start({"zendesk": 0.1})
        try:
            await asyncio.wait_for(stuck.wait(), WAIT)
            await until(lambda: _polls_and_skips(parts.registry, "zendesk")[1] >= 2)
            assert daemon.skipped_polls["zendesk"] >= 2
            assert _polls_and_skips(parts.registry, "zendesk")[0] == 0  # the stuck one never ended
        finally:
            await daemon.shutdown()


async def test_a_scheduled_poll_does_not_wait_for_the_evaluation_it_asks_for(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    """An evaluation held up (here: its lock held) holds up no poll: the scheduler skips none."""
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "held.yaml", unlimited=True)
    zendesk_sim.export_window.limit = 100_000
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        try:
            async with daemon._eval_lock:  # the evaluation the first poll asks for cannot run
                daemon.start({"zendesk": 0.2})
                await until(lambda: _polls_and_skips(parts.registry, "zendesk")[0] >= 1)
                _, skipped = _polls_and_skips(parts.registry, "zendesk")  # the first, full sync may skip one
                await until(lambda: _polls_and_skips(parts.registry, "zendesk")[0] >= 6)
                assert daemon.evaluations == 0
                assert _polls_and_skips(parts.registry, "zendesk")[1] == skipped
            await until(lambda: bool(parts.store.load_alerts()))  # released: the evaluation asked for runs
            assert daemon.evaluations == 1
        finally:
            daemon.request_stop()
        await daemon.shutdown()
        assert parts.store.load_alerts()


async def test_polls_asked_faster_than_the_export_allows_keep_the_pace_it_allows_and_skip_none(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bench's storm skipped two polls a minute with no storm at all: it polled every 5 s while the
    client keeps Zendesk's export at 10 requests a minute, so every poll past the tenth waited out the
    window and the scheduler skipped the next. The daemon schedules such a helpdesk at the pace its own
    limit allows (said once), and skips none. The limit is scaled here to 5 requests a second (its margin
    to 0.1 s)."""
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "paced.yaml")
    zendesk_sim.export_window.limit = 100_000
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        connector = parts.connectors["zendesk"]
        connector.request_rate = lambda path: (5, 1.0) if path == EXPORT_PATH else None  # type: ignore[method-assign]
        connector.rate_limit_margin = 0.1  # type: ignore[misc]
        connector.clock = time.monotonic  # type: ignore[attr-defined]  # the limit in real time, as the scheduler
        daemon.start({"zendesk": 0.05})  # four times what the limit allows
        try:
            await until(lambda: _polls_and_skips(parts.registry, "zendesk")[0] >= 1)
            _, skipped = _polls_and_skips(parts.registry, "zendesk")  # the first, full sync may skip one
            await until(lambda: _polls_and_skips(parts.registry, "zendesk")[0] >= 12)  # two windows' worth
            assert _polls_and_skips(parts.registry, "zendesk")[1] == skipped
            job = daemon.scheduler.get_job("poll:zendesk") if daemon.scheduler else None
            assert job is not None and job.trigger.interval.total_seconds() == pytest.approx(0.22)
        finally:
            await daemon.shutdown()
    said = [r.getMessage() for r in caplog.records if "shorter than its rate limit allows" in r.getMessage()]
    assert said == [
        "poll_every 0.05s is shorter than its rate limit allows (each poll asks the change stream at least once): "
        "polling every 0.2s"
    ]


async def test_an_idle_poll_asks_for_no_evaluation_and_a_changing_one_does(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "idle.yaml")
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        assert await daemon.poll("zendesk")  # the first poll stores the backlog
        assert daemon.evaluations == 1
        for _ in range(3):
            sim_clock.advance(60)
            assert await daemon.poll("zendesk")  # nothing changed at the helpdesk
        assert daemon.evaluations == 1
        zendesk_sim.fail_next(1000, 503)
        parts.connectors["zendesk"].sleep = _no_wait  # type: ignore[attr-defined]
        assert not await daemon.poll("zendesk")  # an outage begins: helpdesk-down must know
        assert daemon.evaluations == 2
        assert not await daemon.poll("zendesk")  # it goes on: the periodic evaluation times it
        assert daemon.evaluations == 2
        zendesk_sim.faults.clear()
        assert await daemon.poll("zendesk")  # it ends
        assert daemon.evaluations == 3
        zendesk_sim.solve_ticket(sorted(zendesk_sim.open_ids())[0])
        sim_clock.advance(120)
        assert await daemon.poll("zendesk")  # a ticket changed
        assert daemon.evaluations == 4
        assert parts.store.poll_status("zendesk").last_success == sim_clock.now()


async def test_an_evaluation_left_waiting_for_the_lock_at_sigterm_measures_nothing(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    """At 500 helpdesks a periodic evaluation waiting behind a running one started after SIGTERM and took
    seconds more: one that gets the lock once the daemon is stopping asks no rule and writes nothing."""
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "waiting.yaml")
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        assert await daemon.poll("zendesk")  # stored and evaluated: the rule fires
        stored = parts.store.load_alerts()
        assert [a.rule for a in stored.values()] == ["backlog-size"]
        async with daemon._eval_lock:  # an evaluation is running
            waiting = asyncio.ensure_future(daemon.assess())
            await asyncio.sleep(0)
            daemon.request_stop()  # SIGTERM
        evaluation = await asyncio.wait_for(waiting, WAIT)
        assert evaluation.findings == [] and evaluation.alerts == stored
        assert parts.store.load_alerts() == stored


class Held:
    """A snapshot's query whose first question waits for ``go_on`` (an evaluation running at SIGTERM)."""

    def __init__(self, query: Any, asked: threading.Event, go_on: threading.Event) -> None:
        self.query, self.asked, self.go_on = query, asked, go_on

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.query, name)

        def held(*args: Any, **kwargs: Any) -> Any:
            self.asked.set()
            self.go_on.wait(WAIT)
            return method(*args, **kwargs)

        return held


async def test_sigterm_cuts_the_running_evaluation_at_once(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    """At 500 helpdesks the evaluation running at SIGTERM had the whole grace to measure every rule, then
    wrote thousands of alerts: the shutdown cuts it at once, and it writes nothing (the next start
    evaluates again)."""
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "cut.yaml")
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        assert await daemon.poll("zendesk", then_evaluate=False)
        asked, go_on = threading.Event(), threading.Event()
        taken = daemon.snapshot
        daemon.snapshot = lambda *args: replace(taken(*args), query=Held(taken(*args).query, asked, go_on))  # type: ignore[method-assign]
        running = asyncio.ensure_future(daemon.assess())
        assert await asyncio.to_thread(asked.wait, WAIT)  # measuring
        await daemon.shutdown()  # SIGTERM (this test's task is the poll's job: the shutdown is run from it)
        go_on.set()
        evaluation = await asyncio.wait_for(running, WAIT)
        assert [f.rule for f in evaluation.findings] == ["backlog-size"]  # the rule it was measuring ended
        assert parts.store.load_alerts() == {}  # cut before its writes


async def _no_wait(seconds: float) -> None:
    """A retry's backoff, passed at once."""


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


async def test_the_evaluator_reads_the_alerts_table_once_per_term_and_again_after_a_failed_save(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    """The evaluator is the alerts table's one writer: it keeps what it saved and reads the table only
    at its first evaluation, when its term changes (a new fencing token: another replica may have
    written between) or after a save that failed; it writes only the alerts that changed."""
    sim_clock.advance(120)
    config = _one_zendesk(zendesk_sim, tmp_path, "memory.yaml")
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon, store = parts.daemon, parts.store
        loads: list[int] = []
        saved: list[int] = []
        load, save = store.load_alerts, store.save_alerts
        store.load_alerts = lambda: loads.append(1) or load()  # type: ignore[method-assign, func-returns-value]

        def counting_save(alerts: Any, stored: Any = None, encode: Any = alert_to_json) -> None:
            saved.append(len([a for fp, a in alerts.items() if stored is None or stored.get(fp) != a]))
            save(alerts, stored, encode)

        store.save_alerts = counting_save  # type: ignore[method-assign]
        with contextlib.redirect_stdout(io.StringIO()):
            assert await daemon.poll("zendesk", then_evaluate=False)
            first = await daemon.evaluate()
            for _ in range(2):
                sim_clock.advance(30)
                again = await daemon.evaluate()
        assert first.findings and len(loads) == 1  # read once, at the first evaluation
        assert saved == [len(first.alerts), 0, 0]  # then nothing changed: nothing written
        assert load() == again.alerts  # what it kept is what the table holds
        daemon._fence_token = lambda: 7  # type: ignore[method-assign]  # a new term
        await daemon.assess()
        assert len(loads) == 2
        await daemon.assess()
        assert len(loads) == 2

        def failing(alerts: Any, stored: Any = None, encode: Any = None) -> None:
            raise StoreError("the disk is full")

        store.save_alerts = failing  # type: ignore[method-assign]
        with contextlib.suppress(StoreError):
            await daemon.assess()
        store.save_alerts = counting_save  # type: ignore[method-assign]
        await daemon.assess()
        assert len(loads) == 3  # a failed save leaves the table unknown: read again


class _Forwarding(SoloLeases):
    """Solo leases with a keeper interval, counting its ticks, with work forwarded to them by the test."""

    interval = 3600.0  # no tick is due during the test but the first

    def __init__(self, replica: str, helpdesks: list[str]) -> None:
        super().__init__(replica, helpdesks)
        self.ticks = 0
        self.forwarded: list[ForwardedRequest] = []

    def tick(self, busy: Any = None) -> Changes:
        self.ticks += 1
        return Changes()

    def take_requests(self) -> list[ForwardedRequest]:
        taken, self.forwarded = self.forwarded, []
        return taken


async def test_forwarded_work_is_taken_when_nudged_without_a_whole_lease_tick(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    """Every forward wakes every replica's keeper: it takes the work forwarded (here an evaluation) at
    once, and leaves renewing and rebalancing the leases to the ticks on their interval."""
    config = _one_zendesk(zendesk_sim, tmp_path, "nudge.yaml")
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        leases = daemon.leases = _Forwarding("r1", ["zendesk"])
        keeper = asyncio.create_task(daemon._keep_leases(leases.interval))
        try:
            await until(lambda: leases.ticks == 1, what="the keeper's first tick")
            for kind in ("evaluate", "evaluate"):
                before = daemon.evaluations
                leases.forwarded.append(ForwardedRequest(kind, ""))
                daemon._nudged.set()
                await until(lambda before=before: daemon.evaluations > before, what="the forwarded evaluation")
            assert leases.ticks == 1 and not leases.forwarded
        finally:
            daemon.request_stop()
            daemon._nudged.set()
            await asyncio.wait_for(keeper, WAIT)
            await daemon.settled()


def _one_zendesk(sim: ZendeskSimulator, tmp_path: Path, filename: str, *, unlimited: bool = False) -> Config:
    """The simulated Zendesk, a store on disk, the console and one rule warning above 1 ticket; with
    ``unlimited`` the export's limit lifted, so a poll asked every 0.1 s is polled that often."""
    limits = {"export_requests_per_minute": 100_000} if unlimited else {}
    return parse(
        document(
            db=tmp_path / "bw.db",
            helpdesks=[zendesk(sim, **limits)],
            notifiers=[console()],
            rules=[threshold(warn_above=1)],
        ),
        filename,
    )
