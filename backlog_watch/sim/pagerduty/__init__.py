"""The PagerDuty stand-in (see standin): checks requests against the vendor's documented schema, records them."""

from backlog_watch.sim.pagerduty.serve import serve_pagerduty
from backlog_watch.sim.pagerduty.standin import PagerDutyStandIn

__all__ = ["serve_pagerduty", "PagerDutyStandIn"]
