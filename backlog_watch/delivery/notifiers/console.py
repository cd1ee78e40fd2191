"""The console notifier: alerts as readable text on stdout (the demo's, and handy with --dry-run)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TextIO
from zoneinfo import ZoneInfo

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.models import AlertState

if TYPE_CHECKING:
    from backlog_watch.reports import PreparedReport


def format_text(notification: Notification, tz: ZoneInfo = render.UTC_ZONE) -> str:
    """A notification as plain text: title, reason, value against the rule's terms, tickets, freshness."""
    alert = notification.alert
    lines = [render.title(notification), f"  {render.reason_text(notification, tz)}. {render.text(notification)}"]
    if alert.threshold is not None and alert.state is not AlertState.RESOLVED:
        lines.append(f"  {alert.level.capitalize()} when {render.terms(notification)}")
    if notification.escalation is not None:
        lines.append(f"  {render.escalation_text(notification)}")
    shown, more = render.listed(alert)
    for ticket in shown:
        lines.append(f"  - #{ticket.id} {ticket.subject} ({render.ticket_facts(ticket, notification.now)})")
        if ticket.url:
            lines.append(f"    {ticket.url}")
    if more:
        lines.append(f"  ... and {more} more")
    lines.append(f"  {render.freshness(notification, tz)}")
    return "\n".join(lines)


class ConsoleSettings(NotifierSettings):
    """Alerts printed on stdout: the demo, and a dry run you can read."""

    type: Literal["console"] = "console"


class ConsoleNotifier:
    """Prints each notification; never fails."""

    Settings: ClassVar[type[ConsoleSettings]] = ConsoleSettings

    def __init__(self, name: str = "console", stream: TextIO | None = None, tz: ZoneInfo = render.UTC_ZONE) -> None:
        self.name = name
        self.tz = tz
        self._stream = stream

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> ConsoleNotifier:
        return cls(settings.name, tz=tz)

    async def send(self, notification: Notification) -> Delivery:
        stream = self._stream or sys.stdout
        stream.write(format_text(notification, self.tz) + "\n\n")
        stream.flush()
        return Delivery()

    async def send_digest(self, notifications: Sequence[Notification]) -> None:
        stream = self._stream or sys.stdout
        stream.write(f"Digest: {len(notifications)} alert update(s)\n\n")
        stream.write("".join(format_text(n, self.tz) + "\n\n" for n in notifications))
        stream.flush()

    async def send_report(self, prepared: PreparedReport) -> None:
        stream = self._stream or sys.stdout
        stream.write(prepared.text + "\n")
        stream.flush()
