"""Seasonal baselines (`baseline: hour_of_week`) on a weekly rhythm, through the real config, the daemon's
snapshot and both stores: a burst every Monday 09:00-10:00 (Paris), one ticket each weekday at 15:00,
for five weeks across the end of DST; then a Tuesday 14:00 surge, and a Monday with no ticket at all.

The calendar-time spike (`baseline: 1d`) fires every Monday; the hour-of-week one only on the surge. The
plain flatline fires on every quiet night; the hour-of-week one only when Monday 09:00 brings nothing.
The store is filled as polls would fill it: each evaluation sees the tickets created (and solved) by then.
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

from backlog_watch.app import Parts, assemble
from backlog_watch.models import Status, Ticket
from backlog_watch.rules.base import Measure
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
    parts.store.commit_page("zendesk", [t for at, t in weekly_rhythm() if at <= run_until], None)
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
