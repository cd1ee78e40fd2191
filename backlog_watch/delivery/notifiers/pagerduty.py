"""PagerDuty through the Events API v2: an alert episode is one PagerDuty alert, keyed by its fingerprint.

Firing news (first, escalated, more tickets, repeat) is a ``trigger`` with ``dedup_key`` = the alert's
fingerprint, so PagerDuty folds them into one incident and keeps the newest summary; the resolved
notice is a ``resolve`` of that key; ``acknowledge`` sends an ``acknowledge`` (for an acknowledgement
made elsewhere, e.g. in Slack). A 429 or 5xx is retried by the outbox; a 400 (PagerDuty's "invalid
event") is permanent and says which field PagerDuty refused.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.delivery.notifiers.http import JsonClient, check_url, clip
from backlog_watch.models import Alert, AlertState

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024
"""PagerDuty's limit on ``payload.summary``."""
DEDUP_KEY_MAX = 255
SEVERITY = {"critical": "critical", "warn": "warning"}
"""Our levels as PagerDuty's severities (critical, error, warning, info)."""


class PagerDutySettings(NotifierSettings):
    """An Events API v2 integration of a PagerDuty service: its integration (routing) key."""

    type: Literal["pagerduty"] = "pagerduty"
    routing_key: SecretStr
    url: str = EVENTS_URL
    """Another Events API endpoint (a local stand-in in tests); http:// for loopback only."""
    source: str = Field(default="backlog-watch", min_length=1, max_length=255)
    """``payload.source``: where PagerDuty says the alert comes from."""
    timeout: float = Field(default=10.0, gt=0, le=120)
    """Seconds per request."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) != 32:
            raise ValueError("must be the 32-character integration key of an Events API v2 integration")
        return value


def custom_details(notification: Notification, tz: ZoneInfo = render.UTC_ZONE) -> dict[str, Any]:
    """What the incident shows beside its summary: the value against the rule's terms, the tickets."""
    alert = notification.alert
    shown, more = render.listed(alert)
    details: dict[str, Any] = {
        "rule": alert.rule,
        "scope": render.scope_text(alert),
        "value": alert.value,
        "threshold": alert.threshold,
        "when": render.reason_text(notification, tz),
        "summary": render.text(notification),
        "ticket_count": alert.ticket_count,
        "tickets": [
            {"id": t.id, "subject": t.subject, "url": t.url, "facts": render.ticket_facts(t, notification.now)}
            for t in shown
        ],
        "freshness": render.freshness(notification, tz),
    }
    if alert.threshold is not None:
        details["fires_when"] = render.terms(notification)
    if more:
        details["more_tickets"] = more
    return details


def event(
    notification: Notification, *, routing_key: str, source: str, tz: ZoneInfo = render.UTC_ZONE
) -> dict[str, Any]:
    """The Events API v2 body of one notification: a trigger while it fires, a resolve when it clears."""
    alert = notification.alert
    dedup_key = alert.fingerprint[:DEDUP_KEY_MAX]
    if alert.state is AlertState.RESOLVED:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": clip(render.title(notification), SUMMARY_MAX),
            "source": source,
            "severity": SEVERITY.get(alert.level, "warning"),
            "timestamp": (alert.firing_since or notification.now).isoformat(),
            "component": alert.label_map.get("helpdesk", "backlog"),
            "group": render.scope_text(alert),
            "class": alert.rule,
            "custom_details": custom_details(notification, tz),
        },
        "client": "backlog-watch",
    }
    links = [{"href": t.url, "text": clip(f"#{t.id} {t.subject}", 200)} for t in render.listed(alert)[0] if t.url]
    if links:
        body["links"] = links
    return body


class PagerDutyNotifier:
    """Triggers, acknowledges and resolves PagerDuty alerts (the routing key is never logged)."""

    Settings: ClassVar[type[PagerDutySettings]] = PagerDutySettings

    def __init__(
        self,
        name: str,
        *,
        routing_key: SecretStr,
        url: str = EVENTS_URL,
        source: str = "backlog-watch",
        timeout: float = 10.0,
        tz: ZoneInfo = render.UTC_ZONE,
    ) -> None:
        self.name = name
        self.tz = tz
        self.url = url
        self.source = source
        self._routing_key = routing_key
        self._http = JsonClient(name, "PagerDuty", timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> PagerDutyNotifier:
        return cls(
            settings.name,
            routing_key=settings.routing_key,
            url=settings.url,
            source=settings.source,
            timeout=settings.timeout,
            tz=tz,
        )

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(name={self.name!r})"

    async def send(self, notification: Notification) -> Delivery:
        key = self._routing_key.get_secret_value()
        await self._http.post_json(self.url, event(notification, routing_key=key, source=self.source, tz=self.tz))
        return Delivery()

    async def acknowledge(self, alert: Alert, *, by: str) -> None:
        """Acknowledge the PagerDuty alert of this episode: its escalation stops, the incident stays open."""
        await self._http.post_json(
            self.url,
            {
                "routing_key": self._routing_key.get_secret_value(),
                "event_action": "acknowledge",
                "dedup_key": alert.fingerprint[:DEDUP_KEY_MAX],
            },
        )

    async def close(self) -> None:
        await self._http.close()
