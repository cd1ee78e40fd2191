"""Two replicas of the daemon on the real PostgreSQL, in one process (the chaos test runs processes):
each built as ``run`` builds it (``assemble(..., replicas=True)``), its lease keeper ticked by the test.
A hook on the replica that does not poll the helpdesk is forwarded to the one that does; /readyz says
who holds what; a new evaluator re-sends what the dead one claimed and never recorded, once, saying so;
a stale evaluator writes nothing; a clean stop hands everything over."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from backlog_watch.app import Parts, assemble, daemon_hooks, web_state
from backlog_watch.chatops.actions import AlertActions, AlertReference
from backlog_watch.cluster import EVALUATOR, PostgresLeases
from backlog_watch.errors import LeaseLost
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.store.leases import fenced
from backlog_watch.web.hooks import TOKEN_HEADER, Hooks
from backlog_watch.web.server import WebServer
from tests.helpers.config import HOOK_SECRET, document, dump, parse, slack, threshold, zendesk
from tests.helpers.postgres import lease_expiries
from tests.helpers.waiting import until
from tests.store.test_leases import lapse_in


@dataclass
class Replica:
    name: str
    parts: Parts
    client: httpx.AsyncClient
    hooks: Hooks

    @property
    def leases(self) -> PostgresLeases:
        assert isinstance(self.parts.daemon.leases, PostgresLeases)
        return self.parts.daemon.leases

    async def tick(self) -> None:
        await self.parts.daemon.lease_tick()
        await self.parts.daemon.settled()


@asynccontextmanager
async def replica(
    name: str,
    pg_url: str,
    sim: ZendeskSimulator,
    standin: SlackStandIn,
    clock: SimClock,
    warn_above: int,
    ttl: str = "3s",
) -> AsyncIterator[Replica]:
    doc = {
        "store": pg_url,
        **document(
            helpdesks=[zendesk(sim)],
            notifiers=[slack(standin)],
            notify=["slack"],
            rules=[threshold(warn_above=warn_above)],
            http={"listen": "127.0.0.1:0", "hook_secret": HOOK_SECRET},
            evaluate_every="1h",
            cluster={"lease_ttl": ttl, "replica_id": name},
        ),
    }
    config = parse(dump(doc), f"{name}.yaml")
    async with assemble(config, clock=clock.now, replicas=True) as parts:
        hooks = daemon_hooks(parts.daemon)
        server = WebServer("127.0.0.1", 0, web_state(config, parts, hooks))
        url = await server.start()
        try:
            async with httpx.AsyncClient(base_url=url, headers={TOKEN_HEADER: HOOK_SECRET}) as client:
                yield Replica(name, parts, client, hooks)
        finally:
            await hooks.close()
            await parts.daemon.settled()
            await server.stop()


@asynccontextmanager
async def two_replicas(
    pg_url: str,
    sim: ZendeskSimulator,
    standin: SlackStandIn,
    clock: SimClock,
    warn_above: int,
    ttl: str = "3s",
    *,
    tick: bool = True,
) -> AsyncIterator[tuple[Replica, Replica]]:
    """Replicas a and b; with ``tick``, a comes first: the helpdesk and the evaluator are its (and it
    polls, evaluates at once), then b ticks and finds nothing to take."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(replica("a", pg_url, sim, standin, clock, warn_above, ttl))
        b = await stack.enter_async_context(replica("b", pg_url, sim, standin, clock, warn_above, ttl))
        if tick:
            await a.tick()
            await b.tick()
        yield a, b


async def test_a_hook_on_the_other_replica_is_forwarded_to_the_one_polling_and_readyz_says_who_holds_what(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, backlog) as (a, b):
        store = a.parts.store
        assert a.leases.holds("helpdesk:zendesk") and a.leases.holds(EVALUATOR)
        assert not b.leases.holds("helpdesk:zendesk") and not b.leases.holds(EVALUATOR)
        assert store.poll_status("zendesk").last_success is not None  # a polled when it took the lease
        cursor = store.cursor("zendesk")
        for r in (a, b):
            ready = await r.client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["replica"] == r.name
            assert ready.json()["leases"] == {"helpdesks": {"zendesk": "a"}, "evaluator": "a"}
        board = (await b.client.get("/api/backlog")).json()
        assert board["cluster"] == {"replica": "b", "leases": {"helpdesks": {"zendesk": "a"}, "evaluator": "a"}}
        assert await b.parts.daemon.poll("zendesk")  # b's scheduled poll: not its helpdesk, nothing done
        assert store.cursor("zendesk") == cursor

        ticket = zendesk_sim.create_ticket(status="open", priority="urgent", subject="Checkout is down")
        response = await b.client.post("/hooks/zendesk", json={"ticket_id": ticket["id"]})
        assert response.status_code == 202
        await b.hooks.settled("zendesk")
        assert str(ticket["id"]) not in {t.id for t in store.tickets(["zendesk"])}  # b only forwarded it
        with psycopg.connect(pg_url) as db:
            assert db.execute("SELECT kind, helpdesk, requested_by FROM poll_requests").fetchall() == [
                ("poll", "zendesk", "b")
            ]
        assert slack_standin.messages("#support") == []
        await a.tick()  # a takes the forwarded hook at its next tick: read, stored, evaluated, sent
        await a.hooks.settled("zendesk")
        await a.parts.daemon.settled()
        assert str(ticket["id"]) in {t.id for t in store.tickets(["zendesk"])}
        assert store.cursor("zendesk") == cursor  # read by id: the export still owes it
        (message,) = slack_standin.messages("#support")
        assert f"{backlog + 1} open" in message.text
        with psycopg.connect(pg_url) as db:
            assert db.execute("SELECT count(*) FROM poll_requests").fetchone() == (0,)

        asked = len(zendesk_sim.requests)
        assert (await b.client.post("/hooks/zendesk")).json()["poll"] == "started"  # names no ticket: poll now
        await b.hooks.trigger.settled("zendesk")
        assert not any("incremental" in r.path for r in zendesk_sim.requests[asked:])  # b did not poll
        await a.tick()
        await a.hooks.trigger.settled("zendesk")
        assert any("incremental" in r.path for r in zendesk_sim.requests[asked:])  # a did


