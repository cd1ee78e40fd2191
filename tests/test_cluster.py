"""Replicas sharing the work (cluster.py) on the real PostgreSQL, in one process: each replica is a
``PostgresLeases`` over its own connection pool, ticked by the test (no clock is waited for: a replica
that stops renewing is simulated by expiring its rows, or by advancing its own monotonic clock)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backlog_watch.cluster import EVALUATOR, PostgresLeases, SoloLeases, default_replica_id, helpdesk_lease, leases_for
from backlog_watch.config import parse_config
from backlog_watch.errors import ConfigError, LeaseLost
from backlog_watch.store.leases import fenced
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.postgres.schema import MIGRATIONS
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import ticket
from tests.helpers.postgres import lease_expiries
from tests.store.test_leases import lapse_in

HELPDESKS = ["alpha", "bravo", "charlie", "delta"]
TTL = 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    yield a, b
    a.close()
    b.close()


def replica(store: PostgresStore, name: str, clock: Clock | None = None) -> PostgresLeases:
    return PostgresLeases(store.lease_table(name, TTL), HELPDESKS, clock or Clock())


def helpdesks_of(leases: PostgresLeases) -> list[str]:
    return [h for h in HELPDESKS if leases.holds(helpdesk_lease(h))]


def test_two_replicas_share_four_helpdesks_two_each_and_one_evaluator(
    stores: tuple[PostgresStore, PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backlog_watch.cluster")
    a, b = replica(stores[0], "a"), replica(stores[1], "b")
    first = a.tick()  # alone: everything is its share
    assert helpdesks_of(a) == HELPDESKS and a.holds(EVALUATOR)
    assert {c.lease for c in first.acquired} == {EVALUATOR, *(helpdesk_lease(h) for h in HELPDESKS)}
    assert "lease acquired evaluator token=" in caplog.text and "lease acquired helpdesk=alpha token=" in caplog.text
    b.tick()  # b joins: its share is 2, but a still holds all four
    assert helpdesks_of(b) == [] and not b.holds(EVALUATOR)
    shed = a.tick()  # a sheds its surplus at its next tick...
    assert len(shed.released) == 2 and len(helpdesks_of(a)) == 2
    handed = b.tick()  # ...and b takes it at its own
    assert [(c.previous, c.takeover) for c in handed.acquired] == [("a", False)] * 2
    assert "(handed over by a)" in caplog.text
    assert sorted(helpdesks_of(a) + helpdesks_of(b)) == HELPDESKS and len(helpdesks_of(b)) == 2
    assert a.holds(EVALUATOR) and not b.holds(EVALUATOR)
    view = b.holders()
    assert view == a.holders()
    assert view["evaluator"] == "a"
    assert view["helpdesks"] == {
        **dict.fromkeys(helpdesks_of(a), "a"),
        **dict.fromkeys(helpdesks_of(b), "b"),
    }
    for _ in range(3):  # stable: renewals change nothing
        assert a.tick().acquired == [] and b.tick().acquired == []
    assert len(helpdesks_of(a)) == len(helpdesks_of(b)) == 2


def test_a_replica_that_stops_renewing_is_taken_over_with_bigger_tokens(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = replica(stores[0], "a"), replica(stores[1], "b")
    a.tick()
    b.tick()
    a.tick()
    b.tick()
    before = {lease: fence.token for lease in map(helpdesk_lease, helpdesks_of(a)) if (fence := a.fence(lease))}
    evaluator = a.fence(EVALUATOR)
    assert evaluator is not None and len(before) == 2
    caplog.set_level(logging.INFO, logger="backlog_watch.cluster")
    lapse_in(pg_url)("a")  # a stopped (SIGSTOP, kill -9): its TTL ran out
    changes = b.tick()
    assert helpdesks_of(b) == HELPDESKS and b.holds(EVALUATOR)
    taken = {c.lease: c for c in changes.acquired}
    assert set(taken) == {*before, EVALUATOR}
    assert all(taken[lease].token > token and taken[lease].takeover for lease, token in before.items())
    assert {c.previous for c in changes.acquired if c.takeover} == {"a"}  # each of them taken from a, by expiry
    assert taken[EVALUATOR].token > evaluator.token
    assert "lease acquired evaluator token=" in caplog.text and "(taken over from a)" in caplog.text
    # a wakes up still believing it holds its leases: its first write is refused, and it learns
    stale = a.fence(helpdesk_lease(helpdesks_of(a)[0]))
    assert stale is not None
    with fenced(stale), pytest.raises(LeaseLost):
        stores[0].commit_page(stale.lease.removeprefix("helpdesk:"), [ticket()], "stale")
    lost = a.tick()
    assert set(lost.lost) == {*before, EVALUATOR} and helpdesks_of(a) == [] and not a.holds(EVALUATOR)
    assert "lease lost helpdesk=" in caplog.text and "lease lost evaluator" in caplog.text


def test_a_replica_cut_off_from_the_database_stops_using_its_leases_after_the_ttl(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    clock = Clock()
    a = replica(stores[0], "a", clock)
    a.tick()
    assert a.holds(EVALUATOR) and a.fence(EVALUATOR) is not None
    clock.now += TTL - 0.1
    assert a.holds(EVALUATOR)
    clock.now += 0.2  # no renewal for a whole TTL: another replica may hold it by now
    assert not a.holds(EVALUATOR) and a.fence(EVALUATOR) is None and helpdesks_of(a) == []


def test_exactly_one_evaluator_among_replicas_starting_together(pg_url: str) -> None:
    opened = [PostgresStore(pg_url) for _ in range(3)]
    try:
        replicas = [replica(store, f"r{i}") for i, store in enumerate(opened)]
        for leases in replicas:
            leases.table.heartbeat()  # all three alive before any takes anything
        for leases in replicas:
            leases.tick()
        assert [leases.holds(EVALUATOR) for leases in replicas] == [True, False, False]
        assert all(len(helpdesks_of(leases)) <= 2 for leases in replicas)  # ceil(4 / 3)
        held = [h for leases in replicas for h in helpdesks_of(leases)]
        assert sorted(held) == HELPDESKS  # each helpdesk polled by one replica exactly
    finally:
        for store in opened:
            store.close()


def test_a_clean_stop_hands_everything_over_at_the_next_tick(stores: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = replica(stores[0], "a"), replica(stores[1], "b")
    a.tick()
    b.tick()
    a.leave()  # SIGTERM: no TTL to wait for
    assert not a.holds(EVALUATOR)
    b.tick()
    assert b.holds(EVALUATOR) and helpdesks_of(b) == HELPDESKS


def test_two_replicas_migrating_at_once_both_open_the_store(pg_url: str) -> None:
    opened: list[PostgresStore] = []
    failed: list[BaseException] = []
    start = threading.Barrier(2)

    def open_one() -> None:
        start.wait()
        try:
            opened.append(PostgresStore(pg_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert failed == [] and len(opened) == 2
        assert {store.schema_version for store in opened} == {len(MIGRATIONS)}
        with psycopg.connect(pg_url) as db:
            assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
            assert db.execute("SELECT to_regclass('leases') IS NOT NULL").fetchone() == (True,)
    finally:
        for store in opened:
            store.close()


def test_sqlite_and_once_get_solo_leases_that_hold_everything_unfenced(pg_url: str, tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path / "bw.db")
    shared = PostgresStore(pg_url)
    try:
        solo = leases_for(sqlite, HELPDESKS, replica="one", shared=True)
        assert isinstance(solo, SoloLeases) and solo.holds(EVALUATOR) and solo.fence(EVALUATOR) is None
        assert solo.holders() == {"helpdesks": dict.fromkeys(HELPDESKS, "one"), "evaluator": "one"}
        assert isinstance(leases_for(shared, HELPDESKS, shared=False), SoloLeases)  # once, dry runs
        real = leases_for(shared, HELPDESKS, replica="r1", ttl=5.0, shared=True)
        assert isinstance(real, PostgresLeases) and real.replica == "r1" and real.interval == pytest.approx(5 / 3)
    finally:
        sqlite.close()
        shared.close()


def test_the_replica_id_defaults_to_the_environment_then_host_and_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLOG_WATCH_REPLICA", "replica-7")
    assert default_replica_id() == "replica-7"
    monkeypatch.delenv("BACKLOG_WATCH_REPLICA")
    assert default_replica_id() == f"{socket.gethostname()}-{os.getpid()}"


CLUSTERED = """\
store: postgresql://bw@db.internal/backlog
cluster:
  lease_ttl: {ttl}
  replica_id: {replica}
