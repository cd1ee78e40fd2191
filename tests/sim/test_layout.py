"""The simulators' layout: one subpackage per service, the shared backlog at the top of ``sim/``, and the
public names still reachable from ``backlog_watch.sim`` (what tests, the demo and the CLI import)."""

from __future__ import annotations

from pathlib import Path

import pytest

import backlog_watch.sim as sim
from backlog_watch.sim import freshdesk, jira, jsm, pagerduty, slack, teams, webhook, zendesk

SIM = Path(sim.__file__).parent
VENDORS = ("zendesk", "freshdesk", "jira", "slack", "teams", "pagerduty", "jsm", "webhook")


def test_no_module_prefix_stands_for_a_vendor_package() -> None:
    """``zendesk_api.py`` next to ``zendesk.py`` was a package in disguise: each vendor is a folder now."""
    top = {p.stem for p in SIM.glob("*.py")}
    assert not {name for name in top if name.split("_")[0] in VENDORS}
    assert top == {"__init__", "activity", "clock", "generate", "receiver", "server", "vocabulary"}
    for vendor in VENDORS:
        assert (SIM / vendor / "__init__.py").is_file()
        assert {p.stem for p in (SIM / vendor).glob("*.py")} >= {"__init__", "serve"}


@pytest.mark.parametrize(
    ("package", "names"),
    [
        (zendesk, ("ZendeskSimulator", "serve_zendesk", "decode_cursor", "encode_cursor")),
        (freshdesk, ("FreshdeskSimulator", "serve_freshdesk")),
        (jira, ("JiraSimulator", "serve_jira")),
        (slack, ("SlackStandIn", "SlackCall", "SlackMessage", "serve_slack")),
        (teams, ("TeamsStandIn", "serve_teams")),
        (pagerduty, ("PagerDutyStandIn", "serve_pagerduty")),
        (jsm, ("JsmStandIn", "serve_jsm")),
        (webhook, ("WebhookStandIn", "serve_webhook")),
    ],
)
def test_the_sim_package_reexports_each_vendor_package(package: object, names: tuple[str, ...]) -> None:
    for name in names:
        assert name in sim.__all__
        assert getattr(sim, name) is getattr(package, name)
