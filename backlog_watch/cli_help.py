"""How the command line explains itself: every command's ``--help`` has a description and shows its
defaults, as operators expect from amtool and promtool."""

from __future__ import annotations

import argparse
import textwrap


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown where they say something: not for flags, options without a default, or help
    that names its default already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # file names and flags stay whole: "backlog-watch.yaml" is never cut at its hyphen
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


DESCRIPTIONS = {
    "check": "Validate a config (file:line: key: message for each problem, exit 2) and list what it "
    "uses that `run` does not support yet. Touches no helpdesk and sends nothing.",
    "once": "Poll every helpdesk once, evaluate the rules, notify, and end with a one-line summary: "
    "helpdesks polled, tickets changed, alerts firing, sent and muted. Exit 1 if a helpdesk or a "
    "notifier failed. With --dry-run, print every rule's value and what would be sent instead.",
    "run": "The daemon: poll each helpdesk on its interval, evaluate, notify, serve the wallboard and "
    "/metrics, until SIGTERM or Ctrl-C.",
    "alerts": "The alerts in the store now: rule, scope, level, state, since when, and why a muted one "
    "is not notified. Firing ones only unless --all.",
    "report": "Print the daily briefing or the weekly review from the stored data.",
    "healthcheck": "Exit 0 when the running daemon's /healthz answers, 1 otherwise (the container's HEALTHCHECK).",
    "silence": "Mute the alerts that match, for a while: they are still evaluated and shown, not notified.",
    "add": "Add a silence; prints its id (for `silence expire`).",
    "list": "List the active silences (--all: pending and expired ones too).",
    "expire": "End a silence now.",
    "store": "Manage the store. migrate: copy one store into another (SQLite to PostgreSQL, or back).",
    "migrate": "Copy everything a store holds (tickets, cursors, polls, alerts with their Slack threads, the "
    "notification log, queued notifications, silences, KPI history) into another store, so the daemon moves "
    "without refetching or re-alerting. Refuses a target that holds data unless --force; prints the counts. "
    "A URL may read ${VAR} from the environment (keep the password out of the process list).",
    "simulate": "Serve a simulated helpdesk on loopback, with a generated backlog, or the stand-in of "
    "Slack or of a receiver (teams, pagerduty, jsm, webhook), until Ctrl-C: to try a config without a real "
    "helpdesk or account. Each prints the config block that points at it.",
    "rules": "Run rule test files (promtool's model): each declares a backlog as tickets with their changes "
    "over time and the alerts expected firing at given moments, run through the daemon's own evaluation on "
    "a simulated clock. Prints PASS or a diff (- expected, + got) per file; exit 1 when one fails, 2 when a "
    "file is malformed (file:line: key: message).",
    "replay": "Run the rules over the stored past, at every evaluation interval, from the backlog the ticket "
    "change log rebuilds, through the whole alert lifecycle; print per rule the episodes, the notifications "
    "that would have been sent, the time firing and the noisiest scopes (with --candidate, beside a changed "
    "config's). Nothing is sent; the store is only read.",
    "demo": "Simulators, the daemon and console alerts, all on this machine, until Ctrl-C.",
}
"""A command's --help description, by command name (its one-line help when missing here)."""


def describe(parser: argparse.ArgumentParser) -> None:
    """Give every command (and subcommand) a description and the defaults-showing formatter: done once
    after the parser is built, so a command added later gets them too."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, command in action.choices.items():
            command.formatter_class = HelpFormatter
            command.description = command.description or DESCRIPTIONS.get(name) or helps.get(name)
            describe(command)
