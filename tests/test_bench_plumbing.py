"""The benches' plumbing (bench/harness.py, bench/live.py): simulators in a process of their own, a real
`backlog-watch run` polling them, and what the daemon reports matches what the simulators serve."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from backlog_watch.store.sqlite import SqliteStore
from tests.helpers.waiting import until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from harness import Simulators  # noqa: E402
from live import Daemon  # noqa: E402
from sync import STAGES, stage_costs  # noqa: E402


async def test_a_run_daemon_sees_every_out_of_process_simulator(tmp_path: Path) -> None:
    with Simulators("zendesk", count=2, tickets=30) as sims:
        rule = {"name": "backlog-size", "type": "threshold", "metric": "open_tickets", "warn_above": 1000}
        config = {"helpdesks": [{**h, "poll_every": "1h"} for h in sims.helpdesks], "rules": [rule]}
        with Daemon(config, tmp_path) as daemon:

            def open_tickets() -> dict[str, int]:
                samples = daemon.metrics().get("backlog_watch_open_tickets", {})
                return {labels.split('"')[1]: int(value) for labels, value in samples.items()}

            await until(lambda: len(open_tickets()) == 2, timeout=30, what=lambda: daemon.log_path.read_text())
            served = {h["name"]: len(sims.call(i, "open_ids")) for i, h in enumerate(sims.helpdesks)}
            assert open_tickets() == served
            assert min(served.values()) > 0
            assert daemon.cpu() > 0
        assert daemon.exit_code == 0


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk", "jira"])
async def test_the_sync_bench_stages_store_every_ticket_and_build_the_deferred_indexes(
    kind: str, tmp_path: Path
) -> None:
    with Simulators(kind, tickets=250) as sims:
        spent = await stage_costs(sims.helpdesks[0], tmp_path)
        served = {str(i) for i in sims.call(0, "open_ids")}
    with sqlite3.connect(tmp_path / "stages.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM tickets").fetchone()
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    store = SqliteStore(tmp_path / "stages.db")
    open_ids = {t.id.rsplit("-", 1)[-1] for t in store.tickets()}  # Jira's SUP-12 is the simulator's 12
    store.close()
    assert spent["tickets"] == stored >= len(served) > 0
    assert open_ids == served  # the stages stored what the helpdesk has open, not a part of it
    assert {"tickets_open", "tickets_by_status"} <= indexes  # the first read built what the cold sync deferred
    assert all(spent[stage] > 0 for stage in ("fetch", "normalize", "encode", "write"))
    assert 0 <= spent["gc"] <= sum(spent[stage] for stage in STAGES)
