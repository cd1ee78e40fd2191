"""Seasonal baselines (`baseline: hour_of_week`) on a weekly rhythm, through the real config, the daemon's
snapshot and both stores: a burst every Monday 09:00-10:00 (Paris), one ticket each weekday at 15:00,
for five weeks across the end of DST; then a Tuesday 14:00 surge, and a Monday with no ticket at all.

The calendar-time spike (`baseline: 1d`) fires every Monday; the hour-of-week one only on the surge. The
plain flatline fires on every quiet night; the hour-of-week one only when Monday 09:00 brings nothing.
The store is filled as polls would fill it: each evaluation sees the tickets created (and solved) by then.

Then the words of one Monday against four past ones (median, mean, a holiday, a store too young), and the
config: the seasonal keys and their mistakes, each one located line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from backlog_watch.app import Parts, assemble
from backlog_watch.business_hours import BusinessCalendar, CalendarSettings
from backlog_watch.config import parse_config
from backlog_watch.errors import ConfigError
from backlog_watch.models import Status, Ticket
from backlog_watch.rules import Rule
from backlog_watch.rules.base import Measure
from tests.factories import snapshot_of, ticket
from tests.helpers.cli import cli
from tests.helpers.config import document, parse, zendesk

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 10, 5, tzinfo=PARIS)
"""Monday of week 0; Paris leaves summer time on Sunday 25 October (week 2 -> week 3)."""
MONDAYS = [date(2026, 10, 5) + timedelta(weeks=w) for w in range(5)]
SURGE = date(2026, 11, 3)
"""Tuesday of week 4: 20 tickets from 14:00."""
BROKEN = date(2026, 11, 9)
"""Monday of week 5: no ticket comes in."""
END = datetime(2026, 11, 9, 12, 30, tzinfo=PARIS)

RULES: list[dict[str, Any]] = [
    {"name": "calendar-spike", "type": "spike", "window": "1h", "baseline": "1d", "factor": 3, "min_count": 5},
    {"name": "weekly-spike", "type": "spike", "window": "1h", "baseline": "hour_of_week", "factor": 3, "min_count": 5},
    {"name": "silent", "type": "flatline", "window": "1h"},
    {"name": "weekly-silent", "type": "flatline", "window": "1h", "baseline": "hour_of_week"},
]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def created(number: str, at: datetime, solved_after: timedelta | None = None) -> Iterator[tuple[datetime, Ticket]]:
    """A ticket as polls see it: open when created, then (``solved_after``) solved."""
    at = at.astimezone(UTC)
    opened = Ticket(helpdesk="zendesk", id=number, status=Status.OPEN, created_at=at, updated_at=at)
    yield at, opened
    if solved_after is not None:
        done = at + solved_after
        yield done, opened.model_copy(update={"status": Status.SOLVED, "updated_at": done, "solved_at": done})


def weekly_rhythm() -> list[tuple[datetime, Ticket]]:
    """Every version of every ticket, by the moment a poll would see it."""
    events = [*created("first", START)]
    for w, monday in enumerate(MONDAYS):
        for i in range(12):
            events += created(f"burst-{w}-{i}", local(monday, 9, 5 * i), timedelta(hours=2))
    for day in range(35 + 1):
        weekday = START.date() + timedelta(days=day)
        if weekday.weekday() < 5:
            events += created(f"daily-{day}", local(weekday, 15), timedelta(hours=1))
    for i in range(20):
        events += created(f"surge-{i}", local(SURGE, 14, 3 * i), timedelta(hours=3))
    return sorted(events, key=lambda e: e[0])


@pytest.fixture(params=["sqlite", "postgresql"])
async def parts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Parts]:
    store = f"sqlite:///{tmp_path / 'bw.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    config = parse({"store": store, **document(timezone="Europe/Paris", helpdesks=[zendesk()], rules=RULES)})
    async with assemble(config) as assembled:
        yield assembled


def run(parts: Parts) -> dict[datetime, dict[str, Measure]]:
    """Evaluate every hour (at :30) from the first ticket to END, the store filled as time goes."""
    events = weekly_rhythm()
    measured: dict[datetime, dict[str, Measure]] = {}
    now = START.astimezone(UTC) + timedelta(minutes=30)
    while now <= END:
        due = [ticket for at, ticket in events if at <= now]
        if due:
            parts.store.commit_page("zendesk", due, None)
            events = events[len(due) :]
        snapshot = parts.daemon.snapshot(now, ["zendesk"])
        measured[now] = {rule.name: m for rule in parts.daemon.rules for m in rule.measure(snapshot, now)}
        now += timedelta(hours=1)
    return measured


def fired(measured: dict[datetime, dict[str, Measure]], rule: str) -> dict[date, list[datetime]]:
    """The local moments a rule fired at, by local day."""
    days: dict[date, list[datetime]] = defaultdict(list)
    for now, measures in measured.items():
        if measures[rule].level is not None:
            days[now.astimezone(PARIS).date()].append(now.astimezone(PARIS))
    return dict(days)


async def test_the_weekly_rhythm_fires_the_calendar_baseline_and_not_the_hour_of_the_week(parts: Parts) -> None:
    measured = run(parts)

    # a spike: every Monday against the day before; against past Mondays only the Tuesday surge is one
    assert sorted(fired(measured, "calendar-spike")) == [*MONDAYS, SURGE]
    weekly = fired(measured, "weekly-spike")
    assert list(weekly) == [SURGE]
    assert weekly[SURGE][0] == local(SURGE, 14, 30)
    surge = measured[local(SURGE, 14, 30).astimezone(UTC)]["weekly-spike"]
    assert surge.summary == "11 new tickets in 1h, usual for Tuesday 13:30-14:30 is 0 (median of 4 weeks); fires at 5"
    assert [t.id for t in surge.tickets][:2] == ["surge-10", "surge-9"]  # the newest first

    # what the Monday burst is compared with: the same Monday hour, as many weeks as the store holds
    def monday(week: int) -> str:
        return measured[local(MONDAYS[week], 9, 30).astimezone(UTC)]["weekly-spike"].summary

    assert monday(0) == (
        "7 new tickets in 1h; no earlier Monday 08:30-09:30 to compare with (4 before the store's first ticket)"
    )
    assert monday(2) == (
        "7 new tickets in 1h, usual for Monday 08:30-09:30 is 7 "
        "(median of 2 weeks; 2 before the store's first ticket); fires at 21"
    )
    # four weeks back across the DST change, the burst tickets solved weeks ago (out of the solved window)
    assert monday(4) == "7 new tickets in 1h, usual for Monday 08:30-09:30 is 7 (median of 4 weeks); fires at 21"

    # silence: the plain flatline fires on every quiet night, the hour-of-week one on the broken Monday only
    sunday_night = local(BROKEN - timedelta(days=1), 3, 30).astimezone(UTC)
    assert measured[sunday_night]["silent"].level == "warn"
    quiet = measured[sunday_night]["weekly-silent"]
    assert quiet.level is None
    assert quiet.summary.endswith(
        "; as usual: usual for Friday 15:00-Sunday 03:30 is 0 (median of 4 weeks) (fires from 1)"
    )
    assert len(fired(measured, "silent")) > 30
    broken = fired(measured, "weekly-silent")
    assert broken == {BROKEN: [local(BROKEN, hour, 30) for hour in (9, 10, 11, 12)]}
    first = measured[local(BROKEN, 9, 30).astimezone(UTC)]["weekly-silent"]
    assert first.summary == (
        "no new ticket for 2d 18h (last at 2026-11-06 14:00 UTC; fires at 1h); "
        "usual for Friday 15:00-Monday 09:30 is 7 (median of 4 weeks)"
    )


async def test_the_same_hour_of_the_week_is_on_the_local_wall_clock(parts: Parts) -> None:
    """The first Monday after the change to winter time: 09:30-10:30 in Paris is 08:30 UTC now, 07:30 UTC
    a week before. Shifting by 168 hours of UTC would compare the burst with an empty hour."""
    run_until = local(MONDAYS[3], 10, 30).astimezone(UTC)
    latest = {t.id: t for at, t in weekly_rhythm() if at <= run_until}  # each ticket as it is by then
    parts.store.commit_page("zendesk", list(latest.values()), None)
    snapshot = parts.daemon.snapshot(run_until, ["zendesk"])
    assert snapshot.timezone == PARIS  # the config's timezone, through the daemon
    (rule,) = [r for r in parts.daemon.rules if r.name == "weekly-spike"]
    (paris,) = rule.measure(snapshot, run_until)
    assert (paris.level, paris.summary) == (
        None,
        "5 new tickets in 1h, usual for Monday 09:30-10:30 is 5 (median of 3 weeks; 1 before the store's "
        "first ticket); fires at 15",
    )
    (utc,) = rule.measure(replace(snapshot, timezone=UTC), run_until)
    assert (utc.level, utc.summary) == (
        "warn",
        "5 new tickets in 1h, usual for Monday 08:30-09:30 is 0 (median of 3 weeks; 1 before the store's "
        "first ticket); fires at 5",
    )


# -- the words, the statistic, holidays: one Monday 09:00-10:00 against four past ones ----------------

NOW_PARIS = local(date(2026, 11, 23), 10)
PAST = {date(2026, 11, 16): 20, date(2026, 11, 9): 8, date(2026, 11, 2): 6, date(2026, 10, 26): 8}
"""Tickets created on each past Monday 09:00-10:00: median 8, mean 10.5."""
WEEKLY_SPIKE = {"name": "weekly", "type": "spike", "window": "1h", "baseline": "hour_of_week", "factor": 3}


def mondays(now_count: int = 31, past: dict[date, int] = PAST) -> list[Ticket]:
    counts = {NOW_PARIS.date(): now_count, **past}
    tickets = [ticket(created_at=START.astimezone(UTC), updated_at=START.astimezone(UTC))]  # the store begins
    for day, n in counts.items():
        for i in range(n):
            at = (local(day, 9) + timedelta(minutes=(i + 0.5) * 60 / n)).astimezone(UTC)
            tickets.append(ticket(created_at=at, updated_at=at))
    return tickets


def weekly(spec: dict[str, Any], tickets: list[Ticket], **context: Any) -> Measure:
    context.setdefault("timezone", PARIS)
    snapshot = snapshot_of(NOW_PARIS.astimezone(UTC), ["zendesk"], tickets, **context)
    (measure,) = TypeAdapter(Rule).validate_python(spec).measure(snapshot, NOW_PARIS.astimezone(UTC))
    return measure


def test_the_alert_says_what_it_compared_with() -> None:
    found = weekly(WEEKLY_SPIKE, mondays())
    assert (found.level, found.value, found.threshold, found.ticket_count) == ("warn", 31, 24, 31)
    assert found.summary == "31 new tickets in 1h, usual for Monday 09:00-10:00 is 8 (median of 4 weeks); fires at 24"
    mean = weekly({**WEEKLY_SPIKE, "usual": "mean"}, mondays())
    assert (mean.level, mean.summary) == (
        None,
        "31 new tickets in 1h, usual for Monday 09:00-10:00 is 10.5 (mean of 4 weeks); fires at 31.5",
    )
    assert weekly({**WEEKLY_SPIKE, "weeks": 1}, mondays()).summary == (
        "31 new tickets in 1h, usual for Monday 09:00-10:00 is 20 (median of 1 week); fires at 60"
    )


def test_a_holiday_of_the_rules_calendar_is_left_out_of_the_weeks() -> None:
    past = {**PAST, date(2026, 11, 16): 0}  # a holiday: nobody wrote in
    assert weekly(WEEKLY_SPIKE, mondays(20, past)).summary == (
        "20 new tickets in 1h, usual for Monday 09:00-10:00 is 7 (median of 4 weeks); fires at 21"
    )
    holiday = BusinessCalendar.from_settings(
        CalendarSettings(
            timezone="Europe/Paris",
            days=("mon", "tue", "wed", "thu", "fri"),
            hours=("09:00-18:00",),
            holidays=(date(2026, 11, 16),),
        )
    )
    # the calendar's time zone, not the snapshot's (UTC here), says when Monday 09:00 is
    found = weekly(
        {**WEEKLY_SPIKE, "business_hours": "support-eu"},
        mondays(20, past),
        calendars={"support-eu": holiday},
        timezone=UTC,
    )
    assert (found.level, found.summary) == (
        None,
        "20 new tickets in 1h, usual for Monday 09:00-10:00 is 8 (median of 3 weeks; 1 on a holiday); fires at 24",
    )


def test_flatline_with_no_week_to_go_by_stays_quiet_and_says_so() -> None:
    last = local(date(2026, 11, 22), 18)  # Sunday evening: the store's only ticket
    young = [ticket(created_at=last.astimezone(UTC), updated_at=last.astimezone(UTC))]
    spec = {"name": "silent", "type": "flatline", "window": "1h", "baseline": "hour_of_week"}
    found = weekly(spec, young)
    assert found.level is None
    assert found.summary.endswith(
        "; no earlier Sunday 18:00-Monday 10:00 to compare with (4 before the store's first ticket)"
    )
    assert weekly({k: v for k, v in spec.items() if k != "baseline"}, young).level == "warn"


# -- the config: the contract's form still loads; seasonal keys are checked where they are written --------

CONFIG = """\
helpdesks:
  - name: zendesk
    type: zendesk
    url: https://acme.zendesk.com
    email: ops@acme.com
    token: t
