"""Run the Slack stand-in until cancelled: what ``backlog-watch simulate slack`` calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from backlog_watch.sim.slack.standin import SlackStandIn


async def serve_slack(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    token: str = "xoxb-standin-token",
    out: Callable[[str], None] = print,
) -> None:
    """Serve the Slack stand-in on ``host:port`` until cancelled; prints where to point a notifier."""
    standin = SlackStandIn(token=token)
    await standin.start(host, port)
    out(f"Slack stand-in at {standin.url}: api_url {standin.api_url}, token {token}, webhook {standin.webhook_url}")
    out(
        f"  what was posted: curl -H 'Authorization: Bearer {token}' "
        f"'{standin.api_url.rstrip('/')}/conversations.history?channel=CHANNEL' (CHANNEL without the #)"
    )
    out(f"  Socket Mode: interactive.app_token {standin.app_token} (the stand-in sends hello, then awaits acks)")
    out(f"""  click as alice: curl -d '{{"action": "Acknowledge"}}' {standin.url}/_standin/click""")
    out(
        '    also {"action": "Snooze", "option": "1h"}, Unsnooze, {"action": "Take oldest", "email": AGENT_EMAIL}; '
        f"/backlog: {standin.url}/_standin/command; private answers: {standin.url}/_standin/answers"
    )
    try:
        await asyncio.Event().wait()
    finally:
        await standin.stop()