helpdesks:
  - {{name: zendesk, type: zendesk, url: "https://a.zendesk.com", email: a@b.c, token: t}}
rules:
  - {{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 50}}
"""


def test_the_cluster_block_sets_the_ttl_and_the_replica_id() -> None:
    config = parse_config(CLUSTERED.format(ttl="3s", replica="bw-1"), "bw.yaml", env={})
    assert config.cluster.lease_ttl.total_seconds() == 3 and config.cluster.replica_id == "bw-1"
    text = CLUSTERED.format(ttl="3s", replica="bw-1")
    default = parse_config(text.split("cluster:")[0] + "helpdesks:" + text.split("helpdesks:")[1], "x", env={})
    assert default.cluster.lease_ttl.total_seconds() == 30 and default.cluster.replica_id is None


@pytest.mark.parametrize(
    ("ttl", "replica", "said"),
    [
        ("0.5s", "bw-1", "bw.yaml:3: cluster.lease_ttl: must be at least 1s"),
        ("3s", '"bw 1"', "bw.yaml:4: cluster.replica_id"),
    ],
)
def test_a_bad_cluster_block_is_refused_naming_its_line_and_key(ttl: str, replica: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CLUSTERED.format(ttl=ttl, replica=replica), "bw.yaml", env={})
    assert any(p.startswith(said) for p in caught.value.problems), caught.value.problems


def test_renewing_between_ticks_keeps_every_lease_past_the_ttl_and_takes_or_loses_none(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    clock = Clock()
    a, b = replica(stores[0], "a", clock), replica(stores[1], "b")
    a.tick()  # the last tick for a while: a's event loop is held up (a long page, a slow evaluation)
    held = {EVALUATOR, *(helpdesk_lease(h) for h in HELPDESKS)}
    tokens = {lease: fence.token for lease in held if (fence := a.fence(lease))}
    before = lease_expiries(pg_url, "a")
    for _ in range(4):  # four renewals a third of a TTL apart: more than a TTL without a tick
        clock.now += TTL / 3
        assert a.renew()
    assert a.holds(EVALUATOR) and helpdesks_of(a) == HELPDESKS  # past the tick's TTL, still held
    assert {lease: fence.token for lease in held if (fence := a.fence(lease))} == tokens  # same terms
    after = lease_expiries(pg_url, "a")
    assert set(after) == held and all(after[lease] > before[lease] for lease in held)  # renewed in the database
    assert b.tick().acquired == [] and helpdesks_of(b) == [] and not b.holds(EVALUATOR)  # nothing to take over


def test_renewing_between_ticks_takes_back_no_lease_that_was_lost(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    clock = Clock()
    a, b = replica(stores[0], "a", clock), replica(stores[1], "b")
    a.tick()
    lapse_in(pg_url)("a")  # paused past the TTL (SIGSTOP): the renewer is paused too
    b.tick()  # b takes everything over
    clock.now += TTL / 3
    assert a.renew()
    assert lease_expiries(pg_url, "a") == {}  # nothing of b's was extended for a
    assert b.holds(EVALUATOR) and helpdesks_of(b) == HELPDESKS
    assert set(a.tick().lost) == {EVALUATOR, *(helpdesk_lease(h) for h in HELPDESKS)}  # the tick tells a


def test_a_replica_whose_ticks_stalled_past_the_limit_renews_nothing(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    clock = Clock()
    a = replica(stores[0], "a", clock)
    a.tick()
    before = lease_expiries(pg_url, "a")
    clock.now += a.stall_limit + 0.1  # the event loop wedged for good: its leases must go
    assert not a.renew()
    assert lease_expiries(pg_url, "a") == before and not a.holds(EVALUATOR)


def test_the_renewing_thread_keeps_the_leases_while_no_tick_runs(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    a = PostgresLeases(stores[0].lease_table("a", 1.5), HELPDESKS)  # the real monotonic clock
    b = replica(stores[1], "b")
    a.tick()
    ticked = a.clock()
    first = lease_expiries(pg_url, "a")
    a.start_renewing()
    try:
        deadline = ticked + 30
        # wait (with a deadline) until the tick's own TTL has passed and the thread renewed since
        while a.clock() < deadline and not (
            a.clock() > ticked + a.ttl
            and all(at > first[lease] + a.ttl for lease, at in lease_expiries(pg_url, "a").items())
        ):
            threading.Event().wait(0.05)
        assert a.clock() > ticked + a.ttl, "the renewing thread did not renew within 30 s"
        assert a.holds(EVALUATOR) and helpdesks_of(a) == HELPDESKS
        assert b.tick().acquired == []
    finally:
        a.stop_renewing()
    assert a._renewer is None