rules:
  - name: weekly
    type: spike
    window: 1h
    baseline: hour_of_week
    factor: 3
"""
# the rule's lines: name 8, type 9, window 10, baseline 11, factor 12; a key added below is line 13
FLATLINE = CONFIG.split("  - name: weekly")[0] + "  - name: quiet\n    type: flatline\n    window: 1h\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CONFIG + "    weeks: 0\n", "config.yaml:13: rules[0].weeks: must be greater than or equal to 1, got 0"),
        (CONFIG + "    weeks: 53\n", "config.yaml:13: rules[0].weeks: must be less than or equal to 52, got 53"),
        (
            CONFIG + "    usual: mode\n",
            'config.yaml:13: rules[0].usual: "mode" is not allowed: use one of median, mean',
        ),
        (
            CONFIG.replace("hour_of_week", "weekly"),
            'config.yaml:11: rules[0].baseline: "weekly" is neither a duration (7d) nor hour_of_week',
        ),
        (
            CONFIG.replace("hour_of_week", "7d") + "    weeks: 2\n",
            "config.yaml:13: rules[0].weeks: weeks applies to baseline: hour_of_week only",
        ),
        (
            CONFIG.replace("window: 1h", "window: 8d"),
            "config.yaml:8: rules[0]: window must be longer than 0s and at most 7d with baseline: hour_of_week",
        ),
        (
            FLATLINE + "    min_usual: 2\n",
            "config.yaml:11: rules[0].min_usual: min_usual applies to baseline: hour_of_week only",
        ),
        (
            FLATLINE + "    baseline: hour_of_week\n    min_usual: 0\n",
            "config.yaml:12: rules[0].min_usual: must be greater than 0, got 0",
        ),
    ],
)
def test_a_seasonal_mistake_is_one_located_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config.yaml", env={})
    assert caught.value.problems == [expected]


def test_the_seasonal_keys_load_with_their_defaults() -> None:
    spike = parse_config(CONFIG, "config.yaml", env={}).rules[0]
    assert (spike.baseline, spike.weeks, spike.usual, spike.needs_solved()) == (  # type: ignore[attr-defined]
        "hour_of_week",
        4,
        "median",
        timedelta(hours=1),
    )
    quiet = parse_config(FLATLINE + "    baseline: hour_of_week\n    weeks: 8\n", env={}).rules[0]
    assert (quiet.baseline, quiet.weeks, quiet.min_usual) == ("hour_of_week", 8, 1)  # type: ignore[attr-defined]


async def test_check_refuses_weeks_below_one_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bw.yaml"
    path.write_text(CONFIG + "    weeks: 0\n", encoding="utf-8")
    code, out, err = await cli("check", "--config", str(path))
    assert code == 2
    assert f"{path}:13: rules[0].weeks: must be greater than or equal to 1, got 0" in err
