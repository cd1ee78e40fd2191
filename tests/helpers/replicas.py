"""Replicas of ``backlog-watch run`` sharing one PostgreSQL store, with the simulators out of process.

The chaos test (tests/test_chaos.py, ``make chaos``) and bench/scale.py use it:

    with Simulators("zendesk", count=3) as sims, Simulators("slack") as slack:
        with Cluster(pg_url, sims.helpdesks, folder, replicas=3, lease_ttl=2, notifiers=[...]) as cluster:
            cluster.replicas[0].kill(); cluster.replicas[0].start(); cluster.leases(); cluster.open_ids("zendesk-0")

Each ``Replica`` is a real process (``python -m backlog_watch --log-format json run --config ...``)
with its own id (``$BACKLOG_WATCH_REPLICA``), its HTTP server on a free port it reports in its log
(``listening on http://...``), its JSON log appended across restarts in ``folder/<id>.log``. It can be
killed (SIGKILL), paused (SIGSTOP) and resumed (SIGCONT), restarted, stopped (SIGTERM). The cluster
writes ONE config for all of them (``cluster: {lease_ttl}`` when this backlog-watch knows leases:
``leases_supported()``) and reads the shared truth straight from PostgreSQL: open tickets per helpdesk,
alerts, the outbox, the notification log, when each helpdesk was last polled.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import psycopg
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
from harness import Simulators  # noqa: E402

__all__ = ["Cluster", "Replica", "Simulators", "leases_supported", "wait_for"]

LISTENING = re.compile(r"listening on (http://\S+?),")
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
TICKS = os.sysconf("SC_CLK_TCK")
REPLICA_ENV = "BACKLOG_WATCH_REPLICA"


def leases_supported() -> bool:
    """Whether this backlog-watch has the ``cluster:`` section (leases with fencing, issue 13)."""
    from backlog_watch.config.models import Config

    return "cluster" in Config.model_fields


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    """Poll ``condition()`` until it is true (True) or ``timeout`` seconds pass (False); a request that
    times out or is refused (a replica paused or restarting) is a "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return True
        except (httpx.TransportError, psycopg.OperationalError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Replica:
    """One ``backlog-watch run`` process of the cluster, started (and restarted) with the same id."""

    def __init__(
        self, replica_id: str, config_path: Path, folder: Path, *, env: dict[str, str] | None = None, timeout: float = 5
    ) -> None:
        """``timeout``: seconds an HTTP request to it may take (a replica evaluating hundreds of helpdesks
        answers late; a paused one never)."""
        self.id = replica_id
        self.config_path = config_path
        self.folder = folder
        self.log_path = folder / f"{replica_id}.log"
        self.env = {**os.environ, **(env or {}), REPLICA_ENV: replica_id}
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.url = ""
        self.starts = 0
        self._offset = 0
        self.client = httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.alive else "down"
        return f"Replica({self.id!r}, {state}, {self.url or 'no url'})"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process (its log appended to); ``wait_listening`` waits for its HTTP server."""
        assert not self.alive, f"{self.id} is running"
        command = [sys.executable, "-m", "backlog_watch", "--log-format", "json"]
        command += ["run", "--config", str(self.config_path)]
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.url = ""
        with open(self.log_path, "ab") as log, open(self.folder / f"{self.id}.out", "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=log, cwd=self.folder, env=self.env)
        self.paused = False
        self.starts += 1

    def wait_listening(self, timeout: float = 120) -> None:
        if not wait_for(self._listening, timeout, step=0.05):
            raise RuntimeError(f"{self.id} did not start listening in {timeout:g}s; its log:\n{self.tail()}")

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.id} exited ({self.process.returncode}):\n{self.tail()}")
        with open(self.log_path, "rb") as log:
            log.seek(self._offset)
            found = LISTENING.search(log.read().decode(errors="replace"))
        self.url = found.group(1) if found else ""
        return bool(found)

    def tail(self, size: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else "(no log)"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease given back, a send in flight not recorded."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the process stands still (its leases run out) until ``resume``."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (after SIGCONT when paused) and wait; killed after ``timeout``. The exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            if self.paused:
                self.resume()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        self.client.close()

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(f"{self.url}{path}")

    def readyz(self) -> dict[str, Any]:
        return dict(self.get("/readyz").json())

    def metrics(self) -> dict[str, dict[str, float]]:
        """/metrics as {name: {labels text: value}}."""
        found: dict[str, dict[str, float]] = defaultdict(dict)
        for line in self.get("/metrics").text.splitlines():
            sample = SAMPLE.match(line)
            if sample:
                found[sample.group(1)][sample.group(2) or ""] = float(sample.group(3))
        return found

    def log(self) -> list[dict[str, Any]]:
        """Every JSON log line of every run of this replica so far (a line cut by SIGKILL is left out)."""
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return entries


class Cluster:
    """``replicas`` processes on one config and one PostgreSQL store (``store_url``), polling ``helpdesks``."""

    def __init__(
        self,
        store_url: str,
        helpdesks: Sequence[dict[str, Any]],
        folder: Path,
        *,
        replicas: int = 3,
        lease_ttl: float | None = None,
        notifiers: Sequence[dict[str, Any]] = ({"name": "console", "type": "console"},),
        rules: Sequence[dict[str, Any]] = (),
        defaults: dict[str, Any] | None = None,
        evaluate_every: str = "5s",
        extra: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        http_timeout: float = 5,
        start_timeout: float = 120,
    ) -> None:
        self.start_timeout = start_timeout
        """Seconds each replica may take to start listening (a thousand helpdesks on a loaded machine: more)."""
        self.store_url = store_url
        self.folder = folder
        self.helpdesks = [dict(h) for h in helpdesks]
        self.lease_ttl = lease_ttl if leases_supported() else None
        config: dict[str, Any] = {
            "store": store_url,
            "timezone": "UTC",
            "http": {"listen": "127.0.0.1:0"},
            "evaluate_every": evaluate_every,
            "helpdesks": self.helpdesks,
            "notifiers": list(notifiers),
            "defaults": defaults or {"notify": [n["name"] for n in notifiers]},
            "rules": list(rules),
            **(extra or {}),
        }
        if self.lease_ttl is not None:
            config["cluster"] = {"lease_ttl": f"{self.lease_ttl:g}s", **config.get("cluster", {})}
        self.config = config
        self.config_path = folder / "backlog-watch.yaml"
        with open(self.config_path, "w") as file:
            YAML(typ="safe").dump(config, file)
        self.replicas = [
            Replica(f"r{i + 1}", self.config_path, folder, env=env, timeout=http_timeout) for i in range(replicas)
        ]
        self._db: psycopg.Connection[tuple[Any, ...]] | None = None

    def __enter__(self) -> Self:
        try:
            for replica in self.replicas:
                replica.start()
            for replica in self.replicas:
                replica.wait_listening(self.start_timeout)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for replica in self.replicas:
            replica.close()
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def leases(self) -> bool:
        """Whether the replicas run with leases (this backlog-watch has them)."""
        return self.lease_ttl is not None

    def running(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive and not r.paused and r.url]

    def readyz(self) -> dict[str, Any]:
        """/readyz of the first running replica that answers."""
        for replica in self.running():
            try:
                return replica.readyz()
            except httpx.TransportError:
                continue
        raise httpx.ConnectError("no replica answers /readyz")

    def holders(self) -> dict[str, str | None]:
        """Who holds what, as /readyz says: helpdesk name (and ``evaluator``) -> replica id (None: nobody)."""
        leases = self.readyz().get("leases", {})
        held: dict[str, str | None] = {name: None for name in self.names}
        held.update(leases.get("helpdesks", {}))
        held["evaluator"] = leases.get("evaluator")
        return held

    @property
    def names(self) -> list[str]:
        return [h["name"] for h in self.helpdesks]

    # -- the shared truth, read straight from PostgreSQL ---------------------------------------------

    @property
    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.store_url, autocommit=True)
        return self._db

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql, params).fetchall()
        except psycopg.errors.UndefinedTable:
            return []  # not migrated yet

    def open_ids(self, helpdesk: str) -> set[str]:
        rows = self.query("SELECT id FROM tickets WHERE helpdesk = %s AND is_open = 1", (helpdesk,))
        return {str(row[0]) for row in rows}

    def alerts(self, rule: str | None = None) -> list[dict[str, Any]]:
        """Every stored alert (its JSON body: fingerprint, labels, state, firing_since...), of ``rule`` if given."""
        rows = self.query("SELECT body FROM alerts" + (" WHERE rule = %s" if rule else ""), (rule,) if rule else ())
        return [json.loads(row[0]) for row in rows]

    def outbox(self) -> int:
        rows = self.query("SELECT count(*) FROM outbox")
        return int(rows[0][0]) if rows else 0

    def last_polls(self) -> dict[str, float]:
        """helpdesk -> when its last successful poll was recorded (epoch seconds)."""
        rows = self.query("SELECT helpdesk, last_success FROM polls WHERE last_success IS NOT NULL")
        return {str(name): float(at) for name, at in rows}

    def activity(self) -> str:
        """What the store's other sessions are doing (for a failure's message): each one not idle, its
        state, what it waits for, how old its transaction is and its query; then the lease rows."""
        rows = self.query(
            "SELECT pid, state, wait_event_type, wait_event, round(extract(epoch FROM now() - xact_start)::numeric, 1),"
            " left(query, 100) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state <> 'idle'"
        )
        leases = self.query("SELECT * FROM leases") if self.leases else []
        return "\n".join(["sessions:", *map(str, rows), "leases:", *map(str, leases)])

    def log(self) -> list[tuple[str, dict[str, Any]]]:
        """(replica id, entry) for every JSON log line of every replica."""
        return [(replica.id, entry) for replica in self.replicas for entry in replica.log()]
