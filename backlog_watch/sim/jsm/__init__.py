"""The JSM Operations stand-in (see standin): checks requests against the vendor's documented schema, records them."""

from backlog_watch.sim.jsm.serve import serve_jsm
from backlog_watch.sim.jsm.standin import JsmStandIn

__all__ = ["serve_jsm", "JsmStandIn"]
