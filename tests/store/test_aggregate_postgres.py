"""The evaluation's aggregates (store/aggregate.py) on PostgreSQL give what they give on SQLite: the same
portable SQL through each store's ``query``, over seeded random backlogs (a mismatch names its seed).
test_aggregate.py holds the aggregates to a Python reference on SQLite; this holds PostgreSQL to SQLite."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pytest

from backlog_watch.models import (
    ALL_TICKETS,
    Listing,
    Priority,
    Scope,
    Sla,
    Status,
    Ticket,
    TicketFilter,
    TicketQuery,
)
from backlog_watch.store import SqlStore, Store, aggregate
from backlog_watch.store.aggregate import TicketAggregates
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket

HELPDESKS = ("zendesk", "jira")
SCOPES: dict[tuple[str, ...], Scope] = {
    ("helpdesk",): (("helpdesk", "jira"),),
    ("group", "helpdesk"): (("group", "(none)"), ("helpdesk", "zendesk")),
    ("helpdesk", "tag"): (("helpdesk", "zendesk"), ("tag", "vip")),
    ("assignee", "priority"): (("assignee", "(unassigned)"), ("priority", "urgent")),
}
"""One scope per grouping for the questions asked of a single scope ("(none)" values included)."""
HOURS = {"zendesk": 0.5}
WHERE = [ALL_TICKETS, TicketFilter(priority=("urgent", "high")), TicketFilter(tags=("vip",), assigned=False)]
GROUP_BY = [("helpdesk",), ("group", "helpdesk"), ("helpdesk", "tag"), ("assignee", "priority")]
ORDERS: tuple[Literal["urgent", "created_at", "updated_at", "due", "newest"], ...] = (
    "urgent",
    "created_at",
    "updated_at",
    "due",
    "newest",
)


def backlog(seed: int) -> list[Ticket]:
    """Tickets of both helpdesks: every status, tags (none, some, repeated), SLAs running, paused, breached."""
    rng = random.Random(seed)
    found = []
    for n in range(rng.randint(20, 80)):
        status = rng.choice([*Status])
        age = timedelta(minutes=rng.randint(1, 60 * 24 * 20))
        due = NOW + timedelta(minutes=rng.randint(-500, 500)) if rng.random() < 0.5 else None
        found.append(
            ticket(
                id=f"{seed}-{n}",
                helpdesk=rng.choice(HELPDESKS),
                status=status,
                priority=rng.choice([*Priority]),
                group=rng.choice(("Billing", "Tier 2", None)),
                assignee=rng.choice(("Ada", "Grace", None)),
                tags=tuple(rng.choices(("vip", "bug", "billing"), k=rng.randint(0, 3))),
                age=age,
                idle=age * rng.random(),
                solved_at=NOW - age * rng.random() if status in (Status.SOLVED, Status.CLOSED) else None,
                sla=Sla(first_response_due=due, paused=rng.random() < 0.2, breached=rng.random() < 0.1),
            )
        )
    return found


def answers(query: TicketQuery) -> list[tuple[str, Any]]:
    """What the rules may ask, asked every way: each answer named by its question (KPIs flattened to
    {(scope, metric): value}, so floats compare within rounding)."""
    week, day, soon = NOW - timedelta(days=7), NOW - timedelta(days=1), NOW + timedelta(hours=4)
    asked: list[tuple[str, Callable[[], Any]]] = []
    for w in WHERE:
        for g in GROUP_BY:
            asked += [
                (f"kpis {w} {g}", partial(flat_kpis, query, w, g)),
                (f"aged {w} {g}", partial(query.aged, w, g, "updated_at", NOW - timedelta(days=2))),
                (f"sla {w} {g}", partial(query.sla_risk, w, g, NOW, soon)),
                (f"inflow {w} {g}", partial(query.inflow, w, g, week, day)),
                (f"last {w} {g}", partial(query.last_created, w, g)),
                (f"medians {w} {g}", partial(query.medians, w, g, week)),
                (
                    f"created_in {w} {g}",
                    partial(query.created_in, w, g, [(week - timedelta(days=7), week), (day, NOW)]),
                ),
                (f"created_in scope {w} {g}", partial(query.created_in, w, g, [(week, NOW)], SCOPES[g])),
            ]
    for order in ORDERS:
        listing = Listing(order, open_only=order != "newest", at_risk_by=NOW if order == "due" else None)
        for scope in [(), (("helpdesk", "jira"),)]:
            asked.append((f"listed {order} {scope}", partial(listed_keys, query, scope, listing)))
            asked.append((f"count {order} {scope}", partial(query.count, ALL_TICKETS, scope, listing)))
    asked.append(("first_created", query.first_created))
    return [(question, ask()) for question, ask in asked]


def flat_kpis(query: TicketQuery, where: TicketFilter, group_by: tuple[str, ...]) -> dict[object, float]:
    return {
        (scope, metric): v for scope, kpis in query.kpis(where, group_by, HOURS).items() for metric, v in kpis.items()
    }


def listed_keys(query: TicketQuery, scope: Scope, listing: Listing) -> list[tuple[str, str]]:
    return [t.key for t in query.listed(ALL_TICKETS, scope, listing, 7)]


def snapshot_query(store: Store, tickets: list[Ticket]) -> TicketQuery:
    for helpdesk in HELPDESKS:
        store.commit_page(helpdesk, [t for t in tickets if t.helpdesk == helpdesk], None)
    return store.snapshot(NOW, list(HELPDESKS), timedelta(days=8)).query


@pytest.mark.parametrize("seed", range(4))
def test_postgresql_answers_every_aggregate_as_sqlite_does(seed: int, pg_url: str, tmp_path: Path) -> None:
    tickets = backlog(seed)
    sqlite, postgres = SqliteStore(tmp_path / "bw.db"), PostgresStore(pg_url)
    try:
        expected = answers(snapshot_query(sqlite, tickets))
        found = answers(snapshot_query(postgres, tickets))
    finally:
        sqlite.close()
        postgres.close()
    assert sum(1 for _, answer in expected if answer) > len(expected) // 2  # most questions find something
    for (question, mine), (_, theirs) in zip(found, expected, strict=True):
        assert mine == pytest.approx(theirs) if question.startswith("kpis") else mine == theirs, (seed, question)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_listed_by_scope_lists_each_scope_as_listed_does(
    seed: int, engine: str, request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grouped listing (one statement per rule) gives every scope the tickets, in the order, that a
    listing of that scope alone gives: every filter, grouping (tags and "(none)" values too) and order.
    The ranked statement is what is compared (a few scopes are listed alone, which is ``listed`` itself)."""
    monkeypatch.setattr(aggregate, "FEW_SCOPES", 0)
    store: Store = (
        SqliteStore(tmp_path / "bw.db") if engine == "sqlite" else PostgresStore(request.getfixturevalue("pg_url"))
    )
    try:
        query = snapshot_query(store, backlog(seed))
        compared = listed = 0
        for where in WHERE:
            for group_by in GROUP_BY:
                scopes = [*query.kpis(where, group_by, HOURS), SCOPES[group_by], (("helpdesk", "nowhere"),)]
                scopes = [s for s in scopes if [label for label, _ in s] == list(group_by)]
                for order in ORDERS:
                    listing = Listing(
                        order,
                        open_only=order != "newest",
                        before=NOW - timedelta(days=3) if order in ("created_at", "updated_at") else None,
                        created_after=NOW - timedelta(days=5) if order == "newest" else None,
                        at_risk_by=NOW if order == "due" else None,
                    )
                    alone = {s: query.listed(where, s, listing, 3) for s in scopes}
                    at_once = query.listed_by_scope(where, group_by, scopes, listing, 3)
                    assert at_once == {s: tickets for s, tickets in alone.items() if tickets}, (where, group_by, order)
                    compared += len(scopes)
                    listed += sum(len(tickets) for tickets in at_once.values())
    finally:
        store.close()
    assert compared > 100 and listed > 100  # the backlogs gave every question something to list


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_many_helpdesks_are_one_argument_with_the_same_answers(engine: str, request: Any, tmp_path: Path) -> None:
    """Past 16 helpdesks a snapshot passes their names as one argument (a PostgreSQL array, a JSON array
    through SQLite's json_each), not a placeholder each: every question gets the answer it got inline."""
    store: SqlStore = (
        SqliteStore(tmp_path / "bw.db") if engine == "sqlite" else PostgresStore(request.getfixturevalue("pg_url"))
    )
    names = [f"desk-{i:02d}" for i in range(40)]
    try:
        for i, helpdesk in enumerate(names):
            tickets = [t.model_copy(update={"helpdesk": helpdesk, "id": f"{i}-{t.id}"}) for t in backlog(i)]
            store.commit_page(helpdesk, tickets, None)
        snapshot = store.snapshot(NOW, names[:30], timedelta(days=8))
        query = snapshot.query
        assert isinstance(query, TicketAggregates) and query.dialect.many is not None
        sent: list[str] = []
        run = query._run_sql
        inline = TicketAggregates(run, NOW, names[:30], NOW - timedelta(days=8), replace(query.dialect, many=None))
        query._run_sql = lambda sql, args: sent.append(sql) or run(sql, args)  # type: ignore[func-returns-value]
        mine, theirs = answers(query), answers(inline)
    finally:
        store.close()
    assert any(query.dialect.many in sql and sql.count("?") < 30 for sql in sent)  # the names went as one
    assert sum(1 for _, answer in theirs if answer) > len(theirs) // 2
    for (question, found), (_, expected) in zip(mine, theirs, strict=True):
        assert found == pytest.approx(expected) if question.startswith("kpis") else found == expected, question


