"""`backlog-watch report --send`: the briefing posted now to its report's notifiers (real slack-sdk
against the Slack stand-in, in a real process), and the config errors of choosing a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backlog_watch.sim import SlackStandIn
from tests.helpers.cli import cli
from tests.helpers.config import console, document, slack, threshold, write, zendesk
from tests.helpers.reports import briefing_store


def config_file(tmp_path: Path, notifiers: list[dict[str, Any]], reports: list[dict[str, Any]]) -> Path:
    """The briefing store's config (its helpdesk never polled here), in Paris time."""
    briefing_store(tmp_path).close()
    doc = document(
        db=tmp_path / "bw.db",
        timezone="Europe/Paris",
        helpdesks=[zendesk(url="http://127.0.0.1:9", email="ops@example.com", token="t0k3n-for-tests")],
        notifiers=notifiers,
        rules=[threshold(warn_above=100)],
        reports=reports,
    )
    return write(tmp_path / "bw.yaml", doc)


def briefing(notify: str, name: str = "morning-briefing", kind: str = "daily") -> dict[str, Any]:
    return {"name": name, "schedule": "0 9 * * mon-fri", "kind": kind, "notify": [notify]}


async def test_report_send_posts_the_briefing_and_its_chart_to_slack_now(
    slack_standin: SlackStandIn, tmp_path: Path
) -> None:
    path = config_file(tmp_path, [slack(slack_standin)], [briefing("slack")])
    code, out, err = await cli("report", "-c", str(path), "--send")
    assert (code, out) == (0, "report morning-briefing sent to slack\n"), err
    report_message, chart_message = slack_standin.messages("#support")
    assert report_message.blocks[0]["text"]["text"].startswith("Backlog briefing ")
    posted = json.dumps(report_message.blocks)
    assert "*Verdict*" in posted and "*Staffing*" in posted and "Waiting on us (new, open): 18" in posted
    (file_id,) = chart_message.files
    assert slack_standin.uploads[file_id].filename == "morning-briefing.png"


async def test_report_send_chooses_a_report_by_name_and_uses_its_kind(
    slack_standin: SlackStandIn, tmp_path: Path
) -> None:
    reports = [briefing("console"), briefing("slack", name="weekly-review", kind="weekly")]
    path = config_file(tmp_path, [console(), slack(slack_standin)], reports)
    code, out, err = await cli("report", "-c", str(path), "--send", "--report", "weekly-review")
    assert (code, out) == (0, "report weekly-review sent to slack\n"), err
    (report_message, _) = slack_standin.messages("#support")
    assert report_message.blocks[0]["text"]["text"].startswith("Weekly backlog review")
    assert "Busiest hour of the week" in json.dumps(report_message.blocks)


async def test_report_send_without_a_clear_report_is_a_config_error(tmp_path: Path) -> None:
    reports = [briefing("console"), briefing("console", name="weekly-review", kind="weekly")]
    path = config_file(tmp_path, [console()], reports)
    code, out, err = await cli("report", "-c", str(path), "--send")
    assert code == 2 and out == ""
    assert f"{path}: reports: --send: choose a report with --report NAME (morning-briefing, weekly-review)" in err
    assert "Traceback" not in err
    code, _, err = await cli("report", "-c", str(path), "--report", "evening")
    assert code == 2
    assert f'{path}: reports: no report named "evening" (reports: morning-briefing, weekly-review)' in err
