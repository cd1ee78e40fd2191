"""Run the JSM Operations alert API stand-in until cancelled: what ``backlog-watch simulate jsm`` calls."""

from __future__ import annotations

from collections.abc import Callable

from backlog_watch.sim.jsm.standin import JsmStandIn
from backlog_watch.sim.receiver import serve_receiver


async def serve_jsm(port: int = 0, *, host: str = "127.0.0.1", out: Callable[[str], None] = print) -> None:
    """Serve on ``host:port``; prints the notifier block pointing at it, then every request it receives."""
    standin = JsmStandIn()
    await serve_receiver(
        standin,
        port,
        host=host,
        about=lambda: [
            f"JSM Operations stand-in at {standin.url}",
            f"  notifier: {{name: jsm, type: jsm, api_url: {standin.url}, cloud_id: {standin.cloud_id}, "
            f"email: {standin.email}, api_token: {standin.token}}}",
        ],
        out=out,
    )
