"""`backlog-watch replay` over a seeded four-week history: simulated Zendesk -> the real daemon on a
simulated clock (hourly, 2 minutes past) -> SQLite on disk, with a recording notifier. The replay, run
later by the real command from that store's change log, must report exactly the episodes and
notifications the live daemon had; a candidate config with ``keep_firing_for`` shows fewer; the real
store is left as it was.

The plan, in hours from a Monday 14:30 UTC, every week w (h = 168w + ...):
  h0 (week 0 only): 8 tickets open, the rule warns above 10
  +20: 4 in (12 open: fires)   +25: 2 solved (10: resolves)   +26: 2 in (12: fires again)
  +30: 4 solved (8: resolves)
So each week has two episodes (firing + resolved each: four notifications); with keep_firing_for: 2h
the dip at +25 keeps it firing, and one episode resolves at +32 (two notifications).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backlog_watch.app import assemble
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.store.transfer import counts
from tests.factories import SIM_START
from tests.helpers.cli import cli
from tests.helpers.config import console, document, dump, parse, zendesk
from tests.test_scenario_week import Helpdesk, Recorder

WEEKS = 4
RULES = """
evaluate_every: 1h
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 10
"""


def plan_hour(helpdesk: Helpdesk, h: int) -> None:
    if h == 0:
        helpdesk.create(8)
    hour = h % 168
    if hour in (20, 26):
        helpdesk.create(4 if hour == 20 else 2)
    elif hour in (25, 30):
        helpdesk.solve_oldest(2 if hour == 25 else 4)


def at(text: str) -> str:
    """An "h:mm" offset from SIM_START as the recorder writes it, from a replayed message's ISO time."""
    minutes = int((datetime.fromisoformat(text) - SIM_START).total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


@pytest.mark.slow
async def test_replay_reports_the_episodes_the_daemon_had(sim_clock: SimClock, tmp_path: Path) -> None:
    sim = ZendeskSimulator(seed=5, tickets=0, clock=sim_clock)
    await sim.start()
    try:
        doc = document(
            db=tmp_path / "bw.db",
            helpdesks=[zendesk(sim)],
            notifiers=[console("rec")],
            notify=["rec"],
            repeat_every="2w",
        )
        config_path = tmp_path / "current.yaml"
        config_path.write_text(dump(doc, RULES))
        config = parse(config_path.read_text(), "current.yaml")
        recorder = Recorder(sim_clock)
        helpdesk = Helpdesk(sim)
        async with assemble(config, clock=sim_clock.now, notifiers={"rec": recorder}) as parts:
            for h in range(WEEKS * 168):
                sim_clock.set(SIM_START + timedelta(hours=h))
                plan_hour(helpdesk, h)
                sim_clock.advance(120)  # past the export's one-minute rule
                code, _ = await parts.daemon.once()
                assert code == 0
    finally:
        await sim.stop()
    weekly = [("20:02", "firing"), ("25:02", "resolved"), ("26:02", "firing"), ("30:02", "resolved")]
    known = [
        (f"{168 * w + int(t.split(':')[0])}:02", "backlog-size", reason, "warn")
        for w in range(WEEKS)
        for t, reason in weekly
    ]
    assert recorder.sent == known  # the seeded history holds exactly these episodes

    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(dump(doc, RULES + "    keep_firing_for: 2h\n"))
    store = SqliteStore(tmp_path / "bw.db")
    before = (counts(store), store.load_alerts())
    store.close()
    since = (SIM_START + timedelta(minutes=2)).isoformat()
    until = (SIM_START + timedelta(hours=WEEKS * 168 - 1, minutes=2)).isoformat()
    code, out, err = await cli(
        "replay", "--config", str(config_path), "--since", since, "--until", until,
        "--candidate", str(candidate), "--format", "json", "--messages",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["since"] == since
    # the change log is exact from its first change of a ticket already seen (the first solve, at +25h);
    # before, only tickets created: the rebuilt start is the same, but the replay must say it is a guess
    assert report["exact_since"] == (SIM_START + timedelta(hours=25)).isoformat()
    assert report["approximate_start"] is True
    current, kept = report["runs"]
    assert current["evaluations"] == kept["evaluations"] == WEEKS * 168
    [size] = current["rules"]
    assert (size["rule"], size["episodes"], size["notifications"]) == ("backlog-size", 2 * WEEKS, 4 * WEEKS)
    assert size["by_reason"] == {"firing": 2 * WEEKS, "resolved": 2 * WEEKS}
    assert size["firing_seconds"] == WEEKS * (5 + 4) * 3600  # 20:02-25:02 and 26:02-30:02, every week
    assert size["noisiest_scopes"] == [
        {
            "scope": "helpdesk=zendesk",
            "episodes": 2 * WEEKS,
            "notifications": 4 * WEEKS,
            "firing_seconds": WEEKS * 9 * 3600,
        }
    ]
    replayed = [(at(m["at"]), m["rule"], m["reason"], m["level"]) for m in current["messages"]]
    assert replayed == known  # the same notifications, at the same moments
    assert all(
        m["notifier"] == "rec" and "backlog-size: 12 open (zendesk)" in m["text"] for m in current["messages"][::2]
    )

    [size] = kept["rules"]
    assert (size["episodes"], size["notifications"]) == (WEEKS, 2 * WEEKS)  # fewer: the dip no longer resolves
    assert [(at(m["at"]), m["reason"]) for m in kept["messages"]] == [
        (f"{168 * w + h}:02", reason) for w in range(WEEKS) for h, reason in ((20, "firing"), (32, "resolved"))
    ]
    assert size["firing_seconds"] == WEEKS * 12 * 3600  # 20:02 to 32:02

    store = SqliteStore(tmp_path / "bw.db")
    assert (counts(store), store.load_alerts()) == before  # the real store was only read
    store.close()

    code, text, _ = await cli(
        "replay", "--config", str(config_path), "--since", since, "--until", until, "--candidate", str(candidate)
    )
    assert code == 0
    lines = text.splitlines()
    assert lines[1] == (
        "  an approximate start: the change log is exact from its first recorded change, "
        f"{SIM_START + timedelta(hours=25):%Y-%m-%d %H:%M} UTC"
    )
    assert lines[0] == (
        f"replay {SIM_START + timedelta(minutes=2):%Y-%m-%d %H:%M} - "
        f"{SIM_START + timedelta(hours=WEEKS * 168 - 1, minutes=2):%Y-%m-%d %H:%M} UTC, every 1h "
        f"({WEEKS * 168} evaluations); nothing was sent"
    )
    row = next(line for line in lines if line.lstrip().startswith("backlog-size "))
    assert row.split() == ["backlog-size", "|", "8", "16", "36.0h", "|", "4", "8", "48.0h"]


async def test_replay_refuses_a_store_never_polled_and_a_bad_period(tmp_path: Path) -> None:
    config_path = tmp_path / "c.yaml"
    config_path.write_text(dump(document(db=tmp_path / "empty.db", helpdesks=[zendesk()]), RULES))
    code, _, err = await cli("replay", "--config", str(config_path), "--since", "14d")
    assert code == 1
    assert "no data yet: no helpdesk has been polled into" in err
    code, _, err = await cli("replay", "--config", str(config_path), "--since", "fortnight")
    assert code == 2
    assert err.strip() == 'replay: --since "fortnight" is neither a duration (14d, 36h) nor an ISO time'
    assert not (tmp_path / "empty.db").exists()  # replay only reads: it made no store
