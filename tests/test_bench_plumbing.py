"""The benches' plumbing (bench/harness.py, bench/live.py): simulators in a process of their own, a real
`backlog-watch run` polling them, and what the daemon reports matches what the simulators serve."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers.waiting import until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from harness import Simulators  # noqa: E402
from live import Daemon  # noqa: E402


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
