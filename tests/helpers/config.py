"""The one place tests build configs: a config is a plain document (dicts and lists), dumped as YAML.

Fragments (``zendesk``, ``slack``, ``console``, ``email``, ``threshold``, ``aging``) build its entries;
``document`` assembles them; ``parse`` turns one into a ``Config`` and ``write`` into a file for the CLI.
The named configs below are the ones several test modules share. A test that is about the YAML itself
(line numbers, typos, deprecated keys) keeps its text inline instead.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from backlog_watch.config import parse_config
from backlog_watch.config.models import Config
from backlog_watch.sim import SlackStandIn, ZendeskSimulator

Entry = dict[str, Any]

CONTRACT_ENV = {
    "ZENDESK_API_TOKEN": "zd-secret-1",
    "FRESHDESK_API_KEY": "fd-secret-2",
    "JIRA_API_TOKEN": "jira-secret-3",
    "SLACK_BOT_TOKEN": "xoxb-secret-4",
    "SMTP_PASSWORD": "pw-5",
}
"""The secrets the contract file (tests.paths.CONTRACT) reads from ${ENV}."""

HOOK_SECRET = "hook-secret-0123456789"


def zendesk(sim: ZendeskSimulator | None = None, *, token: str | None = None, **settings: Any) -> Entry:
    """A ``helpdesks:`` entry for the simulator, or (without one) for a Zendesk nothing ever polls."""
    if sim is None:
        entry: Entry = {"name": "zendesk", "type": "zendesk", "url": "https://a.zendesk.com", "email": "a@b.c"}
        return {**entry, "token": token or "t", **settings}
    return {
        "name": "zendesk",
        "type": "zendesk",
        "url": sim.url,
        "email": sim.email,
        "token": token or sim.token,
        **settings,
    }


def console(name: str = "console", **settings: Any) -> Entry:
    """A ``notifiers:`` entry printing to stdout."""
    return {"name": name, "type": "console", **settings}


def slack(standin: SlackStandIn, *, name: str = "slack", channel: str = "#support", **settings: Any) -> Entry:
    """A ``notifiers:`` entry for real slack-sdk pointed at the Slack stand-in."""
    return {
        "name": name,
        "type": "slack",
        "token": standin.token,
        "channel": channel,
        "api_url": standin.api_url,
        **settings,
    }


def email(port: int, *, name: str = "mail", to: Sequence[str] = ("leads@acme.com",), **settings: Any) -> Entry:
    """A ``notifiers:`` entry for plain SMTP on 127.0.0.1:port (tests.smtp serves it)."""
    return {
        "name": name,
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "from": "alerts@acme.com",
        "to": list(to),
        **settings,
    }


def threshold(name: str = "backlog-size", *, metric: str = "open_tickets", **settings: Any) -> Entry:
    """A ``threshold`` rule (give it ``warn_above`` and/or ``critical_above``)."""
    return {"name": name, "type": "threshold", "metric": metric, **settings}


def aging(name: str = "old-tickets", *, older_than: str = "1h", **settings: Any) -> Entry:
    """An ``aging`` rule."""
    return {"name": name, "type": "aging", "older_than": older_than, **settings}


def document(
    *,
    db: Path | None = None,
    helpdesks: Sequence[Entry],
    notifiers: Sequence[Entry] = (),
    rules: Sequence[Entry] = (),
    notify: Sequence[str] = (),
    repeat_every: str | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A whole config: the store on disk at ``db`` and the sections given (``http``, ``inhibit_rules``, ...)."""
    doc: dict[str, Any] = {"store": f"sqlite:///{db}"} if db is not None else {}
    doc.update(sections)
    doc["helpdesks"] = list(helpdesks)
    if notifiers:
        doc["notifiers"] = list(notifiers)
    defaults: dict[str, Any] = {"notify": list(notify)} if notify else {}
    if repeat_every is not None:
        defaults["repeat_every"] = repeat_every
    if defaults:
        doc["defaults"] = defaults
    if rules:
        doc["rules"] = list(rules)
    return doc


def dump(doc: dict[str, Any], extra: str = "") -> str:
    """The document as YAML, with ``extra`` (more top-level YAML, as a test writes it) after it."""
    yaml = YAML(typ="rt")
    yaml.width = 4096  # a long path or URL stays on its line
    text = io.StringIO()
    yaml.dump(doc, text)
    return text.getvalue() + (f"\n{extra}\n" if extra else "")


