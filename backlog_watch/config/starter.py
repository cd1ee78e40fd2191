"""The starter config `backlog-watch init` writes: one helpdesk, Slack (or the console), a few rules.

Rendering is kept apart from asking (backlog_watch/init.py) so the text can be checked on its own: every
secret is written as ``${VAR}``, never as a value, and the text is validated by the same loader `check`
uses before it is written, so a starter that would not pass `check` is never left on disk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backlog_watch.config.loader import parse_config
from backlog_watch.errors import ConfigError

HELPDESK_TYPES = ("zendesk", "freshdesk", "jira")
CREDENTIAL_ENV = {"zendesk": "ZENDESK_API_TOKEN", "freshdesk": "FRESHDESK_API_KEY", "jira": "JIRA_API_TOKEN"}
"""The default variable holding each vendor's credential (the names config/backlog-watch.example.yaml uses)."""
SLACK_TOKEN_ENV = "SLACK_BOT_TOKEN"
NEEDS_EMAIL = ("zendesk", "jira")
"""Vendors whose API token is paired with the email of the account it belongs to."""
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

CREDENTIAL_HELP = {
    "zendesk": "an API token of an ADMIN (the incremental export needs admin): Admin Center > Apps and "
    "integrations > Zendesk API",
    "freshdesk": "an agent's API key: profile picture > Profile settings > View API key",
    "jira": "an API token (id.atlassian.com > Security > API tokens) of an account that can browse the "
    "projects; a JSM agent licence for the SLA fields",
}
URL_EXAMPLE = {
    "zendesk": "https://acme.zendesk.com",
    "freshdesk": "https://acme.freshdesk.com",
    "jira": "https://acme.atlassian.net",
}


@dataclass(frozen=True)
class StarterAnswers:
    """What a starter config needs to know about the site; everything else takes a sensible default."""

    helpdesk_type: str
    url: str
    email: str | None = None
    credential_env: str | None = None
    """The variable holding the token or API key (default: CREDENTIAL_ENV of the type)."""
    jql: str | None = None
    slack_channel: str | None = None
    """None: alerts go to the console until a channel is given."""
    slack_token_env: str = SLACK_TOKEN_ENV
    slack_api_url: str | None = None
    """Only for the Slack stand-in (`backlog-watch simulate slack`)."""
    timezone: str = "UTC"

    @property
    def credential_variable(self) -> str:
        return self.credential_env or CREDENTIAL_ENV[self.helpdesk_type]

    def variables(self) -> list[str]:
        """The environment variables the config reads: they must be set for `check` to pass."""
        names = [self.credential_variable]
        if self.slack_channel:
            names.append(self.slack_token_env)
        return names


