"""The Jira Cloud + JSM simulator: ``simulator`` shows the shared backlog as Jira issues, ``api`` serves
it over HTTP with Jira's semantics (JQL, search tokens), ``serve`` runs it until cancelled."""

from backlog_watch.sim.jira.serve import serve_jira
from backlog_watch.sim.jira.simulator import JiraSimulator

__all__ = ["JiraSimulator", "serve_jira"]
