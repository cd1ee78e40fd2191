"""Reports delivered: Block Kit plus the chart uploaded through real slack-sdk (files_upload_v2) to the
stand-in; the console; the cron schedule in the config's time zone; `backlog-watch report`."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from backlog_watch.app import assemble, report_job
from backlog_watch.cli import main
from backlog_watch.delivery.notifiers.console import ConsoleNotifier
from backlog_watch.delivery.notifiers.email import EmailNotifier
from backlog_watch.delivery.notifiers.slack import SlackNotifier
from backlog_watch.reports import prepare, send
from backlog_watch.sim import SlackStandIn
from tests.helpers.config import console, document, dump, parse, threshold, zendesk
from tests.helpers.reports import NOW, TZ, seeded_store
from tests.smtp import smtp_server


async def test_slack_report_is_blocks_and_an_uploaded_png(slack_standin: SlackStandIn, tmp_path: Path) -> None:
    store = seeded_store(tmp_path)
    prepared = prepare(store, "daily", NOW, TZ, name="morning-briefing")
    store.close()
    notifier = SlackNotifier(
        "slack", token=SecretStr(slack_standin.token), channel="#support", api_url=slack_standin.api_url
    )
    assert await send(prepared, {"slack": notifier}, ["slack"]) == []
    report_message, chart_message = slack_standin.messages("#support")
    assert report_message.blocks[0]["text"]["text"] == "Backlog briefing Monday 23 November 2026"
    assert "Open: 13 (-2 since yesterday)" in json.dumps(report_message.blocks)
    (file_id,) = chart_message.files
    upload = slack_standin.uploads[file_id]
    assert upload.data == prepared.chart_png and upload.data[:4] == b"\x89PNG"
    assert upload.filename == "morning-briefing.png" and upload.length == len(prepared.chart_png)
    assert [c.method for c in slack_standin.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


async def test_a_failed_slack_report_is_retried_by_its_sender_after_the_wait_slack_asks(
    slack_standin: SlackStandIn, tmp_path: Path
) -> None:
    """Reports are not in the outbox and slack-sdk does not retry: the sender does, honouring Retry-After."""
    store = seeded_store(tmp_path)
    prepared = prepare(store, "daily", NOW, TZ, name="morning-briefing")
    store.close()
    notifier = SlackNotifier(
        "slack", token=SecretStr(slack_standin.token), channel="#support", api_url=slack_standin.api_url
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    slack_standin.rate_limit_next(1, retry_after=90)
    assert await send(prepared, {"slack": notifier}, ["slack"], sleep=sleep) == []
    assert waits == [90]  # Retry-After, longer than the first backoff step (30 s)
    assert len(slack_standin.messages("#support")) == 2  # the report and its chart, once

    slack_standin.fail_next(10, 500)  # down for longer than the sender keeps trying
    waits.clear()
    assert await send(prepared, {"slack": notifier}, ["slack"], sleep=sleep) == ["slack"]
    assert len(waits) == 3 and waits == sorted(waits) and waits[0] >= 30


async def test_report_to_a_notifier_without_reports_is_a_logged_failure(tmp_path: Path) -> None:
    store = seeded_store(tmp_path)
    prepared = prepare(store, "weekly", NOW, TZ)
    store.close()
    out = io.StringIO()
    failed = await send(
        prepared, {"console": ConsoleNotifier("console", out), "other": object()}, ["console", "other", "missing"]
    )
    assert failed == ["other", "missing"]
    assert "SLA attainment\n  Overall: 66.7%" in out.getvalue()


def report_config(db: Path, schedule: str = "0 9 * * mon-fri") -> str:
    """A morning briefing to the console on ``schedule``, Paris time; the helpdesk is never polled."""
    return dump(
        document(
            db=db,
            timezone="Europe/Paris",
            helpdesks=[zendesk(url="http://127.0.0.1:9", email="ops@example.com", token="t0k3n-for-tests")],
            notifiers=[console()],
            rules=[threshold(warn_above=100)],
            reports=[{"name": "morning-briefing", "schedule": schedule, "kind": "daily", "notify": ["console"]}],
        )
    )


async def test_reports_run_on_cron_in_the_config_time_zone(tmp_path: Path) -> None:
    seeded_store(tmp_path).close()
    config = parse(report_config(tmp_path / "bw.db"), "r.yaml")
    assert config.unsupported() == []
    out = io.StringIO()
    async with assemble(config, clock=lambda: NOW, notifiers={"console": ConsoleNotifier("console", out)}) as parts:
        ((job_id, trigger, _),) = parts.daemon._cron_jobs
        assert job_id == "report:morning-briefing"
        # Friday 2026-11-20 10:00 Paris -> next Monday 09:00 Paris (08:00 UTC)
        after = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        assert trigger.get_next_fire_time(None, after) == datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
        failed = await report_job(parts.daemon, config.reports[0], config)()
        assert failed == []
    assert "Open: 13 (-2 since yesterday)" in out.getvalue()


def test_report_command_prints_from_the_store(tmp_path: Path) -> None:
    store = seeded_store(tmp_path)
    store.close()
    config_file = tmp_path / "bw.yaml"
    config_file.write_text(report_config(tmp_path / "bw.db"))
    out = io.StringIO()
    chart = tmp_path / "chart.png"
    assert (
        main(["report", "-c", str(config_file), "--kind", "weekly", "--format", "json", "--chart", str(chart)], out)
        == 0
    )
    report = json.loads(out.getvalue())
    assert report["kind"] == "weekly" and report["open_tickets"] >= 13
    assert chart.read_bytes()[:4] == b"\x89PNG"
    markdown = io.StringIO()
    assert main(["report", "-c", str(config_file), "--kind", "daily", "--format", "markdown"], markdown) == 0
    assert markdown.getvalue().startswith("# Backlog briefing") and "## SLA at risk today" in markdown.getvalue()


def test_report_on_a_store_never_polled_says_there_is_no_data_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "bw.yaml"
    config_file.write_text(report_config(tmp_path / "never-polled.db"))
    out = io.StringIO()
    assert main(["report", "-c", str(config_file)], out) == 1
    assert "Open:" not in out.getvalue()
    assert "report: no data yet: no helpdesk has been polled" in capsys.readouterr().err


async def test_email_report_has_the_chart_inline(tmp_path: Path) -> None:
    store = seeded_store(tmp_path)
    prepared = prepare(store, "weekly", NOW, TZ, name="weekly-review")
    store.close()
    with smtp_server() as (box, port):
        notifier = EmailNotifier(
            "leads-email", host="localhost", port=port, sender="bw@acme.com", to=["leads@acme.com"], starttls=False
        )
        assert await send(prepared, {"leads-email": notifier}, ["leads-email"]) == []
    (message,) = box.messages
    assert message["Subject"] == prepared.title
    html = message.get_body(("html",))
    assert html is not None and 'src="cid:backlog-chart"' in html.get_content()
    (image,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<backlog-chart>" and image.get_payload(decode=True) == prepared.chart_png
    assert "Overall: 66.7% (4 met, 2 breached)" in message.get_body(("plain",)).get_content()
