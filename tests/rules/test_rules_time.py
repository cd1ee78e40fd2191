"""Table tests of the metrics and of the rules that count time: aging and SLA in business hours,
flatline, spike, fifo. A fixed now, no I/O, no clock; edges: weekends, holidays, the DST change."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from backlog_watch.business_hours import BusinessCalendar, CalendarSettings
from backlog_watch.kpis import compute, format_value, kpis
from backlog_watch.models import Priority, Sla, Status, Ticket
from backlog_watch.rules.backlog import Rule
from backlog_watch.rules.elapsed import Elapsed
from tests.factories import NOW, snapshot_of, ticket

RULE = TypeAdapter(Rule)
PARIS = ZoneInfo("Europe/Paris")
SUPPORT_EU = BusinessCalendar.from_settings(
    CalendarSettings(
        timezone="Europe/Paris",
        days=("mon", "tue", "wed", "thu", "fri"),
        hours=("09:00-18:00",),
        holidays=(date(2026, 12, 25), date(2027, 1, 1)),
    )
)
WEEKENDS = BusinessCalendar.from_settings(
    CalendarSettings(timezone="Europe/Paris", days=("sat", "sun"), hours=("00:00-24:00",))
)
CALENDARS = {"support-eu": SUPPORT_EU, "weekends": WEEKENDS}


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def found(spec: dict[str, Any], tickets: list[Ticket], now: datetime = NOW) -> dict[Any, tuple[str, float]]:
    snap = snapshot_of(now, ["zendesk"], tickets, calendars=CALENDARS)
    rule = RULE.validate_python(spec)
    return {(f.labels[0][1] if len(f.labels) == 1 else f.labels): (f.level, f.value) for f in rule.evaluate(snap, now)}


def at(moment: datetime, **fields: Any) -> Ticket:
    """A ticket created at ``moment``."""
    return ticket(age=NOW - moment.astimezone(UTC), **fields)


# -- metrics ------------------------------------------------------------------------------------------


def solved(age: timedelta, solved_ago: timedelta, **fields: Any) -> Ticket:
    return ticket(age=age, status=Status.SOLVED, solved_at=NOW - solved_ago, **fields)


FLOW = [ticket(age=timedelta(hours=h)) for h in (1, 5, 30, 80)] + [
    solved(timedelta(hours=20), timedelta(hours=2)),
    solved(timedelta(days=3), timedelta(hours=30)),
    solved(timedelta(days=9), timedelta(days=6)),
    solved(timedelta(days=20), timedelta(days=8)),
]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("open_tickets", 4),
        ("created_24h", 3),
        ("resolved_24h", 1),
        ("net_flow_24h", 2),
        ("resolved_per_day_7d", 3 / 7),
        ("days_to_clear", 4 / (3 / 7)),
        ("workload_hours", 4 * 0.75),
        ("age_max_hours", 80),
        ("age_avg_hours", 29),
    ],
)
def test_flow_metrics(metric: str, expected: float) -> None:
    assert compute(metric, FLOW, NOW, {"zendesk": 0.75}) == pytest.approx(expected)


def test_all_kpis_at_once_agree_with_each_metric() -> None:
    tickets = [
        *FLOW,
        ticket(status=Status.PENDING, assignee=None),
        ticket(status=Status.ON_HOLD, sla=Sla(first_response_due=NOW + timedelta(minutes=20))),
    ]
    assert kpis(tickets, NOW, {"zendesk": 0.25}) == {
        m: compute(m, tickets, NOW, {"zendesk": 0.25}) for m in kpis([], NOW)
    }


def test_an_empty_backlog_is_all_zeros_and_a_zero_resolution_rate_never_clears() -> None:
    assert set(kpis([], NOW).values()) == {0.0}
    stuck = [ticket(age=timedelta(days=2)) for _ in range(3)]
    assert compute("days_to_clear", stuck, NOW) == math.inf
    assert format_value(math.inf) == "never at the current rate"
    spec = {"name": "dtc", "type": "threshold", "metric": "days_to_clear", "warn_above": 1, "critical_above": 3}
    assert found(spec, stuck) == {"zendesk": ("critical", math.inf)}
    (finding,) = RULE.validate_python(spec).evaluate(snapshot_of(NOW, ["zendesk"], stuck), NOW)
    assert finding.summary == "days to clear is infinite: never at the current rate (critical above 3)"
    assert found(spec, []) == {}


# -- business hours ----------------------------------------------------------------------------------


def test_elapsed_working_time_matches_the_calendar_for_any_start() -> None:
    now = paris(2026, 3, 30, 10, 17)  # the Monday after the DST change
    elapsed = Elapsed(SUPPORT_EU, now.astimezone(UTC))
    for hours in range(0, 24 * 40, 7):
        start = now - timedelta(hours=hours, minutes=13)
        assert elapsed.since(start) == SUPPORT_EU.working_time(start, now), start


UNASSIGNED = {
    "name": "unassigned",
    "type": "aging",
    "older_than": "2h",
    "business_hours": "support-eu",
    "where": {"assigned": False, "status": ["new", "open"]},
}


@pytest.mark.parametrize(
    ("created", "now", "older_than", "fires"),
    [
        # Friday 17:55 -> Monday 09:00 is 5 working minutes
        (paris(2026, 11, 20, 17, 55), paris(2026, 11, 23, 9, 0), "5m", False),
        (paris(2026, 11, 20, 17, 55), paris(2026, 11, 23, 9, 0), "4m", True),
        (paris(2026, 11, 20, 17, 55), paris(2026, 11, 23, 10, 55), "2h", False),
        (paris(2026, 11, 20, 17, 55), paris(2026, 11, 23, 10, 56), "2h", True),
        # Thursday 24 Dec 17:00 -> Monday 28 Dec 10:00: 1h + Christmas (a holiday) + weekend + 1h
        (paris(2026, 12, 24, 17, 0), paris(2026, 12, 28, 10, 0), "2h", False),
        (paris(2026, 12, 24, 17, 0), paris(2026, 12, 28, 10, 1), "2h", True),
    ],
)
def test_aging_counts_working_time(created: datetime, now: datetime, older_than: str, fires: bool) -> None:
    spec = {**UNASSIGNED, "older_than": older_than}
    t = ticket(age=now - created, assignee=None, status=Status.NEW)
    t = t.model_copy(update={"created_at": created.astimezone(UTC), "updated_at": created.astimezone(UTC)})
    result = found(spec, [t], now.astimezone(UTC))
    assert ("zendesk" in result) is fires


@pytest.mark.parametrize(("older_than", "fires"), [("24h", False), ("23h59m", True)])
def test_aging_over_the_dst_change_counts_the_clock_on_the_wall(older_than: str, fires: bool) -> None:
    # Saturday 23:00 -> Monday 00:00 in Paris across the spring-forward night: 1h + 23h = 24h of work
    created, now = paris(2026, 3, 28, 23, 0), paris(2026, 3, 30, 0, 0)
    spec = {"name": "weekend", "type": "aging", "older_than": older_than, "business_hours": "weekends"}
    t = ticket().model_copy(update={"created_at": created.astimezone(UTC)})
    assert ("zendesk" in found(spec, [t], now.astimezone(UTC))) is fires


def test_aging_in_business_hours_says_so() -> None:
    t = at(NOW - timedelta(days=3), assignee=None, status=Status.NEW)  # Friday 11:00 in Paris
    (finding,) = RULE.validate_python(UNASSIGNED).evaluate(snapshot_of(NOW, ["zendesk"], [t], calendars=CALENDARS), NOW)
    assert finding.summary == "1 ticket open for more than 2h of working time (oldest 9h)"  # Fri 11-18 + Mon 9-11


# -- sla ---------------------------------------------------------------------------------------------

SLA = {"name": "sla", "type": "sla", "warn_within": "2h", "critical_within": "30m"}


def due_in(delta: timedelta, status: Status = Status.OPEN, id: str | None = None, **sla: Any) -> Ticket:
    return ticket(
        status=status,
        id=id,
        sla=Sla(first_response_due=NOW + delta, resolution_due=NOW + delta + timedelta(days=1), **sla),
    )


@pytest.mark.parametrize(
    ("tickets", "expected"),
    [
        ([due_in(timedelta(hours=3))], {}),
        ([due_in(timedelta(hours=1, minutes=59))], {"zendesk": ("warn", 1)}),
        ([due_in(timedelta(hours=1)), due_in(timedelta(minutes=29))], {"zendesk": ("critical", 2)}),
        ([due_in(timedelta(minutes=-5))], {"zendesk": ("critical", 1)}),  # breached
        ([due_in(timedelta(hours=5), breached=True)], {"zendesk": ("critical", 1)}),  # the helpdesk says breached
        ([due_in(timedelta(minutes=10), paused=True)], {}),  # paused SLAs are ignored
        ([ticket(), due_in(timedelta(minutes=10), status=Status.SOLVED)], {}),  # no SLA; solved
        ([], {}),
    ],
)
def test_sla(tickets: list[Ticket], expected: dict) -> None:
    assert found(SLA, tickets) == expected


def test_sla_lists_earliest_first_and_counts_by_stage() -> None:
    tickets = [
        due_in(timedelta(hours=1), id="w"),
        due_in(timedelta(minutes=-5), id="b"),
        due_in(timedelta(minutes=20), id="c"),
    ]
    (finding,) = RULE.validate_python(SLA).evaluate(snapshot_of(NOW, ["zendesk"], tickets), NOW)
    assert [t.id for t in finding.tickets] == ["b", "c", "w"]
    assert finding.summary == "3 SLAs at risk: 1 breached, 1 due within 30m, 1 due within 2h"


def test_sla_in_business_hours_counts_working_time_to_the_target() -> None:
    now = paris(2026, 11, 20, 17, 55).astimezone(UTC)  # Friday evening; target Monday 09:10
    t = ticket(sla=Sla(first_response_due=paris(2026, 11, 23, 9, 10).astimezone(UTC)))
    assert found(SLA, [t], now) == {}
    assert found({**SLA, "business_hours": "support-eu"}, [t], now) == {"zendesk": ("critical", 1)}


# -- flatline ----------------------------------------------------------------------------------------

SILENT = {"name": "silent", "type": "flatline", "window": "4h", "business_hours": "support-eu"}


@pytest.mark.parametrize(
    ("now", "fires"),
    [
        (paris(2026, 11, 23, 9, 30), False),  # Friday 16:00 -> Monday 09:30 is 2h30 of work
        (paris(2026, 11, 23, 10, 59), False),
        (paris(2026, 11, 23, 11, 0), True),
    ],
)
def test_flatline_counts_working_time_since_the_last_new_ticket(now: datetime, fires: bool) -> None:
    last = paris(2026, 11, 20, 16, 0).astimezone(UTC)
    tickets = [ticket().model_copy(update={"created_at": last - timedelta(hours=h)}) for h in (0, 3, 30)]
    assert ("zendesk" in found(SILENT, tickets, now.astimezone(UTC))) is fires
    calendar_time = {k: v for k, v in SILENT.items() if k != "business_hours"}
    assert "zendesk" in found(calendar_time, tickets, now.astimezone(UTC))


def test_flatline_needs_a_ticket_to_be_silent_after() -> None:
    assert found(SILENT, []) == {}


# -- spike -------------------------------------------------------------------------------------------

SPIKE = {
    "name": "spike",
    "type": "spike",
    "window": "1h",
    "baseline": "7d",
    "factor": 3,
    "min_count": 10,
    "group_by": ["helpdesk", "tag"],
}


def created(n: int, within: timedelta, offset: timedelta = timedelta(0), **fields: Any) -> list[Ticket]:
    return [ticket(age=offset + within * (i + 0.5) / n, **fields) for i in range(n)]


def tag(name: str) -> tuple[tuple[str, str], ...]:
    return (("helpdesk", "zendesk"), ("tag", name))


@pytest.mark.parametrize(
    ("tickets", "expected"),
    [
        # one login ticket an hour all week, then 12 in the last hour: 12 >= max(3 x 1, 10)
        (
            created(168, timedelta(days=7), timedelta(hours=1), tags=("login",))
            + created(12, timedelta(hours=1), tags=("login",)),
            {tag("login"): ("warn", 12)},
        ),
        # the same number in the last hour as usual is no spike
        (
            created(168 * 12, timedelta(days=7), timedelta(hours=1), tags=("login",))
            + created(12, timedelta(hours=1), tags=("login",)),
            {},
        ),
        # a new topic: nothing before, 9 now, under min_count
        (created(9, timedelta(hours=1), tags=("billing",)), {}),
        (created(10, timedelta(hours=1), tags=("billing",)), {tag("billing"): ("warn", 10)}),
        # tickets of the spike solved since still count
        (
            created(10, timedelta(hours=1), tags=("billing",), status=Status.SOLVED, solved_at=NOW),
            {tag("billing"): ("warn", 10)},
        ),
    ],
)
def test_spike(tickets: list[Ticket], expected: dict) -> None:
    assert found(SPIKE, tickets) == expected


def test_spike_names_the_tag_and_the_factor() -> None:
    tickets = created(168, timedelta(days=7), timedelta(hours=1), tags=("login",)) + created(
        12, timedelta(hours=1), tags=("login",)
    )
    (finding,) = RULE.validate_python(SPIKE).evaluate(snapshot_of(NOW, ["zendesk"], tickets), NOW)
    assert dict(finding.labels)["tag"] == "login"
    assert finding.summary == "12 new tickets in 1h, 12.0x the usual 1.0 per 1h over 7d (fires at 10)"


# -- fifo --------------------------------------------------------------------------------------------

FIFO = {"name": "fifo", "type": "fifo", "window": "1d", "ratio": 0.25, "min_count": 10}
NORMAL = (("helpdesk", "zendesk"), ("priority", "normal"))


def solved_young(n: int, age: timedelta, **fields: Any) -> list[Ticket]:
    return [solved(age + timedelta(hours=2), timedelta(hours=2), **fields) for _ in range(n)]


def waiting(n: int, age: timedelta, **fields: Any) -> list[Ticket]:
    return [ticket(age=age + timedelta(hours=i), **fields) for i in range(n)]


@pytest.mark.parametrize(
    ("tickets", "expected"),
    [
        (
            solved_young(10, timedelta(hours=1)) + waiting(10, timedelta(days=10)),
            {NORMAL: ("warn", pytest.approx(1 / (24 * 10 + 4.5), rel=1e-6))},
        ),  # 1h solved / 10d 4h30 waiting
        (solved_young(10, timedelta(days=5)) + waiting(10, timedelta(days=10)), {}),  # ratio 0.49
        (solved_young(9, timedelta(hours=1)) + waiting(10, timedelta(days=10)), {}),  # too few solved
        (solved_young(10, timedelta(hours=1)) + waiting(10, timedelta(days=10), priority=Priority.URGENT), {}),
        ([], {}),
    ],
)
def test_fifo(tickets: list[Ticket], expected: dict) -> None:
    assert found(FIFO, tickets) == expected


def test_fifo_lists_the_oldest_skipped_tickets_first() -> None:
    tickets = (
        solved_young(10, timedelta(hours=3))
        + waiting(10, timedelta(days=10))
        + [ticket(age=timedelta(hours=1), id="fresh"), ticket(age=timedelta(days=40), id="oldest")]
    )
    (finding,) = RULE.validate_python(FIFO).evaluate(snapshot_of(NOW, ["zendesk"], tickets), NOW)
    assert finding.tickets[0].id == "oldest" and "fresh" not in [t.id for t in finding.tickets]
    assert finding.ticket_count == 11
    assert "11 older tickets skipped" in finding.summary
