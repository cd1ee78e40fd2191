"""A real ``backlog-watch run`` in a process of its own, seen from a bench: its CPU, /metrics, log, exit.

``with Daemon(config, folder) as daemon:`` writes the config beside an on-disk SQLite store in
``folder``, starts ``python -m backlog_watch run`` (JSON log lines to ``folder/daemon.log``, the console
notifier's output to ``folder/daemon.out``), and waits for the line that gives its bound HTTP address.
``contract(notify)`` is the contract's rules and calendars with every rule notifying ``notify``.

Every bench ends with ``report(name, rows, figures)``: its LAST line on stdout is ``BENCH-JSON {...}``,
which bench/run.py reads into the table (the convention is described there).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from ruamel.yaml import YAML

from backlog_watch.store import open_store
from backlog_watch.store.history import History

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "config" / "backlog-watch.example.yaml"
HOOK_SECRET = "bench-hook-secret-0123456789"
LISTENING = re.compile(r"listening on (http://\S+?),")
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
TICKS = os.sysconf("SC_CLK_TCK")


def contract(notify: list[str]) -> dict[str, Any]:
    """The contract's business hours, defaults and rules, every rule sending to ``notify`` only."""
    document = YAML(typ="safe").load(CONTRACT.read_text())
    rules = [{**rule, "notify": notify} if "notify" in rule else rule for rule in document["rules"]]
    return {
        "business_hours": document["business_hours"],
        "defaults": {**document["defaults"], "notify": notify},
        "rules": rules,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.2) -> bool:
    """Poll ``condition()`` until it is true (True) or ``timeout`` seconds pass (False). A request that
    times out (a daemon whose event loop is busy evaluating) is a "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except httpx.TimeoutException:
            pass
        time.sleep(step)
    return False


def child_figures(code: str, path: Path, args: list[str], source: Path | None) -> dict[str, Any]:
    """Run ``code`` (a ``python -c`` script whose last stdout line is a JSON object) in a child process in
    ``path``'s folder, outside the checkout, so that ``source`` (another checkout's package) comes first
    on the path when given; the figures it printed."""
    env = {**os.environ, "PYTHONPATH": str(source)} if source is not None else None
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=path.parent,
        env=env,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def report(name: str, rows: dict[str, tuple[str, bool | None]], figures: dict[str, Any]) -> None:
    """The bench's last line, ``BENCH-JSON {"bench": name, "rows": {row: {"measured", "met"}}, ...figures}``:
    ``rows`` gives the table's rows (bench/run.py's ROWS) as (what was measured, in words; met or not)."""
    table = {row: {"measured": measured, "met": met} for row, (measured, met) in rows.items()}
    print("BENCH-JSON " + json.dumps({"bench": name, "rows": table, **figures}, sort_keys=True), flush=True)


class Daemon:
    """A ``backlog-watch run`` subprocess on ``config`` (a dict; ``store`` and ``http`` are filled in)."""

    def __init__(self, config: dict[str, Any], folder: Path, *, start_timeout: float = 120) -> None:
        self.folder = folder
        self.store_path = folder / "bench.db"
        self.log_path = folder / "daemon.log"
        config = {"store": f"sqlite:///{self.store_path}", "timezone": "UTC", **config}
        config["http"] = {"listen": "127.0.0.1:0", "hook_secret": HOOK_SECRET, **config.get("http", {})}
        self.config_path = folder / "backlog-watch.yaml"
        with open(self.config_path, "w") as file:
            YAML(typ="safe").dump(config, file)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.exit_seconds: float | None = None
        self.exit_code: int | None = None
        self.client = httpx.Client(timeout=30)  # a daemon busy evaluating answers late (wait_for: "not yet")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Self:
        command = [sys.executable, "-m", "backlog_watch", "--log-format", "json"]
        command += ["run", "--config", str(self.config_path)]
        with open(self.log_path, "wb") as log, open(self.folder / "daemon.out", "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=log, cwd=self.folder)
        if not wait_for(self._listening, self.start_timeout):
            self.stop()
            raise RuntimeError(f"the daemon did not start; its log:\n{self.log_path.read_text()[-3000:]}")
        return self

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the daemon exited ({self.process.returncode}):\n{self.log_path.read_text()[-3000:]}")
        found = LISTENING.search(self.log_path.read_text())
        self.url = found.group(1) if found else ""
        return bool(found)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self.client.close()

    def stop(self, timeout: float = 60) -> float | None:
        """SIGTERM, then wait for the exit: the seconds it took (None: killed after ``timeout``)."""
        if self.process is None or self.exit_code is not None:
            return self.exit_seconds
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout=timeout)
            self.exit_seconds = time.monotonic() - started
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_code = self.process.wait()
        return self.exit_seconds

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def metrics(self, patience: float = 300) -> dict[str, dict[str, float]]:
        """/metrics as {name: {labels text: value}}, e.g. ``["backlog_watch_poll_duration_seconds_count"]``;
        asked again while the daemon is too busy to answer, for ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while True:
            try:
                text = self.client.get(f"{self.url}/metrics").text
                break
            except httpx.TimeoutException:
                if time.monotonic() > deadline:
                    raise
        found: dict[str, dict[str, float]] = defaultdict(dict)
        for line in text.splitlines():
            sample = SAMPLE.match(line)
            if sample:
                found[sample.group(1)][sample.group(2) or ""] = float(sample.group(3))
        return found

    def polls(self) -> dict[str, int]:
        """helpdesk -> polls finished so far (the poll-duration histogram's count)."""
        counts = self.metrics().get("backlog_watch_poll_duration_seconds_count", {})
        return {labels.split('"')[1]: int(value) for labels, value in counts.items()}

    def log(self) -> list[dict[str, Any]]:
        """The daemon's JSON log lines so far."""
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def skipped(self) -> int:
        """Scheduled polls skipped so far, as /metrics counts them (0 from a daemon without the counter)."""
        return int(sum(self.metrics().get("backlog_watch_polls_skipped_total", {}).values()))

    def skip_warnings(self) -> int:
        """The scheduler's "maximum number of running instances reached" lines (the daemon logs the first
        of each episode only: a lower bound of the skipped runs)."""
        return sum("maximum number of running instances" in entry.get("message", "") for entry in self.log())

    def history_rows(self, since: float) -> dict[str, int]:
        """scope -> KPI history rows stored since ``since`` (epoch seconds), read beside the running daemon."""
        store = open_store(f"sqlite:///{self.store_path}")
        try:
            rows = History(store).rows(datetime.fromtimestamp(since, UTC))
        finally:
            store.close()
        return {scope: len(points) for scope, points in rows.items()}

    def hook(self, helpdesk: str, body: dict[str, Any]) -> int:
        """POST /hooks/{helpdesk} with the secret; the HTTP status."""
        headers = {"X-Backlog-Watch-Token": HOOK_SECRET}
        return self.client.post(f"{self.url}/hooks/{helpdesk}", json=body, headers=headers).status_code
