"""The webhook receiver stand-in (see standin): checks requests against the vendor's documented schema, records them."""

from backlog_watch.sim.webhook.serve import serve_webhook
from backlog_watch.sim.webhook.standin import WebhookStandIn, check_alertmanager

__all__ = ["serve_webhook", "WebhookStandIn", "check_alertmanager"]
