"""Local stand-ins for the services backlog-watch talks to, over real HTTP on loopback.

- ``ZendeskSimulator``: a faithful Zendesk Support (incremental export, SLAs, names, auth, rate limits)
  with a seeded, evolving backlog and fault injection.
- ``FreshdeskSimulator`` / ``JiraSimulator``: the same backlog shown as Freshdesk API v2 / Jira Cloud
  with JSM (their listings, page caps, time windows, SLA fields, auth, limits and error bodies).
- ``SlackStandIn``: the Slack Web API and an incoming webhook, for the real slack-sdk client.
- ``TeamsStandIn`` / ``PagerDutyStandIn`` / ``JsmStandIn`` / ``WebhookStandIn``: the receivers (a Teams
  Workflows webhook, PagerDuty's Events API v2, JSM Operations alerts, an Alertmanager-style webhook
  receiver), each checking requests against the vendor's documented schema (``receiver``: what they share).
- ``SimClock``: the time they live in, manual for tests or flowing x speed for demos.
- ``serve_zendesk`` / ``serve_freshdesk`` / ``serve_jira`` / ``serve_slack`` (and ``serve_teams``,
  ``serve_pagerduty``, ``serve_jsm``, ``serve_webhook``): run one until cancelled (``backlog-watch
  simulate ...``).

One subpackage per service (``zendesk/``, ``freshdesk/``, ``jira/``, ``slack/``, ``teams/``, ``pagerduty/``,
``jsm/``, ``webhook/``: the simulator, its HTTP
face, how to serve it). Shared at this level: the backlog they all show (``generate`` from ``vocabulary``,
evolved by ``activity``; Freshdesk and Jira subclass the Zendesk simulator and render its tickets their
way), the ``clock`` and the loopback ``server`` with its faults and rate windows.
"""

from backlog_watch.sim.activity import QUIET, Activity
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.freshdesk import FreshdeskSimulator, serve_freshdesk
from backlog_watch.sim.jira import JiraSimulator, serve_jira
from backlog_watch.sim.jsm import JsmStandIn, serve_jsm
from backlog_watch.sim.pagerduty import PagerDutyStandIn, serve_pagerduty
from backlog_watch.sim.server import LoopbackServer, SimRequest
from backlog_watch.sim.slack import SlackCall, SlackMessage, SlackStandIn, serve_slack
from backlog_watch.sim.teams import TeamsStandIn, serve_teams
from backlog_watch.sim.webhook import WebhookStandIn, serve_webhook
from backlog_watch.sim.zendesk import ZendeskSimulator, decode_cursor, encode_cursor, serve_zendesk

__all__ = [
    "QUIET",
    "Activity",
    "FreshdeskSimulator",
    "JiraSimulator",
    "JsmStandIn",
    "LoopbackServer",
    "PagerDutyStandIn",
    "SimClock",
    "SimRequest",
    "SlackCall",
    "SlackMessage",
    "SlackStandIn",
    "TeamsStandIn",
    "WebhookStandIn",
    "ZendeskSimulator",
    "decode_cursor",
    "encode_cursor",
    "serve_freshdesk",
    "serve_jira",
    "serve_jsm",
    "serve_pagerduty",
    "serve_slack",
    "serve_teams",
    "serve_webhook",
    "serve_zendesk",
]
