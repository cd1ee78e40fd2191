"""The read model on SQLite on disk: what reports, the wallboard and /metrics read, asserted in numbers."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backlog_watch.kpis import sla_breached
from backlog_watch.models import Priority, Sla, Status, Ticket
from backlog_watch.store import Store
from backlog_watch.store.history import History
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.read_model import KPI_FRESHNESS, ReadModel
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket
from tests.helpers.reports import NOW as REPORT_NOW
from tests.helpers.reports import TZ, at, seeded_store

ZD = (("helpdesk", "zendesk"),)
BILLING = (("group", "Billing"), ("helpdesk", "zendesk"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "bw.db")
    yield s
    s.close()


def test_open_backlog_is_reconstructed_at_past_moments(tmp_path: Path) -> None:
    store = seeded_store(tmp_path)
    read = ReadModel(store)
    # 2 days ago at 12:00: the open o2..o10 (9) and the six later solved (created 3 days ago) -> 15
    assert read.open_counts([at(2, hour=12), REPORT_NOW]) == [15, 13]
    assert read.open_counts([]) == []
    flows = read.days(REPORT_NOW.astimezone(TZ).date() - timedelta(days=1), 3, TZ)
    assert [(f.created, f.solved) for f in flows] == [(7, 0), (1, 0), (3, 6)]
    assert flows[-1].open_at_end == 12  # before "risk" was created today
    store.close()


def test_latest_kpis_are_the_last_evaluation_within_the_freshness(store: SqliteStore) -> None:
    history = History(store)
    history.record(NOW - KPI_FRESHNESS - timedelta(minutes=1), {(("helpdesk", "jira"),): {"open_tickets": 9.0}})
    history.record(NOW - timedelta(minutes=10), {ZD: {"open_tickets": 4.0}, BILLING: {"open_tickets": 1.0}})
    history.record(NOW - timedelta(minutes=5), {ZD: {"open_tickets": 5.0}})
    latest = ReadModel(store).latest_kpis(NOW)
    assert latest == {
        ZD: (NOW - timedelta(minutes=5), {"open_tickets": 5.0}),
        BILLING: (NOW - timedelta(minutes=10), {"open_tickets": 1.0}),
    }  # jira's last evaluation is older than the freshness: not current


def test_kpi_series_is_the_history_per_day(store: SqliteStore) -> None:
    history = History(store)
    for days_ago, value in ((3, 30.0), (2, 20.0), (1, 10.0)):
        history.record(NOW - timedelta(days=days_ago), {ZD: {"open_tickets": value}})
    series = ReadModel(store).kpi_series("open_tickets", ZD, NOW - timedelta(days=4), tz=ZoneInfo("UTC"))
    assert [v for _, v in series] == [30.0, 20.0, 10.0]
    assert series[0][0] == NOW - timedelta(days=3)


def test_oldest_open_ticket_per_helpdesk_skips_the_solved(store: SqliteStore) -> None:
    store.commit_page(
        "zendesk",
        [
            ticket(id="old-solved", age=timedelta(days=9), status=Status.SOLVED, solved_at=NOW),
            ticket(id="oldest", age=timedelta(days=5), subject="Printer on fire"),
            ticket(id="young", age=timedelta(hours=2)),
        ],
        None,
    )
    read = ReadModel(store)
    oldest = read.oldest_open("zendesk")
    assert oldest is not None
    assert (oldest.id, oldest.subject, oldest.priority) == ("oldest", "Printer on fire", "normal")
    assert oldest.created_at == NOW - timedelta(days=5)
    assert oldest.url == "https://acme.zendesk.com/agent/tickets/oldest"
    assert read.oldest_open("jira") is None


def test_flow_and_open_split_by_helpdesk(store: SqliteStore) -> None:
    store.commit_page(
        "zendesk",
        [
            ticket(id="z1", age=timedelta(hours=3)),
            ticket(id="z2", age=timedelta(days=2), status=Status.SOLVED, solved_at=NOW - timedelta(hours=1)),
        ],
        None,
    )
    store.commit_page("jira", [ticket(id="j1", helpdesk="jira", age=timedelta(days=10))], None)
    read = ReadModel(store)
    day = NOW - timedelta(days=1)
    assert read.flow_between(day, NOW) == (1, 1)
    assert read.flow_between(day, NOW, "jira") == (0, 0)
    assert read.flow_between(NOW - timedelta(days=7), NOW, "zendesk") == (2, 1)
    assert read.open_by("helpdesk", NOW) == {"zendesk": 1, "jira": 1}
    assert read.open_by("helpdesk", NOW - timedelta(hours=2)) == {"zendesk": 2, "jira": 1}


def test_poll_statuses_say_how_fresh_each_helpdesk_is(store: SqliteStore) -> None:
    store.record_poll("zendesk", NOW)
    store.record_poll("jira", NOW, error="502 from upstream")
    statuses = ReadModel(store).poll_statuses(["zendesk", "jira", "freshdesk"])
    assert list(statuses) == ["zendesk", "jira", "freshdesk"]
    assert statuses["zendesk"].last_success == NOW and statuses["zendesk"].failures == 0
    assert statuses["jira"].last_success is None and statuses["jira"].failures == 1
    assert statuses["freshdesk"].last_attempt is None


def _backlog(seed: int) -> list[Ticket]:
    """A seeded backlog for the reports' counts: every status, SLAs running, paused, flagged and past,
    ages on the buckets' bounds to the microsecond, assignees or none, two helpdesks and priorities."""
    rng = random.Random(seed)
    found = []
    for i in range(160):
        bound = timedelta(hours=(24, 72, 168, 720)[i % 4])  # the first 12 exactly on one
        age = bound if i < 12 else timedelta(seconds=rng.uniform(60, 40 * 86400))
        due = NOW + timedelta(minutes=rng.choice((-90, -5, 0, 30, 150, 600, 2000)))
        sla = rng.choice(
            (
                Sla(),
                Sla(first_response_due=due),
                Sla(resolution_due=due, paused=True),
                Sla(next_reply_due=due, breached=True),
            )
        )
        status = rng.choice((Status.NEW, Status.OPEN, Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED))
        found.append(
            ticket(
                id=f"t{i}",
                helpdesk=rng.choice(("zendesk", "jira")),
                age=age,
                status=status,
                solved_at=NOW - age * rng.random() if status is Status.SOLVED else None,
                group=rng.choice(("Support", "Billing", None)),
                priority=rng.choice((Priority.URGENT, Priority.HIGH, Priority.NORMAL)),
                assignee=rng.choice(("Ada", None)),
                sla=sla,
                tags=(("refund", "outage", "vip", "billing", "login")[i % 5],) + (("escalated",) if i % 7 == 0 else ()),
            )
        )
    return found


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_reports_counts_and_listings_are_the_python_definitions_in_sql(
    engine: str, seed: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What the reports read instead of every open ticket (open_backlog, sla_due, waiting_past,
    oldest_tickets), and the backlog at past moments and the flow read from the indexes (open_counts,
    open_by, flow_between, days), give what the Python definitions give on the same tickets, on both
    stores: the counts, and the tickets listed in their order."""
    tickets = _backlog(seed)
    stored: Store = (
        SqliteStore(tmp_path / "bw.db") if engine == "sqlite" else PostgresStore(request.getfixturevalue("pg_url"))
    )
    try:
        stored.commit_tickets(tickets)
        read = ReadModel(stored)
        opened = [t for t in tickets if t.is_open]
        hours = {t.id: (NOW - t.created_at).total_seconds() / 3600 for t in opened}
        key = lambda t: (t.created_at, t.helpdesk, t.id)  # noqa: E731

        backlog = read.open_backlog(NOW, [24, 72, 168, 720])
        assert backlog.total == len(opened)
        assert backlog.by_status == dict(Counter(t.status.value for t in opened))
        assert backlog.by_helpdesk == dict(Counter(t.helpdesk for t in opened))
        assert backlog.unassigned == sum(1 for t in opened if not t.is_assigned)
        assert backlog.sla_breached == sum(1 for t in opened if sla_breached(t, NOW))
        assert backlog.younger == {h: sum(1 for t in opened if hours[t.id] < h) for h in (24, 72, 168, 720)}

        for until, inclusive in ((NOW + timedelta(minutes=150), True), (NOW + timedelta(minutes=150), False)):
            due = sorted(
                (
                    t
                    for t in opened
                    if t.sla.earliest_due is not None
                    and not t.sla.paused
                    and not sla_breached(t, NOW)
                    and t.sla.earliest_due > NOW
                    and (t.sla.earliest_due <= until if inclusive else t.sla.earliest_due < until)
                ),
                key=lambda t: (t.sla.earliest_due, t.helpdesk, t.id),  # type: ignore[arg-type, return-value]
            )
            assert due, "the seed gives tickets due in the window"
            assert read.sla_due(NOW, until, inclusive=inclusive, limit=None) == (len(due), due)
            assert read.sla_due(NOW, until, inclusive=inclusive, limit=3) == (len(due), due[:3])

        aging = sorted((t for t in opened if hours[t.id] > 168), key=key)
        assert read.waiting_past(NOW, 168, 5) == (len(aging), aging[:5])
        medians = {("zendesk", "urgent"): 100.0, ("jira", "normal"): 24.0, ("jira", "high"): 900.0}
        skipped = sorted((t for t in opened if hours[t.id] > medians.get((t.helpdesk, t.priority.value), 1e9)), key=key)
        assert read.waiting_past(NOW, medians, 5) == (len(skipped), skipped[:5])
        assert read.waiting_past(NOW, {}, 5) == (0, [])
        assert read.oldest_tickets(5) == sorted(opened, key=key)[:5]

        def open_at(t: Ticket, moment: datetime) -> bool:
            solved_after = t.status.value in ("solved", "closed") and t.solved_at is not None and t.solved_at > moment
            return t.created_at <= moment and (t.is_open or solved_after)

        moments = [NOW - timedelta(days=d, hours=h) for d in (0, 1, 3, 9, 30) for h in (0, 5)]
        assert read.open_counts(moments) == [sum(open_at(t, m) for t in tickets) for m in moments]
        assert read.open_counts(moments, "jira") == [
            sum(open_at(t, m) for t in tickets if t.helpdesk == "jira") for m in moments
        ]
        for moment in moments[::3]:
            at_moment = [t for t in tickets if open_at(t, moment)]
            assert read.open_by("grp", moment) == dict(Counter(t.group or "no group" for t in at_moment))
            assert read.open_by("priority", moment, "zendesk") == dict(
                Counter(t.priority.value for t in at_moment if t.helpdesk == "zendesk")
            )
        for start, end in ((NOW - timedelta(days=7), NOW), (NOW - timedelta(days=30), NOW - timedelta(days=2))):
            created = sum(1 for t in tickets if start <= t.created_at < end)
            solved = sum(1 for t in tickets if t.solved_at is not None and start <= t.solved_at < end)
            assert created and solved, "the seed gives tickets created and solved in the span"
            assert read.flow_between(start, end) == (created, solved)
        tz = ZoneInfo("Europe/Paris")
        days = read.days(NOW.astimezone(tz).date(), 10, tz, now=NOW)
        for day in days:
            start, end = (
                datetime.combine(day.day, time(0), tz),
                datetime.combine(day.day + timedelta(days=1), time(0), tz),
            )
            end = min(end, NOW)
            assert day.created == sum(1 for t in tickets if start <= t.created_at < end)
            assert day.solved == sum(1 for t in tickets if t.solved_at is not None and start <= t.solved_at < end)
            assert day.open_at_end == sum(open_at(t, end) for t in tickets)
    finally:
        stored.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_what_was_created_in_a_span_is_counted_over_every_helpdesk(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The weekly review's inflow read per helpdesk from the (helpdesk, created_at) index (busiest tags and
    groups, creation times, with tags, counts) gives what the Python definitions give, on both stores, for
    three helpdesks (one with nothing in the span) and for one of them; so do one helpdesk's days and its
    oldest open ticket (the wallboard's, read with the helpdesk beside their indexes' ranges)."""
    tickets = _backlog(3) + [ticket(id="f1", helpdesk="freshdesk", age=timedelta(days=60), tags=("refund",))]
    stored: Store = (
        SqliteStore(tmp_path / "bw.db") if engine == "sqlite" else PostgresStore(request.getfixturevalue("pg_url"))
    )
    try:
        read = ReadModel(stored)
        assert (read.busiest("grp", NOW - timedelta(days=7), NOW), read.created_between(NOW, NOW)) == ([], 0)
        stored.commit_tickets(tickets)
        for start, end in ((NOW - timedelta(days=7), NOW), (NOW - timedelta(days=30), NOW - timedelta(days=2))):
            created = [t for t in tickets if start <= t.created_at < end]
            assert {t.helpdesk for t in created} == {"zendesk", "jira"}, "the seed creates in both in the span"
            tags = Counter(tag for t in created for tag in t.tags)
            groups = Counter(t.group or "(none)" for t in created)
            most = lambda counted: sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))  # noqa: E731
            assert read.busiest("tag", start, end) == most(tags)[:5]
            assert read.busiest("grp", start, end, limit=2) == most(groups)[:2]
            assert sorted(read.created_times(start, end)) == sorted(t.created_at.timestamp() for t in created)
            assert sorted(read.created_with_tags(start, end)) == sorted(
                (t.created_at.timestamp(), t.tags) for t in created
            )
            assert read.created_between(start, end) == len(created)
            assert read.created_between(start, end, "jira") == sum(1 for t in created if t.helpdesk == "jira")
        assert read.busiest("tag", NOW + timedelta(days=1), NOW + timedelta(days=2)) == []
        tz = ZoneInfo("Europe/Paris")
        jira = [t for t in tickets if t.helpdesk == "jira"]
        for day in read.days(NOW.astimezone(tz).date(), 10, tz, "jira", NOW):
            start = datetime.combine(day.day, time(0), tz)
            end = min(datetime.combine(day.day + timedelta(days=1), time(0), tz), NOW)
            assert day.created == sum(1 for t in jira if start <= t.created_at < end)
            assert day.solved == sum(1 for t in jira if t.solved_at is not None and start <= t.solved_at < end)
        oldest = read.oldest_open("jira")
        assert oldest is not None and oldest.id == min((t for t in jira if t.is_open), key=lambda t: t.created_at).id
        assert read.created_between(NOW - timedelta(days=61), NOW - timedelta(days=59), "freshdesk") == 1
    finally:
        stored.close()