@pytest.mark.parametrize("seed", range(3))
def test_percentiles_from_a_sorted_scan_are_those_row_number_picks(seed: int, tmp_path: Path) -> None:
    """SQLite's store hands rows over as they come (``walk``): percentiles and medians are taken from
    one sorted scan. Without the walk the same snapshot ranks with ROW_NUMBER (PostgreSQL's way): every
    question gets the same answer, and the walk was what answered the percentiles."""
    store = SqliteStore(tmp_path / "bw.db")
    walked: list[str] = []
    try:
        query = snapshot_query(store, backlog(seed))
        assert isinstance(query, TicketAggregates) and query._walk is not None
        walk = query._walk
        query._walk = lambda sql, args, visit: walked.append(sql) or walk(sql, args, visit)  # type: ignore[func-returns-value]
        numbered = TicketAggregates(query._run_sql, NOW, list(HELPDESKS), NOW - timedelta(days=8), query.dialect)
        mine, theirs = answers(query), answers(numbered)
    finally:
        store.close()
    assert walked and all("ROW_NUMBER" not in sql for sql in walked)
    assert sum(1 for question, answer in theirs if question.startswith("medians") and answer) >= 6
    for (question, found), (_, expected) in zip(mine, theirs, strict=True):
        assert found == pytest.approx(expected) if question.startswith("kpis") else found == expected, (seed, question)
