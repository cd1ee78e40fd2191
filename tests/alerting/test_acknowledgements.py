"""Acknowledgements as the store's actions say, and what worsening clears one (pure functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from backlog_watch.alerting.acknowledgements import Acknowledgement, review, standing, worsened
from backlog_watch.business_hours import BusinessCalendar, zone
from backlog_watch.chatops.actions import next_morning
from backlog_watch.models import Alert, AlertState
from backlog_watch.store import ActionRecord

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # a Friday
EPISODE = NOW - timedelta(hours=1)


def firing(level: str = "warn", tickets: int = 10, since: datetime = EPISODE) -> Alert:
    return Alert(
        "fp",
        "backlog-size",
        (("helpdesk", "zendesk"),),
        AlertState.FIRING,
        level,
        10,
        5,
        "",
        (),
        tickets,
        since,
        since,  # type: ignore[arg-type]
    )


def action(kind: str, at: datetime, episode: datetime = EPISODE, by: str = "alice") -> ActionRecord:
    return ActionRecord("fp", episode, kind, by, at, "", "warn", 10)


def test_the_last_word_of_this_episode_stands() -> None:
    acked = action("acknowledge", NOW - timedelta(minutes=30))
    assert standing([acked], {"fp": firing()}) == {"fp": Acknowledgement("alice", acked.at, "warn", 10)}
    assert standing([acked, action("unacknowledge", NOW, by="backlog-watch")], {"fp": firing()}) == {}
    assert standing([acked], {"fp": firing(since=NOW)}) == {}  # a new episode starts unacknowledged
    assert standing([acked], {"fp": replace(firing(), state=AlertState.RESOLVED)}) == {}


@pytest.mark.parametrize(
    ("level", "tickets", "why"),
    [
        ("warn", 14, None),
        ("warn", 15, "now 15 tickets"),  # half as many again, and 5 more
        ("critical", 10, "now critical"),
    ],
)
def test_worse_means_a_higher_level_or_half_as_many_tickets_again_and_five_more(
    level: str, tickets: int, why: str | None
) -> None:
    assert worsened(Acknowledgement("alice", NOW, "warn", 10), firing(level, tickets)) == why


def test_few_tickets_need_five_more_many_need_half_as_many_again() -> None:
    assert worsened(Acknowledgement("a", NOW, "warn", 2), firing(tickets=6)) is None
    assert worsened(Acknowledgement("a", NOW, "warn", 2), firing(tickets=7)) == "now 7 tickets"
    assert worsened(Acknowledgement("a", NOW, "warn", 40), firing(tickets=59)) is None


def test_review_records_who_cleared_a_worsened_acknowledgement() -> None:
    holding, cleared = review([action("acknowledge", NOW - timedelta(minutes=5))], {"fp": firing("critical")}, NOW)
    assert holding == {}
    assert [(c.action, c.actor, c.detail, c.episode) for c in cleared] == [
        ("unacknowledge", "backlog-watch", "now critical", EPISODE)
    ]


def test_the_next_business_morning_skips_the_weekend_of_the_rules_calendar() -> None:
    paris = zone("Europe/Paris")
    calendar = BusinessCalendar(paris, frozenset(range(5)), ((9 * 60, 18 * 60),))
    assert next_morning(calendar, NOW, UTC) == datetime(2026, 11, 30, 9, 0, tzinfo=paris)
    assert next_morning(None, NOW, paris) == datetime(2026, 11, 28, 9, 0, tzinfo=paris)
