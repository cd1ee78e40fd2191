"""The KPI history on disk (record, thinning, series) and the rules that read it: trend and forecast.

The forecast is checked on synthetic histories whose answer is known: a backlog growing by exactly
10 a day from 0 passes 100 exactly 3 days after it reaches 70.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from backlog_watch.models import Snapshot
from backlog_watch.rules.backlog import Rule
from backlog_watch.store.history import History, HistoryView, scope_key
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket

RULE = TypeAdapter(Rule)
ZD = (("helpdesk", "zendesk"),)
DAY = timedelta(days=1)


def daily_view(values_by_days_ago: dict[int, float], metric: str = "open_tickets") -> HistoryView:
    return HistoryView(
        {scope_key(ZD): [((NOW - d * DAY).timestamp(), {metric: v}) for d, v in values_by_days_ago.items()]}
    )


def measures(spec: dict[str, Any], view: HistoryView | None, open_now: int) -> list[Any]:
    snap = Snapshot.of(NOW, ["zendesk"], [ticket() for _ in range(open_now)], history=view)
    return list(RULE.validate_python(spec).measure(snap, NOW))


# -- store --------------------------------------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "h.db")
    yield History(store)
    store.close()


def test_record_then_read_back_per_scope_and_step(history: History) -> None:
    start = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    for minutes in range(0, 3 * 24 * 60, 30):
        moment = start + timedelta(minutes=minutes)
        history.record(
            moment,
            {
                ZD: {"open_tickets": minutes / 30},
                (("group", "Billing"), ("helpdesk", "zendesk")): {"open_tickets": 1.0},
            },
        )
    daily = history.series("open_tickets", ZD, start, step="day")
    assert [(m.date().day, v) for m, v in daily] == [(20, 47.0), (21, 95.0), (22, 143.0)]  # last of each day
    hourly = history.series("open_tickets", ZD, start + timedelta(days=2), step="hour")
    assert len(hourly) == 24 and hourly[0][1] == 97.0
    assert set(history.scopes()) == {ZD, (("group", "Billing"), ("helpdesk", "zendesk"))}


def test_thinning_keeps_raw_then_hourly_then_daily_then_drops(history: History) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for minutes in range(0, 4 * 24 * 60, 10):  # four days every 10 minutes
        history.record(start + timedelta(minutes=minutes), {ZD: {"open_tickets": 1.0}})
    end = start + timedelta(days=4)
    raw = history.series("open_tickets", ZD, end - timedelta(days=2) + timedelta(minutes=30), step="raw")
    older = history.series("open_tickets", ZD, start, end - timedelta(days=2) - timedelta(minutes=30), step="raw")
    assert len(raw) > 6 * 40  # the last two days: every evaluation
    assert len(older) == 47  # before: one per hour (the last one is at the edge, still raw)
    assert history.count() < 24 * 6 * 2 + 24 * 2 + 10
    history.record(end + timedelta(days=40), {ZD: {"open_tickets": 2.0}})
    assert len(history.series("open_tickets", ZD, start, end, step="raw")) == 4  # one a day past 30 days
    history.record(end + timedelta(days=800), {ZD: {"open_tickets": 3.0}})
    assert history.count() == 1  # older than two years: gone


def test_value_at_takes_the_last_point_before_within_a_day() -> None:
    view = daily_view({3: 30, 1: 10})
    assert view.value_at("open_tickets", ZD, NOW - timedelta(hours=49)) == 30.0
    assert view.value_at("open_tickets", ZD, NOW) == 10.0
    assert view.value_at("open_tickets", ZD, NOW - 5 * DAY) is None
    assert view.daily("open_tickets", ZD, NOW, 3) == [30.0, 30.0, 10.0]


# -- trend --------------------------------------------------------------------------------------------

TREND = {"name": "growing", "type": "trend", "metric": "open_tickets", "growing_for": "3d"}


@pytest.mark.parametrize(
    ("history", "open_now", "level"),
    [
        ({3: 40, 2: 45, 1: 52}, 60, "warn"),
        ({3: 40, 2: 45, 1: 52}, 52, None),  # flat today
        ({3: 40, 2: 38, 1: 52}, 60, None),  # one day down
        ({2: 45, 1: 52}, 60, None),  # not enough history
    ],
)
def test_trend(history: dict[int, float], open_now: int, level: str | None) -> None:
    (m,) = measures(TREND, daily_view(history), open_now)
    assert m.level == level


def test_trend_says_the_path_and_what_it_needs() -> None:
    (m,) = measures(TREND, daily_view({3: 40, 2: 45, 1: 52}), 60)
    assert m.summary == "open tickets grew every day for 3d: 40 -> 45 -> 52 -> 60"
    (m,) = measures(TREND, None, 60)
    assert m.summary == "open tickets is 60; needs 3 day(s) of history, has 0"


# -- forecast -----------------------------------------------------------------------------------------

FORECAST = {"name": "forecast", "type": "forecast", "metric": "open_tickets", "above": 100, "horizon": "3d"}
LINEAR = {d: 70.0 - 10 * d for d in range(1, 8)}  # 60, 50, ... 0: +10 a day, 70 now


@pytest.mark.parametrize(
    ("spec", "history", "open_now", "level"),
    [
        (FORECAST, LINEAR, 70, "warn"),  # crosses in exactly 3 days
        ({**FORECAST, "horizon": "2d23h"}, LINEAR, 70, None),
        ({**FORECAST, "horizon": "1d"}, LINEAR, 101, "warn"),  # already past
        (FORECAST, {d: 70.0 for d in range(1, 8)}, 70, None),  # flat: never
        (FORECAST, {1: 60}, 70, None),  # one day of history is not a trend
        # "Friday's backlog will not clear before Monday": -5 a day from 30 reaches 0 in 6 days
        (
            {**FORECAST, "above": None, "below": 1, "when": "does_not_cross"},
            {d: 30.0 + 5 * d for d in range(1, 8)},
            30,
            "warn",
        ),
        (
            {**FORECAST, "above": None, "below": 1, "when": "does_not_cross", "horizon": "6d"},
            {d: 30.0 + 5 * d for d in range(1, 8)},
            30,
            None,
        ),
    ],
)
def test_forecast(spec: dict[str, Any], history: dict[int, float], open_now: int, level: str | None) -> None:
    (m,) = measures(spec, daily_view(history), open_now)
    assert m.level == level


def test_forecast_says_when_with_a_least_squares_rate() -> None:
    (m,) = measures(FORECAST, daily_view(LINEAR), 70)
    assert m.summary == "at this rate (+10.0/day) open tickets passes 100 on Thu 26 Nov 10:00 UTC (in 3d)"
    noisy = {d: 70.0 - 10 * d + (3 if d % 2 else -3) for d in range(1, 7)}  # noise that cancels out
    rule = RULE.validate_python(FORECAST)
    snap = Snapshot.of(NOW, ["zendesk"], [], history=daily_view(noisy))
    rate, days = rule.predict(snap, ZD, 70.0, NOW)
    assert rate == pytest.approx(10.0 + 0.0, abs=0.9) and days == pytest.approx(30 / rate)


def test_forecast_reads_what_the_daemon_recorded(history: History) -> None:
    for day in range(7, 0, -1):  # every hour for a week, growing 10 a day
        for hour in range(24):
            moment = NOW - day * DAY + timedelta(hours=hour)
            history.record(moment, {ZD: {"open_tickets": 70 - 10 * day + 10 * hour / 24}})
    for view in (history.view(NOW - 8 * DAY), history.daily_view(NOW, 7)):
        (m,) = measures(FORECAST, view, 70)
        assert m.level == "warn" and "on Thu 26 Nov 10:00 UTC" in m.summary


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"where": {"priority": "urgent"}}, "`where` cannot be used"),
        ({"group_by": ["helpdesk", "tag"]}, "group_by must be [helpdesk] or [helpdesk, group]"),
        ({"group_by": ["helpdesk", "group"]}, None),
    ],
)
def test_history_rules_group_by_what_the_history_keeps(extra: dict[str, Any], reason: str | None) -> None:
    found = RULE.validate_python({**TREND, **extra}).unsupported_reason()
    assert found is None if reason is None else reason in (found or "")


def test_evaluations_at_any_rate_leave_at_most_twelve_rows_per_scope_an_hour(history: History) -> None:
    """The bound: one row per scope per 5 minutes, however often the daemon evaluates (here every 3 s)."""
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    scopes = [ZD, (("group", "Billing"), ("helpdesk", "zendesk")), (("helpdesk", "jira"),)]
    for tick in range(1200):
        history.record(start + timedelta(seconds=3 * tick), {scope: {"open_tickets": float(tick)} for scope in scopes})
    assert history.count() == 12 * len(scopes)
    raw = history.series("open_tickets", ZD, start, step="raw")
    assert [v for _, v in raw] == [100.0 * i + 99 for i in range(12)]  # the last value of each 5 minutes
    assert raw[-1][0] == start + timedelta(seconds=3 * 1199)  # when it was last evaluated
    assert history.view(start).value_at("open_tickets", ZD, start + timedelta(hours=1)) == 1199.0
