"""Run the Teams Workflows webhook stand-in until cancelled: what ``backlog-watch simulate teams`` calls."""

from __future__ import annotations

from collections.abc import Callable

from backlog_watch.sim.receiver import serve_receiver
from backlog_watch.sim.teams.standin import TeamsStandIn


async def serve_teams(port: int = 0, *, host: str = "127.0.0.1", out: Callable[[str], None] = print) -> None:
    """Serve on ``host:port``; prints the notifier block pointing at it, then every request it receives."""
    standin = TeamsStandIn()
    await serve_receiver(
        standin,
        port,
        host=host,
        about=lambda: [
            f"Teams Workflows stand-in at {standin.url}",
            f"  notifier: {{name: teams, type: teams, url: '{standin.webhook_url}'}}",
        ],
        out=out,
    )
