"""Scheduled reports: the daily briefing and the weekly review, rendered once and sent to notifiers.

``prepare(store, kind, now, tz)`` builds a report and every rendering of it (text, HTML with the
chart inline, Block Kit, the PNG chart). ``send(prepared, notifiers, names)`` hands it to each
notifier that has ``send_report``; ``email_message`` is the MIME message an SMTP notifier sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

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

    def email_message(self, sender: str, recipients: Sequence[str]) -> EmailMessage:
        """The report as one email (an email notifier calls this: delivery never imports reports)."""
        return email_message(self, sender, recipients)


@runtime_checkable
class ReportNotifier(Protocol):
    name: str

    async def send_report(self, prepared: PreparedReport) -> None:
        """Deliver the report, or raise NotifyError."""
        ...


def prepare(
    store: Store,
    kind: Kind,
    now: datetime,
    tz: ZoneInfo,
    name: str | None = None,
    handle_hours: Mapping[str, float] | None = None,
) -> PreparedReport:
    """``handle_hours``: each helpdesk's ``handle_time`` in hours (the briefing's workload)."""
    from backlog_watch.reports.chart import backlog_chart  # matplotlib loads in ~1s: only when a report is made

    report = build(store, kind, now, tz, handle_hours)
    chart = backlog_chart(report.days, "Created and solved per day, open backlog at each day's end", tz)
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


REPORT_ATTEMPTS = 4
REPORT_BACKOFF = wait_exponential(multiplier=30, max=600)
"""A report is not in the outbox: its sender retries a failed send itself, 30s, 1m, 2m apart (or as
long as Retry-After asks), then gives up and logs it."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NotifyError) and exc.retryable


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    asked = exc.retry_after if isinstance(exc, NotifyError) and exc.retry_after else 0.0
    return max(REPORT_BACKOFF(state), asked)


async def send(
    prepared: PreparedReport,
    notifiers: Mapping[str, object],
    names: Sequence[str],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    attempts: int = REPORT_ATTEMPTS,
) -> list[str]:
    """Send to each named notifier, retrying a retryable failure (``attempts`` in all); returns the names
    that failed (each logged)."""
    failed = []
    for name in names:
        notifier = notifiers.get(name)
        if not isinstance(notifier, ReportNotifier):
            log.warning("report %s: notifier %s cannot send reports", prepared.name, name, extra={"notifier": name})
            failed.append(name)
            continue
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_retryable),
                stop=stop_after_attempt(attempts),
                wait=_wait,
                sleep=sleep,
                reraise=True,
            ):
                with attempt:
                    await notifier.send_report(prepared)
        except NotifyError as exc:
            log.warning("report %s to %s failed: %s", prepared.name, name, exc, extra={"notifier": name})
            failed.append(name)
        else:
            log.info("report %s sent to %s", prepared.name, name, extra={"notifier": name})
    return failed
