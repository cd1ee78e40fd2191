"""`backlog-watch init`: write a starter config for one's own helpdesk, from flags or by asking.

On a terminal, what no flag gave is asked for; otherwise (a script, CI) a missing answer is an error
naming every missing flag (exit 2), never a prompt that would hang. An existing file is kept unless
``--force``: a config someone tuned is not lost to a second `init`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from backlog_watch.config.starter import (
    CREDENTIAL_ENV,
    CREDENTIAL_HELP,
    HELPDESK_TYPES,
    NEEDS_EMAIL,
    SLACK_TOKEN_ENV,
    URL_EXAMPLE,
    StarterAnswers,
    render_starter,
    validate_starter,
)
from backlog_watch.errors import ConfigError

DEFAULT_OUTPUT = "backlog-watch.yaml"
Ask = Callable[[str], str]
"""Shows a prompt, returns the line typed (``input``); injected so tests can answer."""


def add_init_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init",
        help="write a commented starter config for your helpdesk (asks on a terminal, or takes flags)",
        description="Write a starter config: one helpdesk, Slack or the console, a few rules. Secrets are "
        "written as ${VAR}: set the variables, then `check`, `once --dry-run`, `run`.",
    )
    init.add_argument("--helpdesk-type", choices=HELPDESK_TYPES, help="the helpdesk's vendor")
    init.add_argument("--url", help="the helpdesk's address, e.g. https://acme.zendesk.com")
    init.add_argument("--email", help="zendesk, jira: the email of the account the API token belongs to")
    init.add_argument(
        "--credential-env",
        metavar="VAR",
        help="the variable holding the token or API key (default: "
        + ", ".join(f"{v} for {k}" for k, v in CREDENTIAL_ENV.items())
        + ")",
    )
    init.add_argument("--jql", help='jira: the support queue, e.g. "project = SUP"')
    init.add_argument("--slack-channel", help='e.g. "#support-leads" (default: alerts on the console)')
    init.add_argument(
        "--slack-token-env",
        metavar="VAR",
        default=SLACK_TOKEN_ENV,
        help=f"the bot token's variable (default: {SLACK_TOKEN_ENV})",
    )
    init.add_argument("--slack-api-url", help="only for the Slack stand-in (`backlog-watch simulate slack`)")
    init.add_argument("--timezone", default=None, help="IANA time zone for reports and business hours (default: UTC)")
    init.add_argument("--output", "-o", default=DEFAULT_OUTPUT, metavar="FILE", help="where to write the config")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def _ask_choice(ask: Ask, prompt: str, choices: tuple[str, ...]) -> str:
    while True:
        answer = ask(f"{prompt} ({'/'.join(choices)}): ").strip().lower()
        if answer in choices:
            return answer


def _ask_text(ask: Ask, prompt: str, default: str | None = None, *, required: bool = True) -> str | None:
    shown = f" [{default}]" if default else ""
    while True:
        answer = ask(f"{prompt}{shown}: ").strip()
        if answer or default or not required:
            return answer or default


def fill_in(args: argparse.Namespace, ask: Ask | None) -> StarterAnswers:
    """The answers from the flags, the missing ones asked when ``ask`` is given (a terminal)."""
    missing = missing_flags(args)
    if missing and ask is None:
        raise ConfigError(
            [f"init: stdin is not a terminal, so nothing can be asked: pass {', '.join(missing)} (see init --help)"]
        )
    kind = args.helpdesk_type
    if ask is not None:
        kind = kind or _ask_choice(ask, "Helpdesk type", HELPDESK_TYPES)
        args.url = args.url or _ask_text(ask, f"Helpdesk URL (e.g. {URL_EXAMPLE[kind]})")
        if kind in NEEDS_EMAIL:
            args.email = args.email or _ask_text(ask, "Email of the account the API token belongs to")
        if args.credential_env is None:
            args.credential_env = _ask_text(
                ask, f"Variable holding the credential ({CREDENTIAL_HELP[kind]})", CREDENTIAL_ENV[kind]
            )
        if kind == "jira":
            args.jql = args.jql or _ask_text(ask, "JQL of the support queue", "project = SUP")
        if args.slack_channel is None:
            args.slack_channel = _ask_text(ask, "Slack channel (empty: alerts on the console)", required=False)
        args.timezone = args.timezone or _ask_text(ask, "Time zone", "UTC")
    return StarterAnswers(
        helpdesk_type=kind,
        url=args.url,
        email=args.email,
        credential_env=args.credential_env,
        jql=args.jql,
        slack_channel=args.slack_channel or None,
        slack_token_env=args.slack_token_env,
        slack_api_url=args.slack_api_url,
        timezone=args.timezone or "UTC",
    )


def missing_flags(args: argparse.Namespace) -> list[str]:
    """The flags a non-interactive init needs and did not get."""
    if not args.helpdesk_type:
        return ["--helpdesk-type", "--url"] if not args.url else ["--helpdesk-type"]
    missing = [] if args.url else ["--url"]
    if args.helpdesk_type in NEEDS_EMAIL and not args.email:
        missing.append("--email")
    if args.helpdesk_type == "jira" and not args.jql:
        missing.append("--jql")
    return missing


def cmd_init(args: argparse.Namespace, out: TextIO, ask: Ask | None = None) -> int:
    """Write the starter config; ``ask`` defaults to prompting when stdin is a terminal."""
    output = Path(args.output)
    if output.exists() and not args.force:
        raise ConfigError([f"init: {output} exists: pass --force to overwrite it, or --output another file"])
    if ask is None and sys.stdin.isatty():
        ask = input
    answers = fill_in(args, ask)
    text = render_starter(answers, str(output))
    validate_starter(text, str(output), answers)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"init: {output}: cannot be written ({exc.strerror})"]) from None
    exports = " ".join(f"{name}=..." for name in answers.variables())
    out.write(
        f"wrote {output}: one {answers.helpdesk_type} helpdesk, alerts to "
        f"{answers.slack_channel or 'the console'}, a starter rule set\n"
        f"next:\n"
        f"  export {exports}\n"
        f"  backlog-watch check --config {output}\n"
        f"  backlog-watch once --config {output} --dry-run\n"
        f"  backlog-watch run --config {output}\n"
    )
    return 0
