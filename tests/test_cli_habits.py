"""The habits of amtool and promtool, as a user meets them in a real process: `alerts` for people and
scripts, `--config` before or after the command, `once`'s summary line, `silence add` without --by."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.helpers.cli import cli
from tests.helpers.config import console, document, threshold, write, zendesk

TICKETS = 120
"""The simulated helpdesk's tickets: the first poll stores them all (the export includes solved ones)."""
OPERATOR = {"LOGNAME": "alice-ops", "USER": "alice-ops"}
"""The login name getpass reads first, then $USER."""


@pytest.fixture
async def sim() -> AsyncIterator[ZendeskSimulator]:
    clock = SimClock()
    simulator = ZendeskSimulator(seed=3, tickets=TICKETS, clock=clock)
    await simulator.start()
    clock.advance(120)  # the export's one-minute rule
    yield simulator
    await simulator.stop()


def config_file(path: Path, sim: ZendeskSimulator, *, warn_above: int = 10, **rule: str) -> Path:
    """A console-notified config beside its store, with one backlog rule warning above ``warn_above``."""
    doc = document(
        db=path.parent / "bw.db",
        helpdesks=[zendesk(sim)],
        notifiers=[console()],
        notify=["console"],
        rules=[threshold(warn_above=warn_above, **rule)],
    )
    return write(path, doc)


def last_line(out: str) -> str:
    return out.rstrip("\n").splitlines()[-1]


