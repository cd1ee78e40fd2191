"""The command line as a user runs it: a real process, real exit codes, real loopback HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.helpers.cli import cli
from tests.helpers.config import CONTRACT_ENV, console_config_file, threshold
from tests.helpers.waiting import until
from tests.paths import CONTRACT


@pytest.fixture
async def sim() -> AsyncIterator[ZendeskSimulator]:
    clock = SimClock()
    simulator = ZendeskSimulator(seed=3, tickets=120, clock=clock)
    await simulator.start()
    clock.advance(120)  # the export's one-minute rule
    yield simulator
    await simulator.stop()


async def test_check_passes_the_contract_and_lists_what_is_not_supported_yet() -> None:
    code, out, err = await cli("check", "--config", str(CONTRACT), env=CONTRACT_ENV)
    assert code == 0, err
    assert "valid (3 helpdesk(s), 2 notifier(s), 12 rule(s), 2 report(s))" in out
    assert "rules[" not in out  # every rule type of the contract runs
    assert "connector type" not in out  # zendesk, freshdesk and jira all run
    assert not any(secret in out + err for secret in CONTRACT_ENV.values())


async def test_a_shared_store_that_cannot_be_reached_is_one_line_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shared_store = tmp_path / "pg.yaml"  # the contract with a shared PostgreSQL store that is down
    shared_store.write_text(
        CONTRACT.read_text().replace(
            "store: sqlite:///./backlog-watch.db", f"store: postgresql://bw:${{PG_PASSWORD}}@127.0.0.1:{port}/backlog"
        )
    )
    env = {**CONTRACT_ENV, "PG_PASSWORD": "pg-secret-6"}
    code, out, _ = await cli("check", "--config", str(shared_store), env=env)
    assert code == 0 and "not yet supported" not in out
    code, out, err = await cli("alerts", "--config", str(shared_store), env=env)
    assert code == 1
    assert f"cannot open the store at postgresql://bw:***@127.0.0.1:{port}/backlog: connection" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "pg-secret-6" not in out + err


async def test_a_bad_config_names_file_line_and_key_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "helpdesks:\n  - name: zd\n    type: zendesk\n    url: https://a.zendesk.com\n"
        "    email: a@b.c\n    token: t\nrules:\n  - name: old\n    type: aging\n"
        "    older_than: 7 days\n"
    )
    code, out, err = await cli("check", "--config", str(bad))
    assert code == 2
    assert f'{bad}:10: rules[0].older_than: "7 days" is not a duration' in err
    assert "Traceback" not in err


async def test_config_comes_from_the_environment_or_is_asked_for(tmp_path: Path) -> None:
    code, _, err = await cli("check", env={"BACKLOG_WATCH_CONFIG": ""})
    assert code == 2 and "pass --config FILE or set $BACKLOG_WATCH_CONFIG" in err
    code, out, err = await cli("check", env={"BACKLOG_WATCH_CONFIG": str(CONTRACT), **CONTRACT_ENV})
    assert code == 0, err


async def test_once_notifies_and_exits_0(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = console_config_file(tmp_path / "c.yaml", sim)
    code, out, err = await cli("once", "--config", str(config))
    assert code == 0, err
    assert f"[WARN] backlog-size: {len(sim.open_ids())} open (zendesk)" in out
    code, out, err = await cli("once", "--config", str(config))
    assert code == 0 and "backlog-size" not in out  # sent already: not twice


async def test_dry_run_prints_what_it_would_send_and_saves_nothing(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = console_config_file(tmp_path / "c.yaml", sim, rules=[threshold("quiet-rule", warn_above=100000)])
    code, out, err = await cli("once", "--dry-run", "--config", str(config))
    assert code == 0, err
    backlog = len(sim.open_ids())
    assert "rule backlog-size (threshold): fires" in out and "rule quiet-rule (threshold): quiet" in out
    # every rule shows its value per scope, quiet ones too, so thresholds can be tuned
    assert f"    helpdesk=zendesk: {backlog} -> warn (open tickets is {backlog} (warn above" in out
    assert f"    helpdesk=zendesk: {backlog} -> quiet (open tickets is {backlog})" in out
    assert "[dry run] would send to console (firing)" in out
    # no alert state, no history, and no tickets or cursors either: the store is not even created, so the
    # next real `once` fetches and notifies what the dry run only showed
    assert not (tmp_path / "bw.db").exists()


async def test_a_failing_helpdesk_exits_1(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = console_config_file(tmp_path / "c.yaml", sim, token="not-the-token")
    code, out, err = await cli("once", "--config", str(config))
    assert code == 1
    # a refused token is said once, by the daemon that owns the helpdesk's failure state, not doubled
    # (the helpdesk-down alert's own transition line quotes it as its reason: that is the alert, not the poll)
    refused = [line for line in err.splitlines() if "credentials refused (401" in line and "alert" not in line]
    assert len(refused) == 1, err
    assert all(line.count("until the config changes") <= 1 for line in err.splitlines())
    assert "poll failed" not in out
    assert "not-the-token" not in out + err


async def test_run_serves_healthz_alerts_and_stops_cleanly_on_sigterm(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = console_config_file(tmp_path / "c.yaml", sim, port=0)  # the daemon binds a free port and logs it
    log = tmp_path / "stderr.log"  # a file, not a pipe nobody reads until the end: logs must never block
    with log.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backlog_watch",
            "--log-format",
            "json",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"[WARN] backlog-size" in line
        port = bound_port(log.read_text())
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200 and response.json()["status"] == "ok"
        exports = sum(1 for r in sim.requests if "incremental" in r.path)
        await until(lambda: sum(1 for r in sim.requests if "incremental" in r.path) > exports)  # it keeps polling
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 15)
        err = log.read_bytes()
        assert proc.returncode == 0, err.decode()
        assert b'"message": "stopping"' in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def bound_port(text: str) -> int:
    """The port a server reported it bound: "... http://127.0.0.1:PORT ..."."""
    found = re.search(r"http://127\.0\.0\.1:(\d+)", text)
    assert found, text
    assert int(found.group(1)) != 0
    return int(found.group(1))


async def test_run_on_a_busy_port_says_so_in_one_line_and_exits_2(sim: ZendeskSimulator, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = console_config_file(tmp_path / "c.yaml", sim, port=port)
        code, _, err = await cli("run", "--config", str(config))
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "127.0.0.1" in line]
    assert f"http.listen: cannot listen on 127.0.0.1:{port}" in line and "change http.listen" in line


def as_from_a_terminal() -> None:
    """In the child before exec: Ctrl-C delivered and handled by default, as from a terminal, whatever
    the test process inherited or set (an ignored SIGINT is inherited across exec, and Python then
    leaves it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_state(pid: int) -> str:
    """The signal masks of a process (/proc), to say why a signal did not end it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        return f"no /proc status: {exc}"
    return ", ".join(line for line in status.splitlines() if line.startswith(("State", "Sig", "Threads")))


async def test_simulate_serves_a_zendesk_until_interrupted() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backlog_watch",
        "simulate",
        "zendesk",
        "--port",
        "0",
        "--tickets",
        "50",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=as_from_a_terminal,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        port = bound_port(line.decode())
        async with httpx.AsyncClient(auth=("ops@example.com/token", "sim-token")) as client:
            response = await client.get(f"http://127.0.0.1:{port}/api/v2/groups.json")
        assert response.status_code == 200 and response.json()["groups"]
        proc.send_signal(signal.SIGINT)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        except TimeoutError:
            pytest.fail(f"simulate still running 15 s after SIGINT; {signal_state(proc.pid)}")
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run_demo_until_alerts(data: Path, stderr: Path) -> list[bytes]:
    """One `backlog-watch demo` until it has alerted on all three helpdesks, then Ctrl-C; its stdout lines."""
    with stderr.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backlog_watch",
            "--log-format",
            "text",
            "demo",
            "--data",
            str(data),
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            preexec_fn=as_from_a_terminal,
        )
    try:
        assert proc.stdout is not None
        seen: list[bytes] = []

        def alerted(helpdesk: bytes) -> bool:
            return any(
                line.startswith((b"[WARN]", b"[CRITICAL]")) and line.rstrip().endswith(helpdesk + b")") for line in seen
            )

        # The demo watches all three simulated helpdesks at once.
        while not all(alerted(h) for h in (b"zendesk", b"freshdesk", b"jira")):
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, b"".join(seen[-20:]).decode()  # the demo ended early
            seen.append(line)
        (wallboard,) = [line.decode() for line in seen if line.startswith(b"[demo] wallboard on http://")]
        async with httpx.AsyncClient() as client:
            port = bound_port(wallboard)
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            assert "<html" in (await client.get(f"http://127.0.0.1:{port}/")).text.lower()  # the URL it names
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0 and b"Traceback" not in stderr.read_bytes()
        return seen
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_demo_shows_alerts_and_stops_on_ctrl_c_and_again_from_a_fresh_store(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = await run_demo_until_alerts(data, tmp_path / "first.log")
    assert first[0].startswith(b"[demo] starting: the wallboard will be on ")  # where to look, before the rest
    assert b"a fresh store in " in first[0] and b"removed" not in first[0]
    for banner in (
        b"[zendesk] Zendesk simulator at http://127.0.0.1:",
        b"[freshdesk] Freshdesk simulator at http://127.0.0.1:",
        b"[jira] Jira simulator at http://127.0.0.1:",
    ):
        assert any(banner in line for line in first), banner
    assert (data / "backlog-watch.db").is_file()
    # The config it wrote beside its store serves the other commands on the demo's data.
    (hint,) = [line.decode() for line in first if line.startswith(b"[demo] the other commands")]
    assert str(data / "backlog-watch.yaml") in hint
    code, out, err = await cli("report", "--config", str(data / "backlog-watch.yaml"), "--kind", "daily")
    assert code == 0 and out.startswith("Backlog briefing"), err
    code, out, err = await cli("alerts", "--config", str(data / "backlog-watch.yaml"))
    assert code == 0 and "zendesk" in out, err
    # A second demo has new simulators on new ports: it starts from an empty store and alerts again.
    second = await run_demo_until_alerts(data, tmp_path / "second.log")
    assert b"(the last run's removed: its simulators are gone)" in second[0]


async def test_demo_refuses_to_clear_a_store_it_did_not_make(tmp_path: Path) -> None:
    real = tmp_path / "prod"
    real.mkdir()
    (real / "backlog-watch.db").write_bytes(b"precious")
    code, _, err = await cli("demo", "--data", str(real), "--port", "0")
    assert code == 2 and "Traceback" not in err
    assert "is not a demo's store" in err and "--data" in err
    assert (real / "backlog-watch.db").read_bytes() == b"precious"


async def test_demo_on_a_taken_port_says_how_to_pick_another_the_way_it_was_started(tmp_path: Path) -> None:
    """`make demo` is how the README starts it: the refusal names PORT= as well as --port, in one line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await cli("demo", "--data", str(tmp_path / "demo"), "--port", str(port))
    assert code == 2 and "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("demo: ")]
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert "make demo PORT=" in line and "backlog-watch demo --port" in line


def test_simulate_offers_every_helpdesk_and_the_stand_ins_of_slack_and_the_receivers() -> None:
    from backlog_watch.cli import build_parser

    for target in ("zendesk", "freshdesk", "jira", "slack", "teams", "pagerduty", "jsm", "webhook"):
        assert build_parser().parse_args(["simulate", target, "--port", "0"]).helpdesk == target
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "servicenow"])


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_demo_passes_port_to_the_demo() -> None:
    root = Path(__file__).resolve().parents[1]
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo", "PORT=9191"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")},
    ).stdout
    assert any(line.endswith("backlog-watch demo --port 9191") for line in planned.splitlines()), planned


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """`backlog-watch ... | head`: output into a closed pipe ends quietly with exit 0, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "backlog_watch", "check", "--config", str(CONTRACT)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, **CONTRACT_ENV},
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0 and b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
