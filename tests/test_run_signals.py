"""`backlog-watch run` as a process: JSON logs naming the helpdesk, SIGHUP reloads (a bad config is
refused and the old one runs on), SIGTERM stops it within seconds with exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.web.hooks import TOKEN_HEADER
from tests.helpers.waiting import until

SECRET = "reload-test-secret-0123"


def config_text(sim: ZendeskSimulator, db: Path, helpdesk: str) -> str:
    return f"""
store: sqlite:///{db}
http:
  listen: 127.0.0.1:0
  hook_secret: {SECRET}
helpdesks:
  - name: {helpdesk}
    type: zendesk
    url: {sim.url}
    email: {sim.email}
    token: {sim.token}
    poll_every: 1h
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 100000
"""


class Daemon:
    """The daemon's process and the JSON lines it logs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(json.loads(raw))  # every line is JSON, or this test fails

    async def line(self, text: str, after: int = 0, timeout: float = 15) -> dict[str, Any]:
        """The first log line from ``after`` on whose message holds ``text``, once the process writes it."""
        await until(
            lambda: self._find(text, after) is not None,
            timeout=timeout,
            what=lambda: f"a log line with {text!r} in {[line['message'] for line in self.lines]}",
        )
        found = self._find(text, after)
        assert found is not None
        return found

    def _find(self, text: str, after: int) -> dict[str, Any] | None:
        return next((line for line in self.lines[after:] if text in line["message"]), None)

    async def url(self, after: int = 0) -> str:
        message = (await self.line("listening on", after))["message"]
        return message.split("listening on ")[1].split(",")[0]


async def board_names(url: str) -> list[str]:
    async with httpx.AsyncClient() as client:
        board = (await client.get(f"{url}/api/backlog")).json()
    return [h["name"] for h in board["helpdesks"]]


async def test_sighup_reloads_and_sigterm_stops(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    config = tmp_path / "bw.yaml"
    config.write_text(config_text(zendesk_sim, tmp_path / "bw.db", "zendesk"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backlog_watch",
        "--log-format",
        "json",
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    daemon = Daemon(process)
    try:
        url = await daemon.url()
        assert await board_names(url) == ["zendesk"]

        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/hooks/zendesk", headers={TOKEN_HEADER: SECRET})
        assert response.status_code == 202
        hook_line = await daemon.line("hook: poll")
        assert hook_line["helpdesk"] == "zendesk" and hook_line["level"] == "INFO"

        config.write_text(config_text(zendesk_sim, tmp_path / "bw.db", "zendesk") + "bogus_key: 1\n")
        mark = len(daemon.lines)
        process.send_signal(signal.SIGHUP)
        refused = await daemon.line("new config is refused", mark)
        assert refused["level"] == "ERROR" and "bogus_key" in refused["message"]
        assert SECRET not in json.dumps(daemon.lines)
        assert await board_names(url) == ["zendesk"]  # the old config runs on

        config.write_text(config_text(zendesk_sim, tmp_path / "bw.db", "desk2"))
        mark = len(daemon.lines)
        process.send_signal(signal.SIGHUP)
        await daemon.line("config reloaded", mark)
        url = await daemon.url(mark)
        assert await board_names(url) == ["desk2"]

        mark = len(daemon.lines)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        assert time.monotonic() - started < 5
        await daemon.line("stopping", mark)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await daemon._reader
