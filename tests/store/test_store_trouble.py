"""Broken ground under the store: a corrupted file, a folder that cannot exist, a read-only or full disk.

`once` and `check` say it in one line on stderr and exit 1, never with a traceback. The read-only and
full-disk cases use a real tmpfs (this suite runs as root in its container); they skip, saying why,
where mounting is impossible.
"""

from __future__ import annotations

import io
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backlog_watch.app import assemble, daemon_hooks
from backlog_watch.delivery.notifiers.console import ConsoleNotifier
from backlog_watch.errors import StoreError
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.web.server import WebState, readiness
from tests.helpers.cli import cli
from tests.helpers.config import console, console_config_file, document, parse, slack, threshold, zendesk
from tests.helpers.timers import ManualTimers


@pytest.fixture
async def sim() -> AsyncIterator[ZendeskSimulator]:
    clock = SimClock()
    simulator = ZendeskSimulator(seed=3, tickets=40, clock=clock)
    await simulator.start()
    clock.advance(120)  # the export's one-minute rule
    yield simulator
    await simulator.stop()


def _mount(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, capture_output=True, check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of our own, unmounted afterwards."""
    where = tmp_path / "mnt"
    where.mkdir()
    mounted = _mount(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)])
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        _mount(["umount", "-l", str(where)])


def remount(where: Path, mode: str) -> None:
    result = _mount(["mount", "-o", f"remount,{mode}", str(where)])
    assert result.returncode == 0, result.stderr


def fill(where: Path) -> Path:
    """Fill the filesystem to the last byte (dd stops at ENOSPC)."""
    filler = where / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True, check=False)
    return filler


def assert_one_line(code: int, err: str, *words: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


async def test_a_corrupted_store_is_one_line_and_exit_1(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = console_config_file(tmp_path / "c.yaml", sim)
    (tmp_path / "bw.db").write_bytes(b"not sqlite at all " * 512)
    code, _, err = await cli("once", "--config", str(config))
    assert_one_line(code, err, "backlog-watch once:", "bw.db", "corrupted")
    code, _, err = await cli("check", "--config", str(config))
    assert_one_line(code, err, "backlog-watch check:", "corrupted")


async def test_a_store_folder_that_cannot_exist_is_one_line(sim: ZendeskSimulator, tmp_path: Path) -> None:
    config = console_config_file(tmp_path / "c.yaml", sim)
    (tmp_path / "a-file").write_text("")
    text = config.read_text().replace(str(tmp_path / "bw.db"), str(tmp_path / "a-file" / "bw.db"))
    config.write_text(text)
    code, _, err = await cli("once", "--config", str(config))
    assert_one_line(code, err, "cannot open the store", "a-file")


async def test_a_read_only_store_is_one_line_and_keeps_its_data(sim: ZendeskSimulator, tmpfs: Path) -> None:
    config = console_config_file(tmpfs / "c.yaml", sim)
    code, _, err = await cli("once", "--config", str(config))
    assert code == 0, err
    before = (tmpfs / "bw.db").read_bytes()
    remount(tmpfs, "ro")
    for command in ("once", "check"):
        code, _, err = await cli(command, "--config", str(config))
        assert_one_line(code, err, f"backlog-watch {command}:", "bw.db")
    remount(tmpfs, "rw")
    assert (tmpfs / "bw.db").read_bytes() == before
    code, _, err = await cli("once", "--config", str(config))
    assert code == 0, err


async def test_a_full_disk_is_one_line_and_exit_1(sim: ZendeskSimulator, tmpfs: Path) -> None:
    config = console_config_file(tmpfs / "c.yaml", sim)
    code, _, err = await cli("once", "--config", str(config))
    assert code == 0, err
    sim.clock.advance(3600)
    filler = fill(tmpfs)
    code, _, err = await cli("once", "--config", str(config))
    assert_one_line(code, err, "backlog-watch once:", "bw.db")
    filler.unlink()
    code, _, err = await cli("once", "--config", str(config))
    assert code == 0, err


async def test_run_on_a_full_disk_says_so_once_is_not_ready_and_loses_nothing(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmpfs: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim_clock.advance(120)  # past the export's one-minute rule
    config = parse(
        document(
            db=tmpfs / "bw.db",
            helpdesks=[zendesk(zendesk_sim)],
            notifiers=[slack(slack_standin)],
            notify=["slack"],
            rules=[threshold(warn_above=10)],
        ),
        "full.yaml",
    )
    console = io.StringIO()
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        daemon.notifiers["console"] = ConsoleNotifier("console", console)
        daemon.store_watch.notifiers = {"console": daemon.notifiers["console"], "slack": daemon.notifiers["slack"]}
        assert await daemon.poll("zendesk", then_evaluate=False)
        slack_standin.fail_next(1, 500)  # Slack down: the backlog alert waits in the outbox (its only retrier)
        await daemon.guarded(daemon.evaluate())
        queued = parts.store.query("SELECT count(*) FROM outbox WHERE notifier = 'slack'")[0][0]
        assert queued == 1 and not slack_standin.messages("#support")

        filler = fill(tmpfs)
        caplog.set_level(logging.INFO)
        zendesk_sim.clock.advance(600)
        for _ in range(3):
            sim_clock.advance(60)
            await daemon.guarded(daemon.poll("zendesk"))
            await daemon.guarded(daemon.evaluate())
        failing = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(failing) == 1 and "cannot be written" in failing[0].getMessage()  # once, not every poll
        assert console.getvalue().count("store-failing") == 1 and "[CRITICAL]" in console.getvalue()
        ready, _ = readiness(WebState(store=parts.store, helpdesks={"zendesk": 120.0}, clock=sim_clock.now))
        assert not ready and parts.store.failing is not None

        filler.unlink()
        sim_clock.advance(3600)
        await daemon.guarded(daemon.poll("zendesk"))
        await daemon.guarded(daemon.evaluate())
        assert "[RESOLVED] store-failing" in console.getvalue()
        assert parts.store.failing is None
        ready, _ = readiness(WebState(store=parts.store, helpdesks={"zendesk": 120.0}, clock=sim_clock.now))
        assert ready
        assert any("backlog-size" in str(m.blocks) for m in slack_standin.messages("#support"))
        assert parts.store.query("SELECT count(*) FROM outbox")[0][0] == 0


@pytest.mark.parametrize(("named", "write"), [((), "commit_page"), (("1",), "commit_tickets")])
async def test_what_a_hook_asks_for_reports_a_failing_store_instead_of_raising(
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    named: tuple[str, ...],
    write: str,
) -> None:
    """The hook's poll (or read of the tickets it names) runs as its own task: a store error there is
    the store-failing alert, not a lost traceback in a task nobody awaits."""
    sim_clock.advance(120)
    config = parse(
        document(
            db=tmp_path / "bw.db",
            helpdesks=[zendesk(zendesk_sim)],
            notifiers=[console()],
            notify=["console"],
            rules=[threshold(warn_above=10)],
        ),
        "hook.yaml",
    )
    out = io.StringIO()
    async with assemble(config, clock=sim_clock.now) as parts:
        daemon = parts.daemon
        daemon.notifiers["console"] = ConsoleNotifier("console", out)
        daemon.store_watch.notifiers = {"console": daemon.notifiers["console"]}

        def full(*_args: object, **_kwargs: object) -> None:
            raise StoreError("database or disk is full (the disk is full)")

        monkeypatch.setattr(parts.store, write, full)
        hooks = daemon_hooks(daemon, ManualTimers())
        assert hooks.receive("zendesk", named)
        await hooks.trigger.settled("zendesk")  # raised StoreError here when the hook's work was unguarded
        await hooks.settled("zendesk")
        await hooks.close()
        assert hooks.trigger.polls_started + hooks.reads_started == 1
        assert out.getvalue().count("store-failing") == 1 and "disk is full" in out.getvalue()
