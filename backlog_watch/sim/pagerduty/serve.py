"""Run the PagerDuty Events API v2 stand-in until cancelled: what ``backlog-watch simulate pagerduty`` calls."""

from __future__ import annotations

from collections.abc import Callable

from backlog_watch.sim.pagerduty.standin import PagerDutyStandIn
from backlog_watch.sim.receiver import serve_receiver


async def serve_pagerduty(port: int = 0, *, host: str = "127.0.0.1", out: Callable[[str], None] = print) -> None:
    """Serve on ``host:port``; prints the notifier block pointing at it, then every request it receives."""
    standin = PagerDutyStandIn()
    await serve_receiver(
        standin,
        port,
        host=host,
        about=lambda: [
            f"PagerDuty stand-in at {standin.url}",
            f"  notifier: {{name: pagerduty, type: pagerduty, url: {standin.enqueue_url}, "
            f"routing_key: {standin.routing_key}}}",
        ],
        out=out,
    )