async def test_once_ends_with_one_summary_line(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = config_file(tmp_path / "c.yaml", sim)
    code, out, err = await cli("once", "--config", str(config))
    assert code == 0, err
    assert "[WARN] backlog-size" in out
    assert last_line(out) == (
        f"once: 1 helpdesk polled (0 failed), {TICKETS} tickets changed, 1 alert firing: 1 sent, 0 muted"
    )
    code, out, err = await cli("once", "--config", str(config))
    assert code == 0, err
    # nothing new to send: the firing alert is counted, as notified before, so the numbers add up
    assert last_line(out).endswith("1 alert firing: 0 sent, 0 muted, 1 notified before"), out


async def test_dry_run_summary_says_what_would_be_sent(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = config_file(tmp_path / "c.yaml", sim)
    code, out, err = await cli("once", "--dry-run", "--config", str(config))
    assert code == 0, err
    assert last_line(out) == (
        f"once (dry run): 1 helpdesk polled (0 failed), {TICKETS} tickets changed, "
        "1 alert firing: 1 would be sent, 0 muted"
    )


async def test_once_counts_a_failed_helpdesk(sim: ZendeskSimulator, tmp_path: Path) -> None:
    doc = document(db=tmp_path / "bw.db", helpdesks=[zendesk(sim, token="wrong")], rules=[threshold(warn_above=1)])
    code, out, _ = await cli("once", "--config", str(write(tmp_path / "c.yaml", doc)))
    assert code == 1
    assert last_line(out).startswith("once: 1 helpdesk polled (1 failed), 0 tickets changed, "), out


async def test_silence_add_is_by_the_user_and_mutes_in_alerts_and_summary(
    sim: ZendeskSimulator, tmp_path: Path
) -> None:
    config = str(config_file(tmp_path / "c.yaml", sim))
    code, out, err = await cli(
        "silence", "add", "-m", "rule=backlog-size", "--for", "2h", "--comment", "bulk import", "--config", config,
        env=OPERATOR,
    )  # fmt: skip
    assert code == 0, err
    silence_id = out.strip()
    code, out, err = await cli("silence", "list", "--config", config)
    assert code == 0 and "by alice-ops: bulk import" in out, out + err
    code, out, err = await cli("once", "--config", config)
    assert code == 0, err
    assert "[WARN]" not in out  # silenced: not sent
    assert last_line(out).endswith("1 alert firing: 0 sent, 1 muted"), out
    code, out, err = await cli("alerts", "--json", "--config", config)
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["muted"] == {"reason": "silenced", "detail": f"by {silence_id} (alice-ops: bulk import)"}
    code, out, err = await cli("alerts", "--config", config)
    assert f"silenced by {silence_id} (alice-ops: bulk import)" in out.splitlines()[1], out


async def test_alerts_lists_firing_ones_as_a_table_and_as_json(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = str(config_file(tmp_path / "c.yaml", sim))
    code, out, err = await cli("alerts", "--config", config)
    assert code == 1 and "no store yet" in err and "backlog-watch once" in err
    assert not (tmp_path / "bw.db").exists()  # asking did not create an empty store
    assert (await cli("once", "--config", config))[0] == 0
    code, out, err = await cli("alerts", "--config", config)
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["RULE", "SCOPE", "LEVEL", "STATE", "SINCE", "MUTED", "LAST", "ACTION"]
    cells = row.split()
    assert cells[:4] == ["backlog-size", "zendesk", "WARN", "firing"]
    assert cells[-2:] == ["-", "-"] and "ago)" in row
    code, out, err = await cli("alerts", "--json", "--config", config)
    assert code == 0, err
    (record,) = json.loads(out)
    open_now = len(sim.open_ids())
    assert {k: record[k] for k in ("rule", "labels", "scope", "level", "state", "value", "muted", "actions")} == {
        "rule": "backlog-size",
        "labels": {"helpdesk": "zendesk"},
        "scope": "zendesk",
        "level": "warn",
        "state": "firing",
        "value": open_now,
        "muted": None,
        "actions": [],
    }


async def test_alerts_all_shows_resolved_and_pending_ones(sim: ZendeskSimulator, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    assert (await cli("once", "--config", str(config_file(path, sim))))[0] == 0
    config_file(path, sim, warn_above=100000)  # the backlog is under the threshold now: resolved
    assert (await cli("once", "--config", str(path)))[0] == 0
    code, out, err = await cli("alerts", "--config", str(path))
    assert code == 0 and out == "no alerts\n", out + err
    code, out, _ = await cli("alerts", "--all", "--json", "--config", str(path))
    assert [(r["rule"], r["state"]) for r in json.loads(out)] == [("backlog-size", "resolved")]
    config_file(path, sim, warn_above=10, **{"for": "1h"})  # over again, but must hold for an hour first
    assert (await cli("once", "--config", str(path)))[0] == 0
    code, out, _ = await cli("alerts", "--all", "--config", str(path))
    states = [line.split()[3] for line in out.splitlines()[1:]]
    assert states == ["pending"], out
    code, out, _ = await cli("alerts", "--config", str(path))
    assert out == "no alerts\n"  # pending is not firing


async def test_config_goes_before_or_after_the_command_or_in_the_environment(
    sim: ZendeskSimulator, tmp_path: Path
) -> None:
    config = str(config_file(tmp_path / "c.yaml", sim))
    unset = {"BACKLOG_WATCH_CONFIG": ""}
    for args, env in (
        (("--config", config, "check"), unset),
        (("check", "--config", config), unset),
        (("-c", config, "check"), unset),
        (("check",), {"BACKLOG_WATCH_CONFIG": config}),
    ):
        code, out, err = await cli(*args, env=env)
        assert code == 0, (args, err)
        assert out.startswith(f"{config}: valid (1 helpdesk(s)"), (args, out)
    # after the command wins over before it, which wins over the environment
    missing = str(tmp_path / "missing.yaml")
    code, out, err = await cli("--config", missing, "check", "--config", config, env={"BACKLOG_WATCH_CONFIG": missing})
    assert code == 0, err
    code, _, err = await cli("--config", missing, "check", env={"BACKLOG_WATCH_CONFIG": config})
    assert code == 2 and "missing.yaml" in err and "Traceback" not in err
    code, out, err = await cli("--config", config, "alerts")
    assert code == 1 and "no store yet" in err  # the global --config reaches every command


async def test_simulate_help_describes_it_and_shows_its_defaults() -> None:
    code, out, err = await cli("simulate", "--help")
    assert code == 0, err
    text = " ".join(out.split())  # argparse wraps to the terminal's width
    assert "Serve a simulated helpdesk" in text
    for default in ("(default: 8081)", "(default: 127.0.0.1)", "(default: 1)", "(default: 300)"):
        assert default in text, default
