"""The KPIs that are pure over a snapshot: kpis_by_scope (what the history stores) and the one
days_to_clear formula that the KPI, the reports and the wallboard share."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from backlog_watch.kpis import compute, days_to_clear, days_to_clear_shown, kpis, kpis_by_scope
from backlog_watch.models import Status
from tests.factories import NOW, snapshot_of, ticket

ZD = (("helpdesk", "zendesk"),)


def test_kpis_by_scope_has_every_helpdesk_and_group() -> None:
    snap = snapshot_of(NOW, ["zendesk", "jira"], [ticket(group="Billing"), ticket(group=None)])
    values = kpis_by_scope(snap, NOW)
    assert values[ZD]["open_tickets"] == 2 and values[(("helpdesk", "jira"),)]["open_tickets"] == 0
    assert values[(("group", "Billing"), ("helpdesk", "zendesk"))]["open_tickets"] == 1
    assert values[(("group", "(none)"), ("helpdesk", "zendesk"))]["open_tickets"] == 1


@pytest.mark.parametrize(
    ("open_count", "resolved_7d", "days", "shown"),
    [
        (0, 0, 0.0, 0.0),  # nothing to clear, whatever the pace
        (0, 5, 0.0, 0.0),
        (7, 7, 7.0, 7.0),  # one solved a day: a week
        (13, 6, 13 / (6 / 7), round(13 / (6 / 7), 1)),
        (1, 700, 0.01, 0.0),
        (3, 0, math.inf, None),  # nothing solved: never clears; JSON and people get None ("n/a")
    ],
)
def test_days_to_clear_is_one_formula(open_count: int, resolved_7d: int, days: float, shown: float | None) -> None:
    assert days_to_clear(open_count, resolved_7d) == pytest.approx(days)
    assert days_to_clear_shown(open_count, resolved_7d) == shown


def test_the_days_to_clear_kpi_is_the_shared_formula_over_the_tickets() -> None:
    solved = [
        ticket(status=Status.SOLVED, age=timedelta(days=d + 1), solved_at=NOW - timedelta(days=d)) for d in (1, 3, 8)
    ]
    tickets = [ticket(), ticket(), ticket(status=Status.PENDING), *solved]  # 3 open; 2 solved within 7 days
    expected = days_to_clear(3, 2)
    assert expected == pytest.approx(3 / (2 / 7))
    assert compute("days_to_clear", tickets, NOW) == expected
    assert kpis(tickets, NOW)["days_to_clear"] == expected
