"""The webhook receiver stand-in (see standin): checks requests against the vendor's documented schema, records them."""

from backlog_watch.sim.webhook.standin import WebhookStandIn

__all__ = ["WebhookStandIn"]
