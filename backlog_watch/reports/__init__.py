"""Scheduled reports: the daily briefing and the weekly review, rendered once and sent to notifiers.

``prepare(store, kind, now, tz)`` builds a report and every rendering of it (text, HTML with the
chart inline, Block Kit, the PNG chart). ``send(prepared, notifiers, names)`` hands it to each
notifier that has ``send_report``; ``email_message`` is the MIME message an SMTP notifier sends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from backlog_watch.errors import NotifyError
from backlog_watch.reports.build import Kind, Report, build
from backlog_watch.reports.render import CHART_CID, as_html, as_markdown, as_text, slack_blocks
from backlog_watch.store import Store

__all__ = ["PreparedReport", "ReportNotifier", "email_message", "prepare", "send"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedReport:
    """One report in every form a notifier needs."""

    name: str
    report: Report
    text: str
    markdown: str
    html: str
    """HTML whose chart is ``cid:backlog-chart``: attach ``chart_png`` under that Content-ID."""
    blocks: list[dict[str, Any]]
    chart_png: bytes

    @property
    def title(self) -> str:
        return self.report.title


@runtime_checkable
class ReportNotifier(Protocol):
    name: str

    async def send_report(self, prepared: PreparedReport) -> None:
        """Deliver the report, or raise NotifyError."""
        ...


def prepare(store: Store, kind: Kind, now: datetime, tz: ZoneInfo, name: str | None = None) -> PreparedReport:
    from backlog_watch.reports.chart import backlog_chart  # matplotlib loads in ~1s: only when a report is made

    report = build(store, kind, now, tz)
    chart = backlog_chart(report.days, "Created and solved per day, open backlog at each day's end")
    return PreparedReport(
        name or kind, report, as_text(report), as_markdown(report), as_html(report), slack_blocks(report), chart
    )


def email_message(prepared: PreparedReport, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """A multipart email: the text version, and the HTML with the chart as an inline related image."""
    message = EmailMessage()
    message["Subject"] = prepared.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(prepared.text)
    message.add_alternative(prepared.html, subtype="html")
    html_part = message.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(
        prepared.chart_png, maintype="image", subtype="png", cid=f"<{CHART_CID}>", filename="backlog.png"
    )
    return message


async def send(prepared: PreparedReport, notifiers: Mapping[str, object], names: Sequence[str]) -> list[str]:
    """Send to each named notifier; returns the names that failed (each failure is logged)."""
    failed = []
    for name in names:
        notifier = notifiers.get(name)
        if not isinstance(notifier, ReportNotifier):
            log.warning("report %s: notifier %s cannot send reports", prepared.name, name, extra={"notifier": name})
            failed.append(name)
            continue
        try:
            await notifier.send_report(prepared)
        except NotifyError as exc:
            log.warning("report %s to %s failed: %s", prepared.name, name, exc, extra={"notifier": name})
            failed.append(name)
        else:
            log.info("report %s sent to %s", prepared.name, name, extra={"notifier": name})
    return failed
