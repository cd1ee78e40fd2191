"""A helpdesk outage as the daemon sees it, on a simulated clock over real loopback HTTP and SQLite on disk.

helpdesk-down counts ``down_after`` from the first failed request, not from the end of the retries; its
headline says how long the helpdesk has been failing and the last error; APScheduler's skipped-run
warning is said once per outage.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.daemon import SkippedRunsFilter
from backlog_watch.delivery.dedup import Notification, Reason
from backlog_watch.delivery.render import title
from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.helpers.config import console, document, parse, threshold, zendesk


async def test_down_after_counts_from_the_first_failed_request(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)  # past the export's one-minute rule
    config = parse(
        document(
            db=tmp_path / "bw.db",
            helpdesks=[zendesk(zendesk_sim, poll_every="20s", down_after="10s")],
            notifiers=[console()],
            notify=["console"],
            rules=[threshold(warn_above=100000)],
        ),
        "outage.yaml",
    )
    async with assemble(config, clock=sim_clock.now) as parts:
        connector = parts.connectors["zendesk"]
        connector.backoff_jitter = 0.0  # type: ignore[misc]
        slept: list[float] = []

        async def sleep(seconds: float) -> None:  # the retries' waits pass on the simulated clock
            slept.append(seconds)
            sim_clock.advance(seconds)

        connector.sleep = sleep  # type: ignore[attr-defined]
        assert await parts.daemon.poll("zendesk")
        outage = sim_clock.now()
        zendesk_sim.fail_next(1000, 503)
        assert not await parts.daemon.poll("zendesk")
        assert slept == [1.0, 2.0, 4.0]  # gave up within half the 20s interval
        down = next(a for a in (await parts.daemon.evaluate()).alerts.values() if a.rule == "helpdesk-down")
        assert down.state.value == "pending" and down.active_since == outage
        sim_clock.advance(10 - sum(slept))
        down = next(a for a in (await parts.daemon.evaluate()).alerts.values() if a.rule == "helpdesk-down")
        assert down.state.value == "firing" and down.firing_since == outage + timedelta(seconds=10)
        assert "failing for 10s" in down.summary and "server error (503" in down.summary
        rule = parts.daemon.policy.rules["helpdesk-down"]
        headline = title(Notification(alert=down, reason=Reason.FIRING, rule=rule, now=sim_clock.now()))
        assert headline == "[CRITICAL] helpdesk-down: failing for 10s (zendesk)"


def skipped_record(job_id: str) -> logging.LogRecord:
    class Job:
        id = job_id

        def __str__(self) -> str:  # APScheduler's text changes with every next run time
            return f"{job_id} (next run at {id(self)})"

    return logging.LogRecord(
        "apscheduler.scheduler",
        logging.WARNING,
        __file__,
        1,
        'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
        (Job(), 1),
        None,
    )


def test_skipped_run_warning_is_said_once_per_outage() -> None:
    flt = SkippedRunsFilter()
    passed = [flt.filter(skipped_record("poll:zendesk")) for _ in range(5)]
    assert passed == [True, False, False, False, False]
    assert flt.filter(skipped_record("poll:jira"))  # another job has its own episode
    flt.forget("poll:zendesk")  # its poll succeeded: a later outage is said again
    assert flt.filter(skipped_record("poll:zendesk"))
    other = logging.LogRecord("apscheduler.scheduler", logging.INFO, __file__, 1, "Scheduler started", None, None)
    assert flt.filter(other)
