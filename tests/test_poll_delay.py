"""/metrics' ``backlog_watch_poll_start_delay_seconds``: how late each scheduled poll this process runs
started after its due time (bench/scale.py reads its p95 across replicas)."""

from __future__ import annotations

from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.helpers.config import console, document, parse, threshold, zendesk
from tests.helpers.waiting import until

DELAY = "backlog_watch_poll_start_delay_seconds"


async def test_each_scheduled_poll_records_how_late_it_started_within_its_interval(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    config = parse(
        document(
            db=tmp_path / "bw.db",
            helpdesks=[zendesk(zendesk_sim, export_requests_per_minute=100_000)],
            notifiers=[console()],
            rules=[threshold(warn_above=10_000)],
        ),
        "delay.yaml",
    )
    async with assemble(config, clock=sim_clock.now) as parts:
        registry = parts.registry
        assert registry is not None
        assert registry.get_sample_value(f"{DELAY}_count") == 0  # the series exists before any poll
        daemon = parts.daemon
        daemon.start({"zendesk": 0.2})
        try:
            await until(lambda: (registry.get_sample_value(f"{DELAY}_count") or 0) >= 4, timeout=30)
        finally:
            await daemon.shutdown()
        count = registry.get_sample_value(f"{DELAY}_count") or 0
        total = registry.get_sample_value(f"{DELAY}_sum") or 0
        polled = registry.get_sample_value("backlog_watch_poll_duration_seconds_count", {"helpdesk": "zendesk"})
    assert polled is not None and count - 1 <= polled <= count  # one per poll started (the last may run on)
    assert 0 <= total / count < 0.2  # each started within its interval of its due time, never before it
