"""The replay engine runs the daemon's whole delivery lifecycle, not a copy of it: a notifier's mute
time interval holds news and sends one digest when it ends, repeats follow repeat_every, escalation
brings another notifier in, and a silence in the scratch store mutes (the real Silences, by matcher).

The plan, from a Monday 09:00 UTC, evaluated every 10 minutes:
  0: 12 open tickets ("big" warns above 10)   +1h: 3 more (15: "more tickets", and "bigger" fires)
  +2h: escalation after 2h brings "pager" in  the "chat" notifier is muted 10:00-11:30 UTC
  +3h: 9 solved (6 open: both resolve)        freshdesk's 11 open tickets are silenced all along
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backlog_watch.alerting.silences import Matcher, Silences
from backlog_watch.models import Status
from backlog_watch.replay.engine import Simulation, Timeline, moments
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import ticket
from tests.helpers.config import parse

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONFIG = """
store: sqlite:///unused.db
helpdesks:
  - {name: zendesk, type: zendesk, url: https://a.zendesk.com, email: a@b.c, token: t}
  - {name: freshdesk, type: freshdesk, url: https://a.freshdesk.com, api_key: k}
time_intervals:
  - name: standup
    time_intervals:
      - times: [{start_time: "10:00", end_time: "11:30"}]
        location: UTC
notifiers:
  - {name: chat, type: console, mute_time_intervals: [standup]}
  - {name: pager, type: webhook, url: "http://127.0.0.1:9/hook"}
defaults: {notify: [chat], repeat_every: 50m}
rules:
  - name: big
    type: threshold
    metric: open_tickets
    warn_above: 10
    escalate: [{after: 2h, notify: [pager]}]
  - name: bigger
    type: threshold
    metric: open_tickets
    warn_above: 13
"""


def timeline() -> Timeline:
    opened = [
        ticket(id=str(n), created_at=START - timedelta(hours=1), updated_at=START - timedelta(hours=1))
        for n in range(12)
    ]
    more = [
        ticket(id=str(n), created_at=START + timedelta(hours=1), updated_at=START + timedelta(hours=1))
        for n in range(12, 15)
    ]
    solved = [
        t.model_copy(
            update={
                "status": Status.SOLVED,
                "solved_at": START + timedelta(hours=3),
                "updated_at": START + timedelta(hours=3),
            }
        )
        for t in opened[:9]
    ]
    freshdesk = [opened[0].model_copy(update={"helpdesk": "freshdesk", "id": f"f{n}"}) for n in range(11)]
    changes = [(START + timedelta(hours=1), t) for t in more] + [(START + timedelta(hours=3), t) for t in solved]
    return Timeline([*opened, *freshdesk], changes)


def offset(at: datetime) -> str:
    minutes = int((at - START).total_seconds() // 60)
    return f"+{minutes // 60}:{minutes % 60:02d}"


async def test_the_delivery_lifecycle_runs_as_configured() -> None:
    config = parse(CONFIG, "engine.yaml")
    store = SqliteStore(":memory:")
    silences = Silences(store)
    silences.add(
        [Matcher.parse("helpdesk=freshdesk")], ends_at=START + timedelta(days=1), created_by="t", comment="x", now=START
    )
    simulation = Simulation(config, store, timeline(), START)
    steps = [step async for step in simulation.run(moments(START, START + timedelta(hours=4), timedelta(minutes=10)))]
    store.close()

    sent = [(offset(s.at), s.notifier, s.rule, s.reason.value, s.digest) for s in simulation.sent]
    assert sent == [
        ("+0:00", "chat", "big", "firing", False),
        ("+0:50", "chat", "big", "repeat", False),
        # 10:00-11:30 the chat is muted: big's "more tickets" (+1:00, folded into its repeat at +1:40) and
        # bigger's firing wait, the pager (no interval) gets the escalation after 2h, marked as one
        ("+2:00", "pager", "big", "firing", False),
        ("+2:30", "chat", "big", "repeat", True),  # the interval ends: one digest of what waited
        ("+2:30", "chat", "bigger", "firing", True),
        ("+2:50", "pager", "big", "repeat", False),
        ("+3:00", "chat", "big", "resolved", False),
        ("+3:00", "chat", "bigger", "resolved", False),
        ("+3:00", "pager", "big", "resolved", False),
    ]
    assert "Escalated" in simulation.sent[2].text
    assert "15 open" in simulation.sent[3].text
    # the silenced freshdesk alert fired all along, and was never notified
    freshdesk = [a for a in steps[-1].alerts.values() if a.label_map == {"helpdesk": "freshdesk"}]
    assert [(a.rule, a.state.value, a.muted.reason if a.muted else None) for a in freshdesk] == [
        ("big", "firing", "silenced")
    ]
    assert all(s.scope == "helpdesk=zendesk" for s in simulation.sent)
