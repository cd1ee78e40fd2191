"""What /api/backlog serves the wallboard, on a small store with exact figures: the total card, the
priority split, the oldest and p90 ages, days to clear, the 14-day sparkline with last week's, and the
firing alerts worst first with their scope, age and why they are muted; nothing secret."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from backlog_watch.kpis import Scope, compute
from backlog_watch.models import Alert, AlertState, Labels, Muted, Priority, Sla, Status, Ticket, fingerprint
from backlog_watch.rules.backlog import Rule
from backlog_watch.store import Store
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.web.wallboard import SPARK_POINTS, backlog
from tests.factories import NOW, ticket

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def firing(rule: str, labels: Labels, level: str, since: timedelta, muted: Muted | None = None) -> Alert:
    return Alert(
        fingerprint=fingerprint(rule, labels),
        rule=rule,
        labels=labels,
        state=AlertState.FIRING,
        level=level,  # type: ignore[arg-type]
        value=1.0,
        threshold=0.0,
        summary=f"{rule} summary",
        tickets=(),
        ticket_count=0,
        active_since=NOW - since,
        firing_since=NOW - since,
        muted=muted,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """zendesk: urgent 20d (the oldest), high 2h, normal 1h, low 10d open, one solved 3 days ago;
    jira: two normal, 8d and 3d old. Alerts: a warning and a muted critical on zendesk, a critical on jira,
    and a pending one (not shown)."""
    s = SqliteStore(tmp_path / "bw.db")
    zendesk = [
        ticket(id="z1", age=20 * DAY, priority=Priority.URGENT, group="Billing"),
        ticket(id="z2", age=2 * HOUR, priority=Priority.HIGH),
        ticket(id="z3", age=HOUR),
        ticket(id="z4", age=10 * DAY, priority=Priority.LOW),
        ticket(id="z5", age=12 * DAY, status=Status.SOLVED, solved_at=NOW - 3 * DAY),
    ]
    s.commit_page("zendesk", zendesk, None)
    s.commit_page(
        "jira", [ticket(id="j1", helpdesk="jira", age=8 * DAY), ticket(id="j2", helpdesk="jira", age=3 * DAY)], None
    )
    billing: Labels = (("group", "Billing"), ("helpdesk", "zendesk"))
    alerts = [
        firing("backlog-size", (("helpdesk", "zendesk"),), "warn", 2 * HOUR),
        firing(
            "old-tickets", billing, "critical", 30 * timedelta(minutes=1), Muted("silenced", "by 1a2b (alice: triage)")
        ),
        firing("old-tickets", (("helpdesk", "jira"),), "critical", 3 * HOUR),
    ]
    pending = firing("spike", (("helpdesk", "zendesk"),), "critical", HOUR)
    alerts.append(Alert(**{**pending.__dict__, "state": AlertState.PENDING, "firing_since": None}))
    s.save_alerts({a.fingerprint: a for a in alerts})
    yield s
    s.close()


def test_each_card_carries_what_the_board_shows(store: SqliteStore) -> None:
    board = backlog(store, {"zendesk": 120.0, "jira": 120.0}, NOW)
    zendesk, jira = board["helpdesks"]
    assert (zendesk["open_tickets"], zendesk["change_24h"]) == (4, 2)  # z2 and z3 arrived today
    assert zendesk["priority"] == {"urgent": 1, "high": 1, "normal": 1, "low": 1}
    assert zendesk["oldest"]["id"] == "z1" and zendesk["oldest"]["age_hours"] == 480.0
    assert zendesk["age_p90_hours"] == 408.0  # ages 1, 2, 240, 480 hours: 240 + 0.7 * 240
    assert zendesk["days_to_clear"] == 28.0  # 4 open, 1 solved in 7 days
    assert jira["days_to_clear"] is None  # nothing solved: never clears
    assert len(zendesk["sparkline"]) == len(zendesk["sparkline_last_week"]) == SPARK_POINTS + 1
    # 14 days ago only z1 was open; 7 days ago z1, z4 and z5 (solved 3 days ago); now z1-z4
    assert (zendesk["sparkline"][0], zendesk["sparkline"][14], zendesk["sparkline"][-1]) == (1, 3, 4)
    # the same moments a week earlier: 21 days ago nothing, 14 days ago z1, 7 days ago z1, z4 and z5
    last_week = zendesk["sparkline_last_week"]
    assert (last_week[0], last_week[14], last_week[-1]) == (0, 1, 3)
    assert (zendesk["status"], zendesk["word"], jira["status"], jira["word"]) == ("red", "CRITICAL", "red", "CRITICAL")


def test_the_total_card_adds_the_helpdesks_up(store: SqliteStore) -> None:
    board = backlog(store, {"zendesk": 120.0, "jira": 120.0}, NOW)
    total = board["total"]
    assert (total["open_tickets"], total["change_24h"]) == (6, 2)
    assert total["priority"] == {"urgent": 1, "high": 1, "normal": 3, "low": 1}
    assert total["oldest"]["id"] == "z1"
    assert total["age_p90_hours"] == 360.0  # ages 1, 2, 72, 192, 240, 480 hours
    assert total["days_to_clear"] == 42.0  # 6 open, 1 solved in 7 days
    assert total["sparkline"][-1] == 6 and total["sparkline"][0] == 1
    assert (board["status"], board["word"], total["word"]) == ("red", "CRITICAL", "CRITICAL")


def test_alerts_are_worst_first_with_scope_age_and_why_muted(store: SqliteStore) -> None:
    board = backlog(store, {"zendesk": 120.0, "jira": 120.0}, NOW)
    shown = [(a["level"], a["rule"], a["scope"], a["age"], a["muted"]) for a in board["alerts"]]
    assert shown == [
        ("critical", "old-tickets", "jira", "3h", None),
        ("critical", "old-tickets", "zendesk, Billing", "30m", "silenced by 1a2b (alice: triage)"),
        ("warn", "backlog-size", "zendesk", "2h", None),
    ]
    assert board["alerts"][1]["labels"] == {"group": "Billing", "helpdesk": "zendesk"}
    assert board["alerts"][1]["since"] == (NOW - timedelta(minutes=30)).isoformat()
    assert [a["rule"] for a in board["helpdesks"][1]["alerts"]] == ["old-tickets"]  # jira's own


def test_nothing_secret_is_served(store: SqliteStore) -> None:
    text = json.dumps(backlog(store, {"zendesk": 120.0, "jira": 120.0}, NOW))
    assert "token" not in text.lower() and "api_key" not in text and "password" not in text.lower()


def _risky_backlog(seed: int) -> list[Ticket]:
    """Two helpdesks' open tickets of every age, SLAs running (past, due within the hour, later), paused,
    flagged breached or none, and solved ones (not the backlog)."""
    rng = random.Random(seed)
    found = []
    for i in range(90):
        due = NOW + timedelta(minutes=rng.choice((-120, -1, 0, 1, 30, 60, 61, 300)))
        sla = rng.choice((Sla(), Sla(first_response_due=due), Sla(resolution_due=due, paused=True), Sla(breached=True)))
        status = rng.choice((Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED))
        age = timedelta(seconds=rng.uniform(60, 30 * 86400))
        found.append(
            ticket(
                id=f"r{i}",
                helpdesk=("zendesk", "zendesk", "jira")[i % 3],
                age=age,
                status=status,
                solved_at=NOW - age / 2 if status is Status.SOLVED else None,
                sla=sla,
            )
        )
    return found


def _rule_values(store: Store, metric: str, group_by: list[str]) -> dict[Scope, float]:
    """What a threshold rule on ``metric`` measures per scope of ``group_by`` (every scope, at any level)."""
    rule = TypeAdapter(Rule).validate_python(
        {"name": "probe", "type": "threshold", "metric": metric, "warn_above": 1e9, "group_by": group_by}
    )
    return {m.scope: m.value for m in rule.measure(store.snapshot(NOW, ["zendesk", "jira"]), NOW)}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_cards_figures_are_the_rules_before_any_evaluation(
    engine: str, seed: int, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the first evaluation (no history) and for the total across helpdesks, SLA breached, SLA due
    within the hour and the p90 age are what the rules measure on the same store (its aggregates), and
    what the Python definitions give on the open tickets; no ticket is loaded to get them."""
    tickets = _risky_backlog(seed)
    store: Store = (
        SqliteStore(tmp_path / "bw.db") if engine == "sqlite" else PostgresStore(request.getfixturevalue("pg_url"))
    )
    try:
        store.commit_tickets(tickets)
        monkeypatch.setattr(store, "tickets", lambda *a, **k: pytest.fail("the board loaded every ticket"))
        board = backlog(store, {"zendesk": 120.0, "jira": 120.0}, NOW)
        cards = {card["name"]: card for card in board["helpdesks"]}
        for metric, shown in (("sla_breached", int), ("sla_due_1h", int), ("age_p90_hours", lambda v: round(v, 1))):
            per_helpdesk = _rule_values(store, metric, ["helpdesk"])
            (total,) = _rule_values(store, metric, []).values()
            opened = [t for t in tickets if t.is_open]
            assert total == pytest.approx(compute(metric, opened, NOW), abs=1e-6) and total > 0  # float sums
            assert board["total"][metric] == shown(total)
            for name in ("zendesk", "jira"):
                value = per_helpdesk[(("helpdesk", name),)]
                assert value == pytest.approx(compute(metric, [t for t in opened if t.helpdesk == name], NOW), abs=1e-6)
                assert cards[name][metric] == shown(value)
    finally:
        store.close()
