"""The JSM Operations stand-in (see standin): checks requests against the vendor's documented schema, records them."""

from backlog_watch.sim.jsm.standin import JsmStandIn

__all__ = ["JsmStandIn"]
