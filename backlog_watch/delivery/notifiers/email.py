"""Email over SMTP (aiosmtplib): STARTTLS (587) or implicit TLS (465), optional AUTH.

One email per alert event, multipart text + HTML (Jinja2 templates in ``backlog_watch/templates``),
subject ``[CRITICAL] urgent-backlog: 23 open (zendesk)``; quiet hours end in one digest email. A failed
send raises NotifyError and the outbox retries it with backoff.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import aiosmtplib
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import Field, SecretStr, field_validator, model_validator

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.durations import human_duration
from backlog_watch.errors import NotifyError

if TYPE_CHECKING:
    from backlog_watch.reports import PreparedReport

_TEMPLATES = Environment(
    loader=PackageLoader("backlog_watch.delivery", "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html", "html.j2"]),
    trim_blocks=True,
)
_COLOURS = {"CRITICAL": "#c62828", "WARN": "#ef6c00", "RESOLVED": "#2e7d32"}


def _sla(ticket: Any, now: datetime) -> str:
    due = ticket.sla.earliest_due
    if due is None:
        return ""
    return f"due in {human_duration(due - now)}" if due > now else f"breached {human_duration(now - due)} ago"


def alert_view(notification: Notification, tz: ZoneInfo = render.UTC_ZONE) -> dict[str, Any]:
    """What the templates show of one notification, its times in ``tz``."""
    alert, now = notification.alert, notification.now
    severity = render.severity(notification)
    shown, more = render.listed(alert) if severity != "RESOLVED" else ((), 0)
    return {
        "title": render.title(notification),
        "severity": severity,
        "colour": _COLOURS.get(severity, "#44474f"),
        "headline": render.headline(notification),
        "scope": render.scope_text(alert),
        "text": render.text(notification),
        "reason": render.reason_text(notification, tz),
        "escalation": render.escalation_text(notification),
        "freshness": render.freshness(notification, tz),
        "more": more,
        "terms": f"{alert.level.capitalize()} when {render.terms(notification)}"
        if alert.threshold is not None and severity != "RESOLVED"
        else "",
        "tickets": [
            {
                "id": t.id,
                "url": t.url,
                "subject": t.subject,
                "priority": t.priority.value,
                "age": human_duration(now - t.created_at),
                "status": t.status.value.replace("_", " "),
                "group": t.group,
                "assignee": t.assignee,
                "sla": _sla(t, now),
            }
            for t in shown
        ],
    }


def build_message(
    notifications: Sequence[Notification], *, sender: str, to: Sequence[str], tz: ZoneInfo = render.UTC_ZONE
) -> EmailMessage:
    """The email of one notification, or the digest of several."""
    if len(notifications) == 1:
        subject = render.title(notifications[0])
    else:
        worst = "CRITICAL" if any(render.severity(n) == "CRITICAL" for n in notifications) else "DIGEST"
        subject = f"[{worst}] backlog-watch: {len(notifications)} alert updates"
    alerts = [alert_view(n, tz) for n in notifications]
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid("backlog-watch", domain=domain)
    message.set_content(_TEMPLATES.get_template("email.txt.j2").render(alerts=alerts, subject=subject))
    message.add_alternative(
        _TEMPLATES.get_template("email.html.j2").render(alerts=alerts, subject=subject), subtype="html"
    )
    return message


class EmailSettings(NotifierSettings):
    """SMTP: STARTTLS on 587 by default, or implicit TLS (``tls: true``, usually port 465)."""

    type: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _tls_replaces_starttls(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tls") is True and "starttls" not in data:
            return {**data, "starttls": False}
        return data

    @field_validator("to", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("from_", "to")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> str | list[str]:
        for address in [value] if isinstance(value, str) else value:
            if "@" not in parseaddr(address)[1]:
                raise ValueError(f'"{address}" is not an email address')
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if self.tls and self.starttls:
            raise ValueError("set either tls (implicit TLS, port 465) or starttls (port 587), not both")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self


class EmailNotifier:
    """Sends through one SMTP server; ``tls_context`` lets a private CA in (tests, internal relays)."""

    Settings: ClassVar[type[EmailSettings]] = EmailSettings

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        sender: str,
        to: Sequence[str],
        starttls: bool = True,
        tls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        tz: ZoneInfo = render.UTC_ZONE,
    ) -> None:
        self.name = name
        self.tz = tz
        self.host, self.port = host, port
        self.sender, self.to = sender, list(to)
        self.starttls, self.tls = starttls, tls
        self.username, self._password = username, password
        self.timeout = timeout
        self.tls_context = tls_context

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> EmailNotifier:
        return cls(
            settings.name,
            host=settings.host,
            port=settings.port,
            sender=settings.from_,
            to=settings.to,
            starttls=settings.starttls,
            tls=settings.tls,
            username=settings.username,
            password=settings.password,
            tz=tz,
        )

    def __repr__(self) -> str:
        return f"EmailNotifier(name={self.name!r}, host={self.host!r}, port={self.port})"

    async def send(self, notification: Notification) -> Delivery:
        await self._deliver(build_message([notification], sender=self.sender, to=self.to, tz=self.tz))
        return Delivery()

    async def send_digest(self, notifications: Sequence[Notification]) -> None:
        await self._deliver(build_message(notifications, sender=self.sender, to=self.to, tz=self.tz))

    async def send_report(self, prepared: PreparedReport) -> None:
        """A scheduled report: text, and HTML with its chart as an inline image (PreparedReport.email_message)."""

        await self._deliver(prepared.email_message(self.sender, self.to))

    async def _deliver(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                timeout=self.timeout,
                use_tls=self.tls,
                start_tls=self.starttls if not self.tls else False,
                tls_context=self.tls_context,
                username=self.username,
                password=self._password.get_secret_value() if self._password else None,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise NotifyError(
                f"SMTP {self.host}:{self.port} refused the login ({exc.code})", notifier=self.name, retryable=False
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise NotifyError(
                f"SMTP {self.host}:{self.port} answered {exc.code} {exc.message}",
                notifier=self.name,
                retryable=exc.code < 500,
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise NotifyError(
                f"SMTP {self.host}:{self.port} unreachable: {type(exc).__name__}", notifier=self.name
            ) from None
