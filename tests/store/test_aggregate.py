"""The store's aggregates (store/aggregate.py) against a plain Python reference, over seeded random backlogs:
tags (several, none), no group, unassigned, solved inside and outside the windows, SLAs paused, breached and
due, percentiles, business hours. Each seed is a different backlog; a mismatch names its seed."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

import pytest

from backlog_watch.business_hours import BusinessCalendar, CalendarSettings
from backlog_watch.kpis import NO_GROUP, NO_TAG, UNASSIGNED, Scope, kpis
from backlog_watch.models import (
    ALL_TICKETS,
    OPEN_STATUSES,
    Priority,
    Sla,
    Status,
    Ticket,
    TicketFilter,
    TicketQuery,
)
from backlog_watch.rules.elapsed import Elapsed
from tests.factories import NOW, snapshot_of, ticket

HOURS = {"zendesk": 0.25}
WINDOW = timedelta(days=8)


def backlog(seed: int) -> list[Ticket]:
    rng = random.Random(seed)
    found = []
    for _ in range(rng.randint(0, 60)):
        status = rng.choice([*Status])
        age = timedelta(hours=rng.uniform(0, 24 * 30))
        solved = status in (Status.SOLVED, Status.CLOSED) and rng.random() < 0.9
        due = NOW + timedelta(minutes=rng.uniform(-600, 600)) if rng.random() < 0.6 else None
        sla = Sla(first_response_due=due, paused=rng.random() < 0.2, breached=rng.random() < 0.1)
        found.append(
            ticket(
                helpdesk=rng.choice(("zendesk", "jira")),
                status=status,
                priority=rng.choice([*Priority]),
                group=rng.choice(("Billing", "Tier 2", None)),
                assignee=rng.choice(("Ada", None)),
                tags=tuple(rng.sample(("vip", "bug", "billing"), rng.randint(0, 2))),
                age=age,
                idle=age * rng.random(),
                solved_at=NOW - age * rng.random() if solved else None,
                sla=sla if status.is_open or rng.random() < 0.2 else Sla(),
            )
        )
    return found


def in_snapshot(t: Ticket) -> bool:
    """What a snapshot holds: open, or solved within its window."""
    solved = t.status in (Status.SOLVED, Status.CLOSED) and t.solved_at is not None and t.solved_at >= NOW - WINDOW
    return t.is_open or solved


def label(t: Ticket, name: str) -> tuple[str, ...]:
    values = {
        "helpdesk": (t.helpdesk,),
        "group": (t.group or NO_GROUP,),
        "priority": (t.priority.value,),
        "status": (t.status.value,),
        "assignee": (t.assignee or UNASSIGNED,),
        "tag": tuple(dict.fromkeys(t.tags)) or (NO_TAG,),
    }
    return values[name]


def grouped(tickets: Iterable[Ticket], group_by: Sequence[str]) -> dict[Scope, list[Ticket]]:
    found: dict[Scope, list[Ticket]] = defaultdict(list)
    for t in tickets:
        scopes: list[Scope] = [()]
        for name in group_by:
            scopes = [s + ((name, v),) for s in scopes for v in label(t, name)]
        for scope in scopes:
            found[scope].append(t)
    return found


def matches(where: TicketFilter, t: Ticket) -> bool:
    checks: list[tuple[tuple[str, ...] | None, str | None]] = [
        (where.status, t.status.value),
        (where.priority, t.priority.value),
        (where.group, t.group),
    ]
    if any(values is not None and value not in values for values, value in checks):
        return False
    if where.tags is not None and not set(where.tags) & set(t.tags):
        return False
    return where.assigned is None or (t.assignee is not None) == where.assigned


FILTERS = [
    ALL_TICKETS,
    TicketFilter(priority=("urgent", "high")),
    TicketFilter(tags=("vip",), assigned=False),
    TicketFilter(status=("new", "open"), group=("Billing",)),
]
GROUPINGS = [("helpdesk",), ("group", "helpdesk"), ("helpdesk", "tag"), ("assignee", "priority")]
SEEDS = range(12)


def query_of(tickets: list[Ticket]) -> TicketQuery:
    return snapshot_of(NOW, ["zendesk", "jira"], tickets, solved_window=WINDOW).query


@pytest.mark.parametrize("seed", SEEDS)
def test_every_kpi_per_scope_is_the_python_reference(seed: int) -> None:
    tickets = backlog(seed)
    query = query_of(tickets)
    for where in FILTERS:
        for group_by in GROUPINGS:
            seen = [t for t in tickets if in_snapshot(t) and matches(where, t)]
            expected = {scope: kpis(ts, NOW, HOURS) for scope, ts in grouped(seen, group_by).items()}
            found = query.kpis(where, group_by, HOURS)
            assert set(found) == set(expected), (seed, where, group_by)
            for scope, values in expected.items():
                assert found[scope] == pytest.approx(values, rel=1e-9, abs=1e-6), (seed, where, group_by, scope)


CALENDAR = BusinessCalendar.from_settings(
    CalendarSettings(timezone="Europe/Paris", days=("mon", "tue", "wed", "thu", "fri"), hours=("09:00-17:00",))
)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("calendar", [None, CALENDAR], ids=["calendar-time", "business-hours"])
def test_aging_and_sla_cutoffs_count_what_each_ticket_measures(seed: int, calendar: BusinessCalendar | None) -> None:
    tickets = backlog(seed)
    query = query_of(tickets)
    elapsed = Elapsed(calendar, NOW)
    open_ = [t for t in tickets if t.status in OPEN_STATUSES]
    for field, span in (("created_at", timedelta(hours=20)), ("updated_at", timedelta(days=3))):
        cutoff = elapsed.since_cutoff(span)
        assert cutoff is not None
        aged = query.aged(ALL_TICKETS, ("helpdesk",), field, cutoff)
        for scope, ts in grouped(open_, ("helpdesk",)).items():
            old = [t for t in ts if elapsed.since(getattr(t, field)) > span]
            assert (aged[scope].in_scope, aged[scope].aged) == (len(ts), len(old)), (seed, field, scope)
            oldest = min((getattr(t, field) for t in old), default=None)
            assert aged[scope].oldest == (pytest.approx(oldest, abs=timedelta(microseconds=2)) if oldest else None)
    within = {"critical": timedelta(minutes=30), "warn": timedelta(hours=2)}
    cuts = {level: elapsed.until_cutoff(span) for level, span in within.items()}
    risk = query.sla_risk(ALL_TICKETS, ("helpdesk",), cuts["critical"], cuts["warn"])
    tracked = [t for t in open_ if not t.sla.paused and t.sla.earliest_due is not None]
    for scope, ts in grouped(tracked, ("helpdesk",)).items():
        levels = [sla_level(t, elapsed, within) for t in ts]
        counted = (risk[scope].breached, risk[scope].critical, risk[scope].warn)
        assert counted == tuple(levels.count(k) for k in ("breached", "critical", "warn")), (seed, scope)


def sla_level(t: Ticket, elapsed: Elapsed, within: dict[str, timedelta]) -> str | None:
    due = t.sla.earliest_due
    assert due is not None
    left = elapsed.until(due)
    if t.sla.breached or left <= timedelta(0):
        return "breached"
    return next((level for level, span in within.items() if left <= span), None)


@pytest.mark.parametrize("seed", SEEDS)
def test_medians_inflow_and_the_last_ticket_per_scope_are_the_python_reference(seed: int) -> None:
    tickets = backlog(seed)
    query = query_of(tickets)
    seen = [t for t in tickets if in_snapshot(t)]
    group_by = ("helpdesk", "priority")
    medians = query.medians(ALL_TICKETS, group_by, NOW - timedelta(days=2))
    for scope, ts in grouped(seen, group_by).items():
        solved = [t.solved_at - t.created_at for t in ts if not t.is_open and t.solved_at > NOW - timedelta(days=2)]  # type: ignore[operator]
        waiting = [NOW - t.created_at for t in ts if t.is_open]
        if not solved and not waiting:
            assert scope not in medians
            continue
        got = medians[scope]
        assert (got.solved, got.waiting) == (len(solved), len(waiting))
        assert _close(got.solved_age, _median(solved)), (seed, scope)
        assert _close(NOW - got.waiting_created if got.waiting_created else None, _median(waiting)), (seed, scope)
    inflow = query.inflow(ALL_TICKETS, ("helpdesk", "tag"), NOW - timedelta(days=7), NOW - timedelta(days=1))
    recent = [t for t in seen if NOW - timedelta(days=7) < t.created_at <= NOW]
    expected = {
        scope: (
            sum(t.created_at <= NOW - timedelta(days=1) for t in ts),
            sum(t.created_at > NOW - timedelta(days=1) for t in ts),
        )
        for scope, ts in grouped(recent, ("helpdesk", "tag")).items()
    }
    assert inflow == expected
    last = query.last_created(ALL_TICKETS, ("group",))
    expected_last = {scope: max(t.created_at for t in ts) for scope, ts in grouped(seen, ("group",)).items()}
    assert last == pytest.approx(expected_last, abs=timedelta(microseconds=2))


WEEKS = [(NOW - timedelta(weeks=k, days=2), NOW - timedelta(weeks=k)) for k in range(4)]
"""Two days now and the same two days 1, 2, 3 weeks back: further back than the snapshot's solved window."""


