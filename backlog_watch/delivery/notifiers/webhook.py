"""A generic webhook: each notification POSTed as Alertmanager's webhook payload (version "4"), so a
receiver written for Alertmanager works unchanged, or as the body a Jinja2 template makes of it.

With a ``secret``, the body is signed: ``X-Backlog-Watch-Signature: sha256=<hex HMAC-SHA256 of the
body>`` (the header's name is ``signature_header``), so the receiver can check it came from here.
One alert per request (``truncatedAlerts`` 0); ``status`` is ``firing`` or ``resolved``; labels are the
alert's scope plus ``alertname`` (the rule) and ``severity``. A 429 or 5xx is retried by the outbox,
any other 4xx tried again only hourly (a broken receiver, not a busy one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.delivery.notifiers.http import JsonClient, check_url
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, AlertState
from backlog_watch.templating import SAMPLE_CONTEXT, check_template, render_template

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` of an alert still firing."""
SIGNATURE_HEADER = "X-Backlog-Watch-Signature"


class WebhookSettings(NotifierSettings):
    """Any HTTP endpoint: Alertmanager's JSON, or a ``body_template``; signed when ``secret`` is set."""

    type: Literal["webhook"] = "webhook"
    url: SecretStr
    """The endpoint; a SecretStr, because such URLs often carry a token."""
    secret: SecretStr | None = None
    """Shared secret of the HMAC-SHA256 signature header; none: unsigned."""
    signature_header: str = Field(default=SIGNATURE_HEADER, pattern=r"^[A-Za-z0-9-]+$")
    body_template: str | None = None
    """A Jinja2 template of the body (the rule templates' fields, plus ``payload``: the Alertmanager body)."""
    content_type: str = Field(default="application/json", pattern=r"^[\w.+-]+/[\w.+-]+(;.*)?$")
    external_url: str = ""
    """``externalURL`` and ``generatorURL`` of the payload: where people see the alerts (the wallboard)."""
    timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        check_url(value.get_secret_value())
        return value

    @field_validator("body_template")
    @classmethod
    def _body_template(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value, {**SAMPLE_CONTEXT, "payload": SAMPLE_PAYLOAD})

    @model_validator(mode="after")
    def _json_body(self) -> WebhookSettings:
        if self.body_template is not None and self.content_type.startswith("application/json"):
            sample = render_template(self.body_template, {**SAMPLE_CONTEXT, "payload": SAMPLE_PAYLOAD})
            try:
                json.loads(sample)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"body_template does not make JSON of a sample alert ({exc.msg}, column {exc.colno}): "
                    "set content_type to what it makes, or fix the template"
                ) from None
        return self


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _labels(alert: Alert) -> dict[str, str]:
    return {"alertname": alert.rule, **dict(alert.labels), "severity": alert.level}


def payload(notification: Notification, *, receiver: str, external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for one notification about one alert."""
    alert = notification.alert
    status = "resolved" if alert.state is AlertState.RESOLVED else "firing"
    labels = _labels(alert)
    annotations = {
        "summary": render.title(notification),
        "description": render.text(notification),
        "value": f"{alert.value:g}",
        "ticket_count": str(alert.ticket_count),
        **({"threshold": f"{alert.threshold:g}"} if alert.threshold is not None else {}),
        **({"tickets": " ".join(t.url for t in render.listed(alert)[0] if t.url)} if alert.tickets else {}),
    }
    ends = alert.resolved_at if alert.state is AlertState.RESOLVED and alert.resolved_at else None
    group_labels = {"alertname": alert.rule, **dict(alert.labels)}
    group_key = "{}:{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items())) + "}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": _rfc3339(alert.firing_since or alert.active_since),
                "endsAt": _rfc3339(ends) if ends else ZERO_TIME,
                "generatorURL": external_url,
                "fingerprint": alert.fingerprint,
            }
        ],
    }


def sign(body: bytes, secret: SecretStr) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()


SAMPLE_PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="backlog-size", helpdesk="zendesk"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "webhook",
    "groupLabels": {"alertname": "backlog-size", "helpdesk": "zendesk"},
    "commonLabels": {"alertname": "backlog-size", "helpdesk": "zendesk", "severity": "critical"},
    "commonAnnotations": {"summary": "[CRITICAL] backlog-size: 23 open (zendesk)", "description": "open_tickets is 23"},
    "externalURL": "",
    "alerts": [],
}
"""What ``payload`` looks like, for checking a body template when the config is loaded."""


class WebhookNotifier:
    """POSTs each notification to one URL (the URL and the secret are never logged)."""

    Settings: ClassVar[type[WebhookSettings]] = WebhookSettings

    def __init__(self, settings: WebhookSettings, *, tz: ZoneInfo = render.UTC_ZONE) -> None:
        self.name = settings.name
        self.tz = tz
        self.settings = settings
        self._http = JsonClient(settings.name, "Webhook", timeout=settings.timeout)

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> WebhookNotifier:
        return cls(settings, tz=tz)

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r})"

    def body(self, notification: Notification) -> bytes:
        """The request body: the payload as JSON, or what the body template makes of it."""
        s = self.settings
        alertmanager = payload(notification, receiver=s.name, external_url=s.external_url)
        if s.body_template is None:
            return json.dumps(alertmanager, separators=(",", ":")).encode()
        rendered = render_template(s.body_template, {**render.template_context(notification), "payload": alertmanager})
        if not rendered:
            raise NotifyError("body_template rendered nothing for this alert", notifier=self.name, retryable=False)
        return rendered.encode()

    async def send(self, notification: Notification) -> Delivery:
        body = self.body(notification)
        headers = {"Content-Type": self.settings.content_type, "User-Agent": "backlog-watch"}
        if self.settings.secret is not None:
            headers[self.settings.signature_header] = sign(body, self.settings.secret)
        await self._http.request("POST", self.settings.url.get_secret_value(), body=body, headers=headers)
        return Delivery()

    async def close(self) -> None:
        await self._http.close()
