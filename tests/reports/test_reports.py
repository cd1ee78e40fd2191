"""Reports on a seeded history in SQLite on disk: the numbers, not just the headings; the chart is a PNG."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from backlog_watch.models import Alert, AlertState, Priority, Sla, SlaKind, SlaTarget, Status
from backlog_watch.reports import email_message, prepare
from backlog_watch.reports.build import build_daily, build_weekly, recurring_spikes
from backlog_watch.reports.render import render
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import ticket
from tests.helpers.reports import NOW, TZ, at, seed, seeded_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = seeded_store(tmp_path)
    yield s
    s.close()


def test_daily_briefing_numbers(store: SqliteStore) -> None:
    report = build_daily(store, NOW, TZ)
    x = report.extra
    assert report.open_tickets == 13
    assert x["change_since_yesterday"] == 13 - 15  # yesterday 09:00: o2..o10 and the six not yet solved
    assert x["yesterday"] == {"day": "2026-11-22", "created": 3, "solved": 6}
    assert report.days_to_clear == round(13 / (6 / 7), 1)
    assert [t.id for t in x["oldest"]][:2] == ["o10", "o9"]
    assert x["sla_at_risk_today"] == 1 and x["sla_at_risk"][0].id == "risk"
    by_priority = {c.name: (c.now, c.change) for c in x["by_priority"]}
    assert by_priority["urgent"] == (1, 1) and by_priority["high"] == (1, 1)
    text = render(report, "text")
    assert "Open: 13 (-2 since yesterday)" in text
    assert "Yesterday (2026-11-22): 3 created, 6 solved" in text
    assert "#o10 Ticket o10 (normal, 9d 23h old, Billing, zendesk)" in text
    assert "#risk Ticket risk (high, 2h old, Support, zendesk, SLA due in 5h)" in text


def test_a_breached_sla_says_how_long_ago_not_a_due_date(store: SqliteStore) -> None:
    late = ticket(
        id="late",
        created_at=at(30),
        updated_at=at(30),
        priority=Priority.URGENT,
        sla=Sla(first_response_due=at(23), breached=True),
    )
    store.commit_page("zendesk", [late], None)
    text = render(build_daily(store, NOW, TZ), "text")
    assert "#late Ticket late (urgent, 30d old, Support, zendesk, SLA breached 22d 23h ago)" in text
    assert "SLA due 20" not in text


def test_daily_lists_what_fired_overnight(store: SqliteStore) -> None:
    fired = Alert(
        fingerprint="f1",
        rule="urgent-backlog",
        labels=(("helpdesk", "zendesk"),),
        state=AlertState.FIRING,
        level="critical",
        value=31,
        threshold=30,
        summary="open_tickets is 31",
        tickets=(),
        ticket_count=31,
        active_since=NOW - timedelta(hours=5),
        firing_since=NOW - timedelta(hours=5),
    )
    store.save_alerts({"f1": fired})
    report = build_daily(store, NOW, TZ)
    overnight = [(a.rule, a.level, a.scope) for a in report.extra["overnight"]]
    assert overnight == [("urgent-backlog", "critical", "zendesk")]
    assert "CRITICAL urgent-backlog (zendesk), firing since 2026-11-23 04:00" in render(report, "markdown")


def test_weekly_review_numbers(store: SqliteStore) -> None:
    report = build_weekly(store, NOW, TZ)
    week = report.extra["week"]
    assert (week["from"], week["to"]) == ("2026-11-16", "2026-11-22")
    assert (week["created"], week["solved"]) == (7 + 6 + 2, 6)  # o1..o7, s0..s5, y0..y1
    assert report.extra["busiest_tags"][0] == ("outage", 2)
    # s0..s5 are rows of the earlier form (pending fields only): read by their resolution due and flag.
    assert report.extra["sla_attainment"] == {
        "met": 4,
        "breached": 2,
        "with_sla": 6,
        "without_sla": 0,
        "percent": 66.7,
        "by_priority": [{"name": "normal", "met": 4, "breached": 2, "with_sla": 6, "without_sla": 0, "percent": 66.7}],
        "by_helpdesk": [{"name": "zendesk", "met": 4, "breached": 2, "with_sla": 6, "without_sla": 0, "percent": 66.7}],
    }
    ages = dict(report.extra["age_distribution"])
    assert ages["< 1 day"] == 4 and ages["7-30 days"] == 3 and sum(ages.values()) == 13
    assert len(report.days) == 7 and report.days[-1].solved == 6
    data = json.loads(render(report, "json"))
    assert data["extra"]["sla_attainment"]["percent"] == 66.7 and data["days"][-1]["day"] == "2026-11-22"


@pytest.mark.parametrize("kind", ["daily", "weekly"])
def test_postgresql_gives_the_same_report_as_sqlite(store: SqliteStore, pg_url: str, kind: str) -> None:
    build = build_daily if kind == "daily" else build_weekly
    shared = PostgresStore(pg_url)
    try:
        seed(shared)
        from_postgres = json.loads(render(build(shared, NOW, TZ), "json"))
    finally:
        shared.close()
    from_sqlite = json.loads(render(build(store, NOW, TZ), "json"))
    assert from_postgres == from_sqlite
    assert from_sqlite["open_tickets"] == 13  # the seeded figures, not two empty reports
    if kind == "weekly":
        assert from_postgres["extra"]["busiest_tags"][0] == ["outage", 2]  # tags expanded by PostgreSQL's JSON


def test_recurring_spikes_find_the_monday_morning_rush() -> None:
    monday_9 = datetime(2026, 11, 2, 9, 15, tzinfo=TZ)
    created = [(monday_9 + timedelta(weeks=w, minutes=m)).timestamp() for w in range(4) for m in range(8)]
    created += [(monday_9 + timedelta(days=d, hours=h)).timestamp() for d in range(28) for h in (3, 15)]
    spikes = recurring_spikes(created, TZ)
    assert spikes[0]["weekday"] == "Mon" and spikes[0]["hour"] == 9 and spikes[0]["weeks"] == 4
    assert spikes[0]["factor"] > 2


def test_prepared_report_has_a_png_chart_and_an_inline_html_email(store: SqliteStore, tmp_path: Path) -> None:
    prepared = prepare(store, "weekly", NOW, TZ, name="weekly-review")
    png = prepared.chart_png
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1000, 450)
    artifacts = Path(__file__).resolve().parents[2] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "weekly-chart.png").write_bytes(png)
    message = message_from_bytes(email_message(prepared, "bw@example.com", ["leads@example.com"]).as_bytes())
    parts = {p.get_content_type(): p for p in message.walk()}
    assert 'src="cid:backlog-chart"' in parts["text/html"].get_payload(decode=True).decode()
    assert parts["image/png"]["Content-ID"] == "<backlog-chart>"
    assert parts["image/png"].get_payload(decode=True) == png
    assert "SLA attainment" in parts["text/plain"].get_payload(decode=True).decode()
    assert prepared.blocks[0]["type"] == "header" and len(prepared.blocks) <= 50


def outcome(met: bool | None, *more: bool | None) -> Sla:
    """An SLA whose targets ended so: first the resolution, then (optionally) first responses."""
    kinds = [SlaKind.RESOLUTION] + [SlaKind.FIRST_RESPONSE] * len(more)
    return Sla(targets=tuple(SlaTarget(kind=k, due=at(2), met=m) for k, m in zip(kinds, (met, *more), strict=True)))


def test_weekly_sla_attainment_per_priority_and_per_helpdesk(tmp_path: Path) -> None:
    """Solved last week: zendesk urgent 2 met + 1 breached (by its first response), high 1 breached,
    1 without SLA data; jira high 3 met, 1 with only undecided targets. Solved 9 days ago: not counted."""
    store = SqliteStore(tmp_path / "bw.db")
    solved: dict[str, Any] = {"status": Status.SOLVED, "created_at": at(4), "updated_at": at(1), "solved_at": at(1)}
    zendesk = [
        ticket(id="zu1", priority=Priority.URGENT, sla=outcome(True), **solved),
        ticket(id="zu2", priority=Priority.URGENT, sla=outcome(True, None), **solved),
        ticket(id="zu3", priority=Priority.URGENT, sla=outcome(True, False), **solved),
        ticket(id="zh1", priority=Priority.HIGH, sla=outcome(False), **solved),
        ticket(id="zh2", priority=Priority.HIGH, **solved),
        ticket(
            id="old",
            priority=Priority.HIGH,
            sla=outcome(False),
            status=Status.SOLVED,
            created_at=at(12),
            updated_at=at(9),
            solved_at=at(9),
        ),
    ]
    jira = [ticket(id=f"J-{n}", helpdesk="jira", priority=Priority.HIGH, sla=outcome(True), **solved) for n in range(3)]
    jira.append(ticket(id="J-9", helpdesk="jira", priority=Priority.HIGH, sla=outcome(None), **solved))
    store.commit_page("zendesk", zendesk, None)
    store.commit_page("jira", jira, None)
    sla = build_weekly(store, NOW, TZ).extra["sla_attainment"]
    assert (sla["met"], sla["breached"], sla["with_sla"], sla["without_sla"], sla["percent"]) == (5, 2, 7, 2, 71.4)
    assert [(r["name"], r["met"], r["breached"], r["without_sla"], r["percent"]) for r in sla["by_priority"]] == [
        ("urgent", 2, 1, 0, 66.7),
        ("high", 3, 1, 2, 75.0),
    ]
    assert [(r["name"], r["met"], r["breached"], r["without_sla"], r["percent"]) for r in sla["by_helpdesk"]] == [
        ("jira", 3, 0, 1, 100.0),
        ("zendesk", 2, 2, 1, 50.0),
    ]
    text = render(build_weekly(store, NOW, TZ), "text")
    assert "Overall: 71.4% (5 met, 2 breached, 2 without SLA data)" in text
    assert "Priority urgent: 66.7% (2 met, 1 breached)" in text
    assert "Helpdesk zendesk: 50% (2 met, 2 breached, 1 without SLA data)" in text
    store.close()


def test_weekly_review_says_plainly_when_there_is_no_sla_data(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bw.db")
    store.commit_page(
        "zendesk",
        [
            ticket(id=f"s{n}", status=Status.SOLVED, created_at=at(3), updated_at=at(1), solved_at=at(1))
            for n in range(3)
        ],
        None,
    )
    report = build_weekly(store, NOW, TZ)
    assert report.extra["sla_attainment"]["percent"] is None
    assert report.extra["sla_attainment"]["without_sla"] == 3
    assert "no SLA data: none of the 3 tickets solved this week carried an SLA outcome" in render(report, "text")
    store.close()
