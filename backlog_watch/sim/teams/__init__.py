"""The Teams Workflows stand-in (see standin): checks requests against the vendor's documented schema, records them."""

from backlog_watch.sim.teams.serve import serve_teams
from backlog_watch.sim.teams.standin import TeamsStandIn

__all__ = ["serve_teams", "TeamsStandIn"]
