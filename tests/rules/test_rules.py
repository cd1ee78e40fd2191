"""Table tests of the threshold and aging rules: a fixed now, no I/O, no clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from backlog_watch.models import Priority, Sla, Status, Ticket
from backlog_watch.rules.backlog import Rule
from tests.factories import NOW, snapshot_of, ticket

RULE = TypeAdapter(Rule)


def rule(**spec: Any) -> Any:
    return RULE.validate_python(spec)


def findings(spec: dict[str, Any], tickets: list[Ticket], helpdesks: tuple[str, ...] = ("zendesk",)) -> dict:
    snap = snapshot_of(NOW, helpdesks, tickets)
    found = rule(**spec).evaluate(snap, NOW)
    # A finding scoped by helpdesk alone is keyed by its name; others by their labels.
    return {
        (f.labels[0][1] if [k for k, _ in f.labels] == ["helpdesk"] else f.labels): (f.level, f.value, f.ticket_count)
        for f in found
    }


def backlog(urgent: int = 0, normal: int = 0, **fields: Any) -> list[Ticket]:
    return [ticket(priority=Priority.URGENT, **fields) for _ in range(urgent)] + [
        ticket(priority=Priority.NORMAL, **fields) for _ in range(normal)
    ]


SIZE = {"name": "size", "type": "threshold", "metric": "open_tickets", "warn_above": 5, "critical_above": 10}
URGENT = {**SIZE, "name": "urgent", "where": {"priority": ["urgent", "high"]}, "warn_above": None, "critical_above": 3}


@pytest.mark.parametrize(
    ("spec", "tickets", "expected"),
    [
        (SIZE, backlog(normal=5), {}),  # at the threshold is not above it
        (SIZE, backlog(normal=6), {"zendesk": ("warn", 6, 6)}),
        (SIZE, backlog(normal=11), {"zendesk": ("critical", 11, 11)}),
        (SIZE, backlog(normal=11, status=Status.SOLVED), {}),  # solved tickets are not the backlog
        (
            SIZE,
            backlog(normal=3, status=Status.PENDING) + backlog(normal=3, status=Status.ON_HOLD),
            {"zendesk": ("warn", 6, 6)},
        ),  # pending and on-hold are
        (URGENT, backlog(normal=20), {}),  # twenty normal tickets are fine...
        (URGENT, backlog(urgent=4), {"zendesk": ("critical", 4, 4)}),  # ...four urgent ones are not
        (
            {**SIZE, "where": {"assigned": False}},
            backlog(normal=20) + backlog(normal=7, assignee=None),
            {"zendesk": ("warn", 7, 7)},
        ),
        (
            {**SIZE, "where": {"tags": "refund"}},
            backlog(normal=6, tags=("refund", "vip")) + backlog(normal=9),
            {"zendesk": ("warn", 6, 6)},
        ),
        (
            {**SIZE, "where": {"group": "Billing", "status": "new"}},
            backlog(normal=8, group="Billing", status=Status.NEW) + backlog(normal=8, group="Billing"),
            {"zendesk": ("warn", 8, 8)},
        ),
        (
            {"name": "low", "type": "threshold", "metric": "open_tickets", "warn_below": 1},
            [],
            {"zendesk": ("warn", 0, 0)},
        ),  # a helpdesk with no ticket still has a value
        (
            {**SIZE, "group_by": ["helpdesk", "group"]},
            backlog(normal=6, group="Billing") + backlog(normal=2, group="Tech"),
            {(("group", "Billing"), ("helpdesk", "zendesk")): ("warn", 6, 6)},
        ),
    ],
)
def test_threshold(spec: dict[str, Any], tickets: list[Ticket], expected: dict) -> None:
    assert findings(spec, tickets) == expected


def test_threshold_lists_most_urgent_first_and_keeps_the_count() -> None:
    tickets = backlog(normal=70) + [ticket(priority=Priority.URGENT, id="u1"), ticket(priority=Priority.HIGH, id="h1")]
    (found,) = rule(**SIZE).evaluate(snapshot_of(NOW, ["zendesk"], tickets), NOW)
    assert [t.id for t in found.tickets[:2]] == ["u1", "h1"]
    assert (found.ticket_count, len(found.tickets)) == (72, 50)
    assert found.summary == "open tickets is 72 (critical above 10)"


def test_a_threshold_alert_lists_the_tickets_its_metric_counts() -> None:
    """ "5 unassigned" lists the unassigned tickets, not every open one; pending and on-hold counts their
    status; SLAs breached the breached ones, earliest due first; an age the oldest tickets first."""
    assigned = [ticket(priority=Priority.URGENT, id=f"a{i}") for i in range(8)]
    unassigned = [ticket(assignee=None, id=f"u{i}", age=timedelta(hours=i + 1)) for i in range(3)]
    pending = [ticket(status=Status.PENDING, id=f"p{i}") for i in range(2)]
    breached = [
        ticket(id=f"b{i}", sla=Sla(resolution_due=NOW - timedelta(hours=i + 1), breached=True)) for i in range(2)
    ]
    old = ticket(id="old", age=timedelta(days=30))
    tickets = [*assigned, *unassigned, *pending, *breached, old]

    def listed(metric: str, **spec: Any) -> list[str]:
        spec = spec or {"warn_above": 0}
        (found,) = rule(name="r", type="threshold", metric=metric, **spec).evaluate(
            snapshot_of(NOW, ["zendesk"], tickets), NOW
        )
        return [t.id for t in found.tickets]

    assert sorted(listed("unassigned_tickets")) == ["u0", "u1", "u2"]
    assert sorted(listed("pending_tickets")) == ["p0", "p1"]
    assert listed("sla_breached") == ["b1", "b0"]
    assert listed("age_max_hours")[0] == "old"
    assert listed("open_tickets")[:8] == sorted(listed("open_tickets")[:8]) and len(listed("open_tickets")) == 16
    # pending among the open ones: none, so "0 pending, warn below 1" lists none (not the open backlog)
    assert listed("pending_tickets", where={"status": ["open"]}, warn_below=1) == []


AGING = {"name": "aging", "type": "aging", "older_than": "7d", "where": {"status": ["new", "open"]}}


@pytest.mark.parametrize(
    ("spec", "tickets", "expected"),
    [
        (AGING, [ticket(age=timedelta(days=6, hours=23))], {}),
        (AGING, [ticket(age=timedelta(days=8)), ticket(age=timedelta(days=9))], {"zendesk": ("warn", 2, 2)}),
        (AGING, [ticket(age=timedelta(days=8), status=Status.PENDING)], {}),  # the where excludes pending
        (AGING, [ticket(age=timedelta(days=8), status=Status.SOLVED)], {}),
        (
            {**AGING, "critical_older_than": "14d"},
            [ticket(age=timedelta(days=8)), ticket(age=timedelta(days=15))],
            {"zendesk": ("critical", 2, 2)},
        ),
        (
            {**AGING, "field": "updated_at", "older_than": "10d", "where": {"status": "pending"}},
            [
                ticket(age=timedelta(days=30), idle=timedelta(days=2), status=Status.PENDING),
                ticket(age=timedelta(days=30), idle=timedelta(days=11), status=Status.PENDING),
            ],
            {"zendesk": ("warn", 1, 1)},
        ),
        (
            {**AGING, "group_by": ["helpdesk", "group"]},
            [ticket(age=timedelta(days=8), group="Billing"), ticket(age=timedelta(days=8), group=None)],
            {
                (("group", "Billing"), ("helpdesk", "zendesk")): ("warn", 1, 1),
                (("group", "(none)"), ("helpdesk", "zendesk")): ("warn", 1, 1),
            },
        ),
    ],
)
def test_aging(spec: dict[str, Any], tickets: list[Ticket], expected: dict) -> None:
    assert findings(spec, tickets) == expected


def test_aging_lists_oldest_first_and_says_how_old() -> None:
    tickets = [ticket(age=timedelta(days=8), id="a"), ticket(age=timedelta(days=23, hours=4), id="b")]
    (found,) = rule(**AGING).evaluate(snapshot_of(NOW, ["zendesk"], tickets), NOW)
    assert [t.id for t in found.tickets] == ["b", "a"]
    assert found.summary == "2 tickets open for more than 7d (oldest 23d 4h)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "type": "threshold", "metric": "open_tickets"}, "needs at least one of"),
        ({"name": "x", "type": "aging", "older_than": "7 days"}, '"7 days" is not a duration'),
        (
            {"name": "x", "type": "threshold", "metric": "open_tickets", "warn_above": 1, "colour": "red"},
            "Extra inputs are not permitted",
        ),
    ],
)
def test_bad_rules_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**spec)
