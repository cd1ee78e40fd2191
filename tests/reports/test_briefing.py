"""The briefing a lead staffs by, on a seeded history whose every number is worked out by hand
(tests/helpers/reports.py: briefing_store): in text and in JSON, daily and weekly, and the chart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backlog_watch.kpis import sla_breached
from backlog_watch.models import Sla
from backlog_watch.reports import staffing
from backlog_watch.reports.build import build_daily, build_weekly
from backlog_watch.reports.chart import PARTIAL_ALPHA, backlog_figure, day_labels
from backlog_watch.reports.render import render
from backlog_watch.reports.staffing import Workload, verdict, workload
from backlog_watch.store.read_model import ReadModel
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW as FNOW
from tests.factories import ticket
from tests.helpers.reports import NOW, TZ, briefing_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = briefing_store(tmp_path)
    yield s
    s.close()


def test_daily_briefing_carries_what_a_lead_staffs_by(store: SqliteStore) -> None:
    report = build_daily(store, NOW, TZ, {"zendesk": 0.5})
    text = render(report, "text")
    assert "Verdict\n  Backlog 20, up 15 on last Monday, 17.5 days to clear: staff the queue\n" in text
    assert "Open now 20, yesterday 17, same day last week 5 (+15)" in text
    assert "Yesterday (2026-11-22): 7 created, 6 solved" in text
    assert "Workload: 10 agent-hours, 5 h for each of 2 agents: above the band (healthy 2-4 h per agent)" in text
    assert "Unassigned: 2" in text
    assert "Waiting on us (new, open): 18; waiting on the customer (pending, on hold): 2" in text
    assert "Age\n  < 1 day: 9\n  1-3 days: 3\n  3-7 days: 5\n  > 7 days: 3\n" in text
    # u1 is due at 11:30; p1's 11:00 target is paused; "risk" is due at 14:00, after noon.
    assert (
        "SLA breaching before noon (12:00): 1\n  #u1 Ticket u1 (urgent, 1h old, Support, zendesk, SLA due in 2h 30m)\n"
    ) in text
    # compared with the same hour of the week before (none then), not with a week's average hour
    assert "14:00-15:00: 4 created, none at that hour in the week before; tag login on 3 of them" in text

    extra = json.loads(render(report, "json"))["extra"]
    assert extra["verdict"] == "Backlog 20, up 15 on last Monday, 17.5 days to clear: staff the queue"
    assert extra["compared"] == {"now": 20, "yesterday": 17, "last_week": 5}
    assert extra["workload"] == {
        "hours": 10.0,
        "agents": 2,
        "per_agent": 5.0,
        "healthy_from": 2.0,
        "healthy_to": 4.0,
        "band": "above",
    }
    assert extra["unassigned"] == 2
    assert extra["waiting"] == {"on_us": 18, "on_customer": 2}
    assert extra["age_buckets"] == [["< 1 day", 9], ["1-3 days", 3], ["3-7 days", 5], ["> 7 days", 3]]
    assert extra["noon"] == "2026-11-23T12:00+01:00"
    assert [t["id"] for t in extra["breach_before_noon"]] == ["u1"]
    assert extra["breach_before_noon"][0]["sla"] == "due in 2h 30m"
    # The week before yesterday brought 15 tickets: 15/168 an hour on average.
    assert extra["spikes_yesterday"] == [{"hour": 14, "created": 4, "factor": None, "tag": "login", "tagged": 3}]


def test_the_workload_uses_each_helpdesks_handle_time(store: SqliteStore) -> None:
    report = build_daily(store, NOW, TZ, {"zendesk": 0.25})
    assert report.extra["verdict"] == "Backlog 20, up 15 on last Monday, 17.5 days to clear: a healthy queue"
    assert "Workload: 5 agent-hours, 2.5 h for each of 2 agents: within the band" in render(report, "text")


@pytest.mark.parametrize(
    ("open_now", "last_week", "days", "load", "said"),
    [
        (137, 125, 3.1, workload({}, {}, 0), "Backlog 137, up 12 on last Monday, 3.1 days to clear: staff the queue"),
        (10, 14, 2.5, workload({}, {}, 0), "Backlog 10, down 4 on last Monday, 2.5 days to clear: on track"),
        (
            6,
            6,
            None,
            workload({}, {}, 3),
            "Backlog 6, level with last Monday, nothing solved in 7 days: room for other work",
        ),
        (0, 2, 0.0, workload({}, {}, 0), "Backlog 0, down 2 on last Monday, 0 days to clear: on track"),
    ],
)
def test_the_verdict_is_in_words(open_now: int, last_week: int, days: float | None, load: Workload, said: str) -> None:
    """Without an agent on record, more than 3 days to clear says to staff the queue."""
    assert verdict(open_now, last_week, 0, days, load) == said


def test_weekly_review_trend_offenders_and_busiest_hour(store: SqliteStore) -> None:
    report = build_weekly(store, NOW, TZ)
    text = render(report, "text")
    assert "Fri 20 Nov: 7 created, 1 solved (+6), 15 open" in text
    assert "Sun 22 Nov: 7 created, 6 solved (+1), 18 open" in text
    assert "2026-11-17: n/a (nothing solved in 7 days)\n  2026-11-18: 56 days\n" in text
    assert "2026-11-22: 15.8 days" in text
    # Solved this week at a median age of 53h (normal priority): nine normal tickets waited longer.
    assert "Skipped, not oldest first: 9\n  #o10 Ticket o10 (normal, 9d 23h old, Billing, zendesk)\n" in text
    assert "Aging, open over 7 days: 3\n" in text
    assert "Busiest hour of the week\n  Friday 10:00-11:00: 7 created\n" in text
    assert "Priority normal: 66.7% (4 met, 2 breached, 2 without SLA data)" in text

    data = json.loads(render(report, "json"))
    extra = data["extra"]
    assert [(d["created"], d["solved"], d["open_at_end"]) for d in data["days"]] == [
        (1, 0, 6),
        (1, 0, 7),
        (2, 1, 8),
        (1, 0, 9),
        (7, 1, 15),
        (2, 0, 17),
        (7, 6, 18),
    ]
    assert [row["days_to_clear"] for row in extra["days_to_clear_trend"]] == [None, None, 56.0, 63.0, 52.5, 59.5, 15.8]
    assert extra["fifo_skipped"]["count"] == 9
    assert [t["id"] for t in extra["fifo_skipped"]["oldest"]] == ["o10", "o9", "o8", "o7", "o6"]
    assert extra["aging"]["count"] == 3
    assert [t["id"] for t in extra["aging"]["oldest"]] == ["o10", "o9", "o8"]
    assert extra["busiest_hour"] == {"weekday": "Friday", "hour": 10, "created": 7}
    assert [r["name"] for r in extra["sla_attainment"]["by_helpdesk"]] == ["zendesk"]


def test_the_chart_draws_today_as_partial_with_local_days(store: SqliteStore) -> None:
    daily = build_daily(store, NOW, TZ)
    assert [d.partial for d in daily.days[-2:]] == [False, True]
    assert json.loads(render(daily, "json"))["days"][-1]["partial"] is True
    assert not any(d.partial for d in build_weekly(store, NOW, TZ).days)
    assert day_labels(daily.days)[-2:] == ["Sun 22", "Mon 23\nso far"]

    figure = backlog_figure(daily.days, "t", TZ)
    bars = figure.axes[0]
    assert bars.get_xlabel() == "day (Europe/Paris)"
    created, solved = bars.containers[0], bars.containers[1]
    for container in (created, solved):
        today, yesterday = container.patches[-1], container.patches[-2]
        assert today.get_hatch() == "//" and today.get_alpha() == PARTIAL_ALPHA
        assert yesterday.get_hatch() is None and yesterday.get_alpha() is None
    assert [t.get_text() for t in bars.get_xticklabels()][-1] == "Mon 23\nso far"
    assert "so far today" in [text.get_text() for text in bars.get_legend().get_texts()]


def test_a_working_day_is_no_spike_against_the_same_hours_before_it() -> None:
    """Every working hour busier than the night-averaged week is not a spike: each hour compares with itself."""
    tz = ZoneInfo("Europe/Paris")
    day = datetime(2026, 11, 22, tzinfo=tz)
    week = [
        ((day - timedelta(days=d)).replace(hour=h).timestamp(), ("t",))
        for d in range(1, 8)
        for h in range(9, 18)
        for _ in range(4)
    ]  # 4 tickets in each working hour, every day of the week before
    today = [(day.replace(hour=h).timestamp(), ("t",)) for h in range(9, 18) for _ in range(5)]  # 5 an hour
    burst = [(day.replace(hour=15, minute=m).timestamp(), ("outage",)) for m in range(0, 60, 5)]  # +12 at 15:00
    baseline = staffing.hourly_baseline(week, 7, tz)
    spikes = staffing.day_spikes(today + burst, day, baseline, tz)
    assert [(s["hour"], s["created"], s["factor"], s["tag"]) for s in spikes] == [(15, 17, 4.2, "outage")]


def test_a_ticket_that_already_breached_is_counted_as_breached_not_as_breaching_before_noon(tmp_path: Path) -> None:
    """The briefing's SLA lines add up: one definition of breached (the KPI's), the rest due later."""
    noon = FNOW.replace(hour=12, minute=0)
    flagged = ticket(id="flagged", sla=Sla(first_response_due=FNOW + timedelta(hours=1), breached=True))
    running = ticket(id="running", sla=Sla(first_response_due=FNOW + timedelta(hours=1)))
    late = ticket(id="late", sla=Sla(first_response_due=FNOW - timedelta(minutes=5)))
    store = SqliteStore(tmp_path / "bw.db")
    try:
        store.commit_tickets([flagged, running, late])
        read = ReadModel(store)
        assert [t.id for t in read.sla_due(FNOW, noon, inclusive=True, limit=None)[1]] == ["running"]
        assert read.open_backlog(FNOW).sla_breached == 2
    finally:
        store.close()
    assert [t.id for t in (flagged, running, late) if sla_breached(t, FNOW)] == ["flagged", "late"]
