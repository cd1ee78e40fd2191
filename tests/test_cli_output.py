"""What the command line prints, as tables: every command's --help, the `once` summary's counting, the
`alerts` order, and who `silence add` says added it."""

from __future__ import annotations

import argparse
import getpass
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from backlog_watch.cli import build_parser, current_user
from backlog_watch.cli_output import alerts_table, listed, once_summary
from backlog_watch.delivery.dedup import DispatchResult, Notification, Reason
from backlog_watch.errors import NotifyError
from backlog_watch.evaluation import Evaluation
from backlog_watch.models import Alert, AlertState, Muted
from tests.factories import NOW
from tests.helpers.alerts import URGENT_RULE, alert


def commands(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command and subcommand by its full name ("silence add")."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                found[f"{path}{name}"] = command
                found.update(commands(command, f"{path}{name} "))
    return found


def test_every_command_has_a_description_and_shows_its_defaults() -> None:
    every = commands(build_parser())
    assert {"check", "once", "run", "alerts", "report", "simulate", "silence add", "demo"} <= set(every)
    for name, command in every.items():
        assert command.description, name
        shown = " ".join(command.format_help().split())
        for action in command._actions:
            if action.default not in (None, False, argparse.SUPPRESS):
                assert f"(default: {action.default})" in shown, (name, action.dest)
            if action.dest != "help" and not isinstance(action, argparse._SubParsersAction):
                assert action.help, (name, action.dest)  # an option nobody explains is a guess


def notified(*alerts: Alert) -> list[tuple[str, Notification]]:
    return [("slack", Notification(a, Reason.FIRING, URGENT_RULE, NOW)) for a in alerts]


SENT, MUTED, BEFORE, FAILED = (alert(name) for name in ("sent", "muted", "before", "failed"))
PENDING = alert("pending", state=AlertState.PENDING)
EVALUATION = Evaluation(
    alerts={a.fingerprint: a for a in (SENT, MUTED, BEFORE, FAILED, PENDING)},
    planned=notified(SENT, FAILED),
    result=DispatchResult(sent=notified(SENT), failed=[(*notified(FAILED)[0], NotifyError("down"))]),
    muted={MUTED.fingerprint: Muted("silenced", "by 1a2b (bob: import)")},
    polled={"zendesk": 12, "jira": None, "freshdesk": 1},
)


@pytest.mark.parametrize(
    ("evaluation", "dry_run", "line"),
    [
        pytest.param(
            EVALUATION,
            False,
            "once: 3 helpdesks polled (1 failed), 13 tickets changed, 4 alerts firing: 1 sent, 1 muted, "
            "1 not delivered, 1 notified before",
            id="every-kind",
        ),
        pytest.param(
            EVALUATION,
            True,
            "once (dry run): 3 helpdesks polled (1 failed), 13 tickets changed, 4 alerts firing: "
            "2 would be sent, 1 muted, 1 notified before",
            id="dry-run-counts-the-plan",
        ),
        pytest.param(
            Evaluation(alerts={}, polled={"zendesk": 1}),
            False,
            "once: 1 helpdesk polled (0 failed), 1 ticket changed, 0 alerts firing: 0 sent, 0 muted",
            id="singular-and-quiet",
        ),
    ],
)
def test_once_summary_adds_up(evaluation: Evaluation, dry_run: bool, line: str) -> None:
    assert once_summary(evaluation, dry_run=dry_run) == line + "\n"


def test_alerts_are_listed_most_pressing_first() -> None:
    resolved = alert("a-resolved", "critical", AlertState.RESOLVED)
    warn, critical = alert("b-warn", "warn"), alert("c-critical", "critical")
    pending = alert("a-pending", "critical", AlertState.PENDING)
    everything = [resolved, warn, pending, critical]
    assert [a.rule for a in listed(everything, include_all=False)] == ["c-critical", "b-warn"]
    assert [a.rule for a in listed(everything, include_all=True)] == [
        "c-critical",
        "b-warn",
        "a-pending",
        "a-resolved",
    ]


def test_the_table_shows_since_in_the_config_time_zone_with_its_age() -> None:
    table = alerts_table([alert("backlog-size", group="Billing")], NOW + timedelta(hours=3, minutes=5), ZoneInfo("UTC"))
    header, row = table.splitlines()
    assert header.startswith("RULE") and row.startswith("backlog-size")
    assert f"{NOW:%Y-%m-%d %H:%M} (3h 5m ago)" in row
    assert alerts_table([], NOW, ZoneInfo("UTC")) == "no alerts\n"


def test_silence_author_falls_back_to_user_when_there_is_no_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_login() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_login)
    monkeypatch.setenv("USER", "carol")
    assert current_user() == "carol"
    monkeypatch.delenv("USER")
    assert current_user() == "unknown"