def parse(doc: dict[str, Any] | str, filename: str = "test.yaml", env: dict[str, str] | None = None) -> Config:
    """The Config the daemon would load from this document (or YAML text); no ${ENV} unless given."""
    text = doc if isinstance(doc, str) else dump(doc)
    return parse_config(text, filename, env=env or {})


def write(path: Path, doc: dict[str, Any] | str) -> Path:
    """The document written as a config file, for the CLI."""
    path.write_text(doc if isinstance(doc, str) else dump(doc))
    return path


# The configs several test modules share.


def console_config_file(
    path: Path, sim: ZendeskSimulator, *, token: str | None = None, rules: Sequence[Entry] = (), port: int = 0
) -> Path:
    """A config file beside its store: the simulator polled every second, a console notifier, a backlog rule
    warning above 10 (then ``rules``), the HTTP server on 127.0.0.1:port (0: any free port)."""
    doc = document(
        db=path.parent / "bw.db",
        http={"listen": f"127.0.0.1:{port}"},
        evaluate_every="1s",
        helpdesks=[zendesk(sim, token=token, poll_every="1s")],
        notifiers=[console()],
        notify=["console"],
        rules=[threshold(warn_above=10), *rules],
    )
    return write(path, doc)


def slack_config(
    sim: ZendeskSimulator,
    standin: SlackStandIn,
    db: Path,
    *,
    warn_above: int = 1,
    repeat_every: str = "1d",
    rules: Sequence[Entry] = (aging(),),
    token: str | None = None,
    extra: str = "",
) -> Config:
    """The simulator polled, alerts to the Slack stand-in's #support: a backlog rule warning above
    ``warn_above``, then ``rules`` (by default old-tickets, aging 1h); ``extra`` is more top-level YAML."""
    doc = document(
        db=db,
        helpdesks=[zendesk(sim, token=token)],
        notifiers=[slack(standin)],
        notify=["slack"],
        repeat_every=repeat_every,
        rules=[threshold(warn_above=warn_above), *rules],
    )
    return parse(dump(doc, extra), "slack-test.yaml")


def web_config(
    sim: ZendeskSimulator,
    db: Path,
    *,
    warn_above: int = 10_000,
    critical_above: int = 20_000,
    hook_secret: str | None = HOOK_SECRET,
    **http_settings: Any,
) -> Config:
    """The HTTP surface on 127.0.0.1:0 (hooks on when ``hook_secret``; more ``http:`` keys in
    ``http_settings``, e.g. ``auth``), the simulator polled every 2m."""
    http = {"listen": "127.0.0.1:0", **({"hook_secret": hook_secret} if hook_secret else {}), **http_settings}
    doc = document(
        db=db,
        http=http,
        helpdesks=[zendesk(sim, poll_every="2m")],
        notifiers=[console()],
        notify=["console"],
        rules=[threshold(warn_above=warn_above, critical_above=critical_above)],
    )
    return parse(doc, "web-test.yaml")


LATE_SHIFT = {"late-shift": {"timezone": "UTC", "days": ["mon", "tue", "wed", "thu", "fri"], "hours": "16:00-18:00"}}
"""A weekday calendar open 16:00-18:00 UTC, for quiet hours."""


def email_config(
    sim: ZendeskSimulator,
    db: Path,
    port: int,
    *,
    mail: dict[str, Any] | None = None,
    notifiers: Sequence[Entry] = (),
    backlog: dict[str, Any] | None = None,
) -> Config:
    """Alerts by email to SMTP on ``port``: backlog-size (warn above 1, plus ``backlog`` settings) and
    old-tickets; ``mail`` adds settings to the mail notifier, ``notifiers`` more notifiers after it."""
    doc = document(
        db=db,
        business_hours=LATE_SHIFT,
        helpdesks=[zendesk(sim)],
        notifiers=[email(port, **(mail or {})), *notifiers],
        notify=["mail"],
        repeat_every="1d",
        rules=[threshold(warn_above=1, **(backlog or {})), aging()],
    )
    return parse(doc, "email-test.yaml")