@pytest.mark.parametrize("seed", SEEDS)
def test_created_in_counts_every_ticket_ever_open_or_solved_and_the_first_per_helpdesk(seed: int) -> None:
    tickets = backlog(seed)
    query = query_of(tickets)
    counted = [t for t in tickets if t.is_open or t.status in (Status.SOLVED, Status.CLOSED)]  # not deleted/moved
    for where in FILTERS:
        for group_by in GROUPINGS:
            mine = [t for t in counted if matches(where, t)]
            expected = {
                scope: tuple(sum(start < t.created_at <= end for t in ts) for start, end in WEEKS)
                for scope, ts in grouped(mine, group_by).items()
            }
            found = {scope: counts for scope, counts in expected.items() if any(counts)}
            assert query.created_in(where, group_by, WEEKS) == found, (seed, where, group_by)
            for scope in expected:  # one scope's tickets alone, as a flatline asks for a silent scope
                assert query.created_in(where, group_by, WEEKS, scope) == {k: v for k, v in found.items() if k == scope}
    old_solved = [t for t in counted if not t.is_open and t.created_at <= NOW - WINDOW and not in_snapshot(t)]
    if any(start < t.created_at <= end for t in old_solved for start, end in WEEKS):
        assert sum(map(sum, query.created_in(ALL_TICKETS, ("helpdesk",), WEEKS).values())) > sum(
            start < t.created_at <= end for t in counted if in_snapshot(t) for start, end in WEEKS
        )  # tickets solved before the snapshot's window count too
    first = {h: min(t.created_at for t in tickets if t.helpdesk == h) for h in {t.helpdesk for t in tickets}}
    assert query.first_created() == pytest.approx(first, abs=timedelta(microseconds=2)), seed


def _close(found: timedelta | None, expected: timedelta | None) -> bool:
    """Equal to the microsecond a moment stored as epoch seconds keeps, or both missing."""
    if found is None or expected is None:
        return found is expected
    return abs(found - expected) <= timedelta(microseconds=2)


def _median(values: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values)) if values else None
