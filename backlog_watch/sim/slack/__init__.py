"""The Slack stand-in: ``web_api`` holds the workspace and answers the Web API methods, ``blocks`` checks
Block Kit limits, ``standin`` serves them over HTTP with faults, ``serve`` runs it until cancelled."""

from backlog_watch.sim.slack.serve import serve_slack
from backlog_watch.sim.slack.standin import SlackCall, SlackFailure, SlackMessage, SlackStandIn, SlackUpload

__all__ = ["SlackCall", "SlackFailure", "SlackMessage", "SlackStandIn", "SlackUpload", "serve_slack"]
