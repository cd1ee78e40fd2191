"""Run the webhook receiver stand-in until cancelled: what ``backlog-watch simulate webhook`` calls."""

from __future__ import annotations

from collections.abc import Callable

from backlog_watch.sim.receiver import serve_receiver
from backlog_watch.sim.webhook.standin import WebhookStandIn


async def serve_webhook(port: int = 0, *, host: str = "127.0.0.1", out: Callable[[str], None] = print) -> None:
    """Serve on ``host:port``; prints the notifier block pointing at it, then every request it receives."""
    standin = WebhookStandIn(secret="sim-webhook-secret")
    await serve_receiver(
        standin,
        port,
        host=host,
        about=lambda: [
            f"Webhook receiver at {standin.url} (checks Alertmanager's version-4 payload and the signature)",
            f"  notifier: {{name: webhook, type: webhook, url: {standin.hook_url}, secret: {standin.secret}}}",
        ],
        out=out,
    )
