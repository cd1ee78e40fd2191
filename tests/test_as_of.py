"""``--at``: a simulated Zendesk lives eight days on the test's clock (tickets in, solved, reassigned,
reopened), the daemon polling it into SQLite on disk; the simulator's truth is recorded at every change.
Then, in a real process, ``once --dry-run --at`` and ``report --at`` on the past Monday 9:00 give the
backlog of that moment, the store's change log rebuilds it at other moments too, and bad ``--at`` values
are refused with one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backlog_watch.app import assemble
from backlog_watch.config import load_config
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import SIM_START
from tests.helpers.cli import cli
from tests.helpers.config import console, document, threshold, write, zendesk

OPEN = {"new", "open", "pending", "hold"}
MONDAY_9 = datetime(2024, 5, 13, 9, 0, tzinfo=UTC)
"""The Monday after SIM_START (Monday 2024-05-06 14:30): the moment looked back at."""
Truth = dict[int, tuple[str, str | None]]
"""Ticket id -> (Zendesk status, assignee name) as the simulator holds it."""


@dataclass
class History:
    """A simulated week and a day, polled hourly; the truth after each change, by its moment."""

    config: Path
    db: Path
    truth: dict[datetime, Truth]
    reopened: int
    reassigned: int

    def at(self, moment: datetime) -> Truth:
        return self.truth[max(when for when in self.truth if when <= moment)]


def truth_of(sim: ZendeskSimulator) -> Truth:
    users = sim.account.users
    return {
        key: (t["status"], users[t["assignee_id"]]["name"] if t.get("assignee_id") else None)
        for key, t in sim.ground_truth().items()
    }


def open_by_assignee(truth: Truth) -> Counter[str]:
    return Counter(name or "(unassigned)" for status, name in truth.values() if status in OPEN)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Lived once for the module's tests (they only read what it left)."""
    return asyncio.run(live(tmp_path_factory.mktemp("as-of")))


async def live(folder: Path) -> History:
    clock = SimClock(SIM_START)
    sim = ZendeskSimulator(seed=5, tickets=0, clock=clock)
    rules = [
        threshold("by-assignee", warn_above=1000, group_by=["assignee"]),
        threshold("backlog-size", warn_above=12),
    ]
    truth: dict[datetime, Truth] = {}
    reopened = reassigned = 0
    await sim.start()
    try:
        doc = document(
            db=folder / "bw.db", helpdesks=[zendesk(sim)], notifiers=[console("rec")], notify=["rec"], rules=rules
        )
        config = write(folder / "as-of.yaml", doc)
        async with assemble(load_config(config), clock=clock.now) as parts:
            for hour in range(0, 8 * 24 + 3, 3):
                when = SIM_START + timedelta(hours=hour)
                clock.set(when)
                created = [int(sim.create_ticket(tags=["general"], status=status)["id"]) for status in ("new", "open")]
                backlog = sorted(sim.open_ids() - set(created))
                if len(backlog) > 6:
                    sim.solve_ticket(backlog[0])
                assigned = [key for key in backlog if sim.ticket(key).get("assignee_id")]
                if hour % 9 == 0 and assigned:  # another agent takes one over
                    key, users = assigned[-1], sim.account.users
                    current = users[sim.ticket(key)["assignee_id"]]["id"]
                    agents = sorted(a for a, user in users.items() if user["role"] == "agent" and a != current)
                    sim.update_ticket(key, assignee_id=agents[hour % len(agents)])
                    reassigned = key
                if hour % 24 == 12:  # a customer answers a solved ticket: it opens again
                    solved = sorted(k for k, t in sim.ground_truth().items() if t["status"] == "solved")
                    if solved:
                        sim.update_ticket(solved[0], status="open")
                        reopened = solved[0]
                truth[when] = truth_of(sim)
                clock.advance(120)  # past the export's one-minute rule
                code, _ = await parts.daemon.once()
                assert code == 0
    finally:
        await sim.stop()
    assert reopened and reassigned
    return History(config, folder / "bw.db", truth, reopened, reassigned)


def measured(output: str, rule: str) -> dict[str, float]:
    """The values `once --dry-run` prints for a rule's scopes: {scope text: value}."""
    block = output.split(f"rule {rule} ")[1].split("\nrule ")[0]
    return {m[1]: float(m[2]) for m in re.finditer(r"^    (.+?): ([\d.]+) -> ", block, re.MULTILINE)}


def assignee_counts(values: Mapping[str, float]) -> Counter[str]:
    return Counter({scope.removeprefix("assignee=").strip('"'): int(v) for scope, v in values.items() if v})


