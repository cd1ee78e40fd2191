"""The Freshdesk (API v2) simulator: ``simulator`` shows the shared backlog as Freshdesk tickets, ``api``
serves it over HTTP with Freshdesk's semantics, ``serve`` runs it until cancelled."""

from backlog_watch.sim.freshdesk.serve import serve_freshdesk
from backlog_watch.sim.freshdesk.simulator import FreshdeskSimulator

__all__ = ["FreshdeskSimulator", "serve_freshdesk"]