async def test_an_acknowledgement_clicked_on_the_other_replica_is_delivered_by_the_evaluator(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, 1) as (a, b):
        store = a.parts.store
        (message,) = slack_standin.messages("#support")  # a polled, evaluated and sent when it took over
        (alert,) = [x for x in store.load_alerts().values() if x.firing_since is not None]
        assert alert.firing_since is not None
        actions = AlertActions(b.parts.daemon, {}, ZoneInfo("UTC"))
        outcome = await actions.acknowledge(AlertReference(alert.fingerprint, alert.firing_since), "alice")
        assert outcome.audience == "parent"
        assert [r.reason for r in store.outbox_rows()] == ["acknowledged"]  # queued by b, not sent by it
        assert not slack_standin.messages("#support")[0].edited
        await a.tick()  # the evaluator takes b's request at its tick and sends what b queued
        assert store.outbox_rows() == []
        (edited,) = slack_standin.messages("#support")
        assert edited.ts == message.ts and edited.edited and "alice" in str(edited.blocks)


async def test_a_new_evaluator_resends_what_the_dead_one_claimed_once_and_says_so(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    pg_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, backlog) as (a, b):
        store = a.parts.store
        assert slack_standin.messages("#support") == []
        zendesk_sim.create_ticket(status="open", priority="urgent", subject="one more")
        sim_clock.advance(120)
        assert await a.parts.daemon.poll("zendesk", then_evaluate=False)
        await a.parts.daemon.assess()  # the alert fires and its news is queued; a dies as it sends it:
        (row,) = store.outbox_rows()
        fence = a.leases.fence(EVALUATOR)
        assert fence is not None
        with fenced(fence):
            assert store.outbox_claim([row.id], "a") == {row.id: None}
        lapse_in(pg_url)("a")
        caplog.set_level(logging.INFO)
        await b.tick()  # b takes the evaluator (and the helpdesk) over: evaluates, delivers
        assert b.leases.holds(EVALUATOR) and b.leases.holds("helpdesk:zendesk")
        (message,) = slack_standin.messages("#support")  # the one send a may have made is re-sent, once
        assert f"{backlog + 1} open" in message.text
        assert store.outbox_rows() == []
        warning = next(r for r in caplog.records if "redelivering outbox row" in r.getMessage())
        assert warning.levelno == logging.WARNING
        assert f"row {row.id}" in warning.getMessage() and row.fingerprint in warning.getMessage()
        assert "a claimed it" in warning.getMessage()
        metrics = (await b.client.get("/metrics")).text
        assert "backlog_watch_redeliveries_total 1.0" in metrics
        assert "backlog_watch_lease_takeovers_total 2.0" in metrics
        assert 'backlog_watch_leases_held{kind="evaluator"} 1.0' in metrics
        assert "lease acquired evaluator token=" in caplog.text

        # a wakes up: its evaluation is refused, written nowhere, and it stops believing it evaluates
        alerts = store.load_alerts()
        assert a.leases.holds(EVALUATOR)  # its own clock has not run out yet
        assert await a.parts.daemon.guarded(a.parts.daemon.evaluate()) is None
        assert not a.leases.holds(EVALUATOR) and store.load_alerts() == alerts
        assert "is no longer held by a" in caplog.text
        with pytest.raises(LeaseLost):
            await a.parts.daemon.assess()
        assert len(slack_standin.messages("#support")) == 1


async def test_a_clean_stop_hands_the_work_over_at_the_next_tick(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, 10_000) as (a, b):
        await a.parts.daemon.shutdown()  # SIGTERM
        assert not a.leases.holds(EVALUATOR)
        with psycopg.connect(pg_url) as db:
            assert db.execute("SELECT count(*) FROM leases WHERE expires_at > now()").fetchone() == (0,)
        await b.tick()  # no TTL to wait for
        assert b.leases.holds(EVALUATOR) and b.leases.holds("helpdesk:zendesk")
        assert (await b.client.get("/readyz")).json()["leases"] == {"helpdesks": {"zendesk": "b"}, "evaluator": "b"}