async def test_once_dry_run_at_a_past_monday_gives_the_backlog_of_that_moment(history: History) -> None:
    before = history.db.read_bytes()
    code, out, err = await cli("once", "--dry-run", "--at", "2024-05-13T09:00", "--config", str(history.config))
    assert code == 0, err
    truth = history.at(MONDAY_9)
    assert out.startswith("as of 2024-05-13 09:00 UTC: the backlog rebuilt from the change log\n")
    assert measured(out, "backlog-size") == {"helpdesk=zendesk": sum(s in OPEN for s, _ in truth.values())}
    assert assignee_counts(measured(out, "by-assignee")) == open_by_assignee(truth)
    assert "0 helpdesks polled" in out  # nothing polled
    assert history.db.read_bytes() == before  # nor anything written
    # a later moment: another backlog, its own truth
    code, out, _ = await cli("once", "--dry-run", "--at", "2024-05-14T18:30", "--config", str(history.config))
    later = history.at(datetime(2024, 5, 14, 18, 30, tzinfo=UTC))
    assert assignee_counts(measured(out, "by-assignee")) == open_by_assignee(later) != open_by_assignee(truth)
    # a relative moment, long after the simulated days: the backlog as the last poll left it
    code, out, _ = await cli("once", "--dry-run", "--at", "-1h", "--config", str(history.config))
    assert code == 0 and out.startswith("as of ") and "APPROXIMATE" not in out
    last = history.truth[max(history.truth)]
    assert measured(out, "backlog-size") == {"helpdesk=zendesk": sum(s in OPEN for s, _ in last.values())}


async def test_before_the_first_sync_the_answer_says_it_is_approximate(history: History) -> None:
    # the first poll saw two new tickets; the first change of a known ticket came hours later
    code, out, err = await cli("once", "--dry-run", "--at", "2024-05-06T15:30", "--config", str(history.config))
    assert code == 0, err
    assert out.startswith("as of 2024-05-06 15:30 UTC: APPROXIMATE: before the first recorded change, 2024-05-06 ")
    truth = history.at(datetime(2024, 5, 6, 15, 30, tzinfo=UTC))
    assert sorted(status for status, _ in truth.values()) == ["new", "open"]
    assert measured(out, "backlog-size") == {"helpdesk=zendesk": 2}  # created by then, not solved by then


async def test_report_at_a_past_monday_reports_that_moment(history: History) -> None:
    code, out, err = await cli(
        "report", "--at", "2024-05-13 09:00", "--format", "json", "--config", str(history.config)
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["open_tickets"] == sum(s in OPEN for s, _ in history.at(MONDAY_9).values())
    assert report["generated_at"].startswith("2024-05-13T09:00")
    assert err.startswith("as of 2024-05-13 09:00 UTC: the backlog rebuilt")  # JSON stays JSON on stdout
    code, text, _ = await cli("report", "--at", "2024-05-13T09:00", "--config", str(history.config))
    assert code == 0 and text.startswith("as of 2024-05-13 09:00 UTC")


def test_the_change_log_rebuilds_every_recorded_moment_with_reopens_and_reassignments(history: History) -> None:
    store = SqliteStore(history.db)
    try:
        for when, truth in list(history.truth.items())[1::5]:
            as_of = store.tickets_as_of(when + timedelta(minutes=1))
            got = {int(t.id): (t.status.value, t.assignee) for t in as_of.tickets}
            assert got == {key: (_status(status), name) for key, (status, name) in truth.items()}, when
        changes = store.ticket_changes(SIM_START - timedelta(days=1), SIM_START + timedelta(days=9))
        states = [t.status.value for _, t in changes if t.id == str(history.reopened)]
        assert ("solved", "open") in zip(states, states[1:], strict=False)  # solved, then opened again
        assignees = [t.assignee for _, t in changes if t.id == str(history.reassigned)]
        assert None not in assignees[-2:] and len(set(assignees[-2:])) == 2  # from one agent to another
    finally:
        store.close()


def _status(zendesk: str) -> str:
    return {"hold": "on_hold"}.get(zendesk, zendesk)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["once", "--at", "3d ago"], "once: --at needs --dry-run"),
        (["once", "--dry-run", "--at", "last monday"], 'once: --at "last monday" is not a time: use ISO 8601'),
        (["once", "--dry-run", "--at", "-3x"], 'once: --at "-3x": "3x" is not a duration'),
        (["report", "--at", "2999-01-01T09:00"], 'report: --at "2999-01-01T09:00" is in the future'),
        (["report", "--at", "-1d", "--send"], "report: --at makes a report of the past to look at; it is not sent"),
    ],
)
async def test_a_bad_at_is_refused_with_one_line(history: History, args: list[str], message: str) -> None:
    code, out, err = await cli(*args, "--config", str(history.config))
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1, err