def problems(answers: StarterAnswers) -> list[str]:
    """What is wrong with the answers, as the flag that gives each (empty: renderable)."""
    found: list[str] = []
    kind = answers.helpdesk_type
    if kind not in HELPDESK_TYPES:
        return [f"--helpdesk-type: {json.dumps(kind)} is not one of {', '.join(HELPDESK_TYPES)}"]
    if not re.match(r"https?://[^/\s]+", answers.url):
        found.append(f"--url: {json.dumps(answers.url)} is not a URL (e.g. {URL_EXAMPLE[kind]})")
    if kind in NEEDS_EMAIL and not answers.email:
        found.append(f"--email: {kind} needs the email of the account the API token belongs to")
    if kind == "jira" and not answers.jql:
        found.append('--jql: jira needs the JQL of the support queue (e.g. "project = SUP")')
    variables = (("--credential-env", answers.credential_variable), ("--slack-token-env", answers.slack_token_env))
    for flag, name in variables:
        if not ENV_NAME.fullmatch(name):
            found.append(f"{flag}: {json.dumps(name)} is not an environment variable name (e.g. {SLACK_TOKEN_ENV})")
    if answers.slack_channel is not None and not answers.slack_channel.strip():
        found.append("--slack-channel: empty (leave it out for console alerts)")
    try:
        ZoneInfo(answers.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(f"--timezone: {json.dumps(answers.timezone)} is not an IANA time zone (e.g. Europe/Paris)")
    return found


def _q(value: str) -> str:
    """A YAML scalar that reads back as ``value`` whatever it holds (# : { and quotes included)."""
    return json.dumps(value, ensure_ascii=False)


COMMENT_COLUMN = 39


def _c(code: str, comment: str) -> str:
    """A line with its comment aligned, as the shipped configs are written."""
    return f"{code.ljust(COMMENT_COLUMN - 1)} # {comment}"


def _helpdesk_block(answers: StarterAnswers) -> str:
    kind = answers.helpdesk_type
    secret_key = "api_key" if kind == "freshdesk" else "token"
    lines = [
        "helpdesks:",
        _c(f"  - name: {kind}", "the label on every ticket, metric and alert from it"),
        f"    type: {kind}",
        f"    url: {_q(answers.url)}",
    ]
    if kind in NEEDS_EMAIL:
        lines.append(_c(f"    email: {_q(answers.email or '')}", "the account the token belongs to"))
    lines.append(f"    # {secret_key}: {CREDENTIAL_HELP[kind]}")
    lines.append(f"    {secret_key}: ${{{answers.credential_variable}}}")
    if kind == "jira":
        lines.append(_c(f"    jql: {_q(answers.jql or '')}", "the support queue"))
    lines.append(_c("    poll_every: 2m", "how often to ask for what changed"))
    return "\n".join(lines)


def _notifier_block(answers: StarterAnswers) -> tuple[str, str]:
    """The notifiers section and the name rules notify."""
    if not answers.slack_channel:
        lines = [
            "notifiers:",
            _c("  - name: console", "alerts printed on stdout; for Slack, run init again"),
            _c("    type: console", "with --slack-channel (and --force)"),
        ]
        return "\n".join(lines), "console"
    lines = [
        "notifiers:",
        "  - name: slack",
        _c("    type: slack", "a bot token with chat:write (files:write for report"),
        _c(f"    token: ${{{answers.slack_token_env}}}", "charts); invite the bot: /invite @your-bot"),
        f"    channel: {_q(answers.slack_channel)}",
    ]
    if answers.slack_api_url:
        lines.append(_c(f"    api_url: {_q(answers.slack_api_url)}", "the Slack stand-in, not Slack"))
    return "\n".join(lines), "slack"


def _sla_rule(kind: str) -> str:
    where = {
        "zendesk": "Zendesk SLA policies (Professional plan and up)",
        "freshdesk": "Freshdesk's due dates (first response, resolution)",
        "jira": "JSM's SLA fields (quiet on a plain Jira project)",
    }[kind]
    return f"""
  - name: sla                          # {where}: due soon, then breached
    type: sla
    warn_within: 2h
    critical_within: 30m"""


RULES = """rules:
  - name: backlog-size                 # the headline KPI: open = new + open + pending + on hold
    type: threshold
    metric: open_tickets
    warn_above: 50                     # tune with `once --dry-run`: it prints every rule's value
    critical_above: 100

  - name: urgent-backlog               # 20 low tickets are fine, 20 urgent ones are a crisis
    type: threshold
    metric: open_tickets
    where: {priority: [urgent, high]}
    warn_above: 10
    critical_above: 20

  - name: aging-tickets                # waiting too long, listed oldest first
    type: aging
    older_than: 7d
    critical_older_than: 21d
    where: {status: [new, open]}

  - name: unassigned                   # nobody has picked it up
    type: aging
    older_than: 2h
    where: {assigned: false, status: [new, open]}

  - name: days-to-clear                # open tickets / tickets solved per day (last 7 days)
    type: threshold
    metric: days_to_clear
    warn_above: 2
    critical_above: 5"""


def render_starter(answers: StarterAnswers, filename: str = "backlog-watch.yaml") -> str:
    """The commented config text; raises ConfigError when the answers are not usable."""
    wrong = problems(answers)
    if wrong:
        raise ConfigError([f"init: {line}" for line in wrong])
    notifiers, notify = _notifier_block(answers)
    exports = " ".join(f"{name}=..." for name in answers.variables())
    # absolute: a `run` started by systemd or cron from another folder must find the same store
    store = f"sqlite:///{Path(filename).resolve().parent / 'backlog-watch.db'}"
    return f"""# backlog-watch: written by `backlog-watch init` for one {answers.helpdesk_type} helpdesk.
#
# Secrets are never in this file: it reads them from the environment. Set them, then:
#   export {exports}
#   backlog-watch check --config {filename}             # validate; names file:line:key on a mistake
#   backlog-watch once --config {filename} --dry-run    # poll once, print every rule's value, send nothing
#   backlog-watch run --config {filename}               # the daemon; wallboard on http://127.0.0.1:8080/
# config/backlog-watch.example.yaml in the source shows every key (reports, email, business hours, ...).

{_c(f"store: {_q(store)}", "tickets, history, alert state: next to this file, wherever you run from")}
{_c(f"timezone: {_q(answers.timezone)}", '"today" in reports, business hours')}
http:
{_c("  listen: 127.0.0.1:8080", "wallboard, /metrics, /healthz: this machine only")}

{_helpdesk_block(answers)}

{notifiers}

defaults:
{_c(f"  notify: [{notify}]", "where every rule's alerts go unless it says otherwise")}
  repeat_every: 4h                     # say it again while it lasts
  send_resolved: true                  # and say when it clears
  group_by: [helpdesk]

{RULES}
{_sla_rule(answers.helpdesk_type)}
"""


def validate_starter(text: str, filename: str, answers: StarterAnswers) -> None:
    """Load the text as `check` would, with placeholder secrets: a ConfigError here is a wrong answer
    (e.g. an http:// URL that is not loopback), caught before the file is written."""
    placeholders = {name: "placeholder-secret-value" for name in answers.variables()}
    parse_config(text, filename, env=placeholders)