async def test_a_running_replica_takes_a_forwarded_hook_at_once_not_at_its_next_tick(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, 10_000, "60s", tick=False) as (a, b):
        store = a.parts.store
        a.parts.daemon.start({})  # its keeper ticks now, then every 20 s, and listens for forwarded work
        try:
            await until(lambda: store.poll_status("zendesk").last_success is not None, what="a's first poll")
            await b.tick()
            assert not b.leases.holds("helpdesk:zendesk")
            ticket = zendesk_sim.create_ticket(status="open", subject="forwarded at once")
            assert (await b.client.post("/hooks/zendesk", json={"ticket_id": ticket["id"]})).status_code == 202
            await until(
                lambda: str(ticket["id"]) in {t.id for t in store.tickets(["zendesk"])},
                timeout=10,  # a's next tick is 20 s away: only the NOTIFY brings it this soon
                what="the forwarded hook's ticket in the store",
            )
        finally:
            await a.parts.daemon.shutdown()  # SIGTERM: its leases are given up at once
        assert b.leases.holders() == {"helpdesks": {"zendesk": None}, "evaluator": None}


async def test_a_scheduled_report_is_sent_by_the_evaluator_only(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    sent: list[str] = []

    def report(by: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            sent.append(by)

        return job

    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, 10_000) as (a, b):
        for r in (a, b):  # the cron trigger fires on every replica at the same minute
            await r.parts.daemon._cron_job(report(r.name))
    assert sent == ["a"]


def poll_jobs(r: Replica) -> dict[str, float]:
    """The poll jobs in a replica's scheduler: helpdesk -> seconds until its next run."""
    scheduler = r.parts.daemon.scheduler
    assert scheduler is not None
    now = datetime.now(UTC)
    return {
        job.id.removeprefix("poll:"): (job.next_run_time - now).total_seconds()
        for job in scheduler.get_jobs()
        if job.id.startswith("poll:")
    }


async def test_a_replica_schedules_the_polls_of_the_helpdesks_it_holds_only(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, 10_000, "60s", tick=False) as (a, b):
        store = a.parts.store
        await a.tick()  # a holds the helpdesk
        b.parts.daemon.start({"zendesk": 120})  # its keeper ticks now, then every 20 s
        try:
            await until(lambda: b.leases.live == 2, what="b's first tick")
            assert poll_jobs(b) == {}  # not its helpdesk: no job at all, not one that skips
            polled = store.poll_status("zendesk").last_success
            lapse_in(pg_url)("a")  # a stopped past its TTL
            sim_clock.advance(60)
            await b.tick()  # b takes the helpdesk over: it polls at once, and the next poll is an interval on
            assert b.leases.holds("helpdesk:zendesk")
            assert list(poll_jobs(b)) == ["zendesk"] and 100 < poll_jobs(b)["zendesk"] <= 120
            assert store.poll_status("zendesk").last_success != polled
            lapse_in(pg_url)("b")  # now b stops renewing, and a takes the helpdesk back
            await a.tick()
            assert a.leases.holds("helpdesk:zendesk")
            await b.tick()  # b learns it lost the lease: its job goes
            assert not b.leases.holds("helpdesk:zendesk") and poll_jobs(b) == {}
        finally:
            await b.parts.daemon.shutdown()


async def test_an_event_loop_held_up_past_the_ttl_loses_no_lease(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, sim_clock: SimClock, pg_url: str
) -> None:
    sim_clock.advance(120)
    async with two_replicas(pg_url, zendesk_sim, slack_standin, sim_clock, 10_000, "2s", tick=False) as (a, b):
        a.parts.daemon.start({"zendesk": 120})
        try:
            await until(lambda: a.leases.holds("helpdesk:zendesk") and a.leases.holds(EVALUATOR), what="a's leases")
            await a.parts.daemon.settled()
            held = lease_expiries(pg_url, "a")
            assert set(held) == {"helpdesk:zendesk", EVALUATOR}
            # Hold the event loop up (as a long evaluation on it did): no tick runs until the leases a
            # last ticked have expired by the database's clock and the renewing thread renewed them since.
            blocked = time.monotonic()
            while not (
                time.monotonic() > blocked + 2
                and all(at > held[lease] + 2 for lease, at in lease_expiries(pg_url, "a").items())
            ):
                assert time.monotonic() < blocked + 30, "the leases were not renewed while the loop was held up"
            assert lease_expiries(pg_url, "a").keys() == held.keys()  # every lease still a's
            assert a.leases.holds("helpdesk:zendesk") and a.leases.holds(EVALUATOR)
            await b.tick()
            assert not b.leases.holds("helpdesk:zendesk") and not b.leases.holds(EVALUATOR)  # nothing to take
            changes = a.leases.tick()
            assert changes.lost == [] and changes.acquired == []
        finally:
            await a.parts.daemon.shutdown()
