"""Jira Service Management Operations alerts (Opsgenie's successor), through its REST API.

    create       POST /jsm/ops/api/{cloudId}/v1/alerts                  alias = the alert's fingerprint
    acknowledge  POST /jsm/ops/api/{cloudId}/v1/alerts/{id}/acknowledge
    close        POST /jsm/ops/api/{cloudId}/v1/alerts/{id}/close

Firing news creates: JSM folds a create with the alias of an open alert into it (its count goes up).
The REST API takes only the alert's id to acknowledge or close, and a create is processed
asynchronously (it answers a request id, not the alert), so the id is looked up by alias when needed:
``GET .../v1/alerts?query=alias:"..." AND status:open``. No open alert with that alias (closed by hand
in JSM meanwhile) leaves nothing to do. Auth: Basic, an Atlassian account's email and API token.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.delivery.notifiers.http import JsonClient, check_url, clip
from backlog_watch.models import Alert, AlertState

API_URL = "https://api.atlassian.com"
MESSAGE_MAX = 130
DESCRIPTION_MAX = 15_000
ALIAS_MAX = 512
TAG_MAX = 50
Priority = Literal["P1", "P2", "P3", "P4", "P5"]
DEFAULT_PRIORITY: dict[Literal["critical", "warn"], Priority] = {"critical": "P1", "warn": "P3"}


class Responder(BaseModel):
    """Who JSM notifies of an alert: a team, user, escalation or schedule, by id or by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["team", "user", "escalation", "schedule"]
    id: str | None = None
    name: str | None = None
    username: str | None = None

    @model_validator(mode="after")
    def _named(self) -> Responder:
        if not (self.id or self.name or self.username):
            raise ValueError("give its id, name (team, escalation, schedule) or username (user)")
        return self


class JsmSettings(NotifierSettings):
    """A JSM Operations site (its cloud id) and an account allowed to create alerts there."""

    type: Literal["jsm"] = "jsm"
    cloud_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    """The site's cloud id (https://YOUR-SITE.atlassian.net/_edge/tenant_info)."""
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    api_token: SecretStr
    priority: dict[Literal["critical", "warn"], Priority] = Field(default_factory=lambda: dict(DEFAULT_PRIORITY))
    """Our levels as JSM priorities (P1 highest); a level left out is P3."""
    responders: list[Responder] = Field(default_factory=list, max_length=50)
    """Who JSM notifies, e.g. ``[{type: team, name: Support leads}]``; none: the integration's routing."""
    tags: list[Annotated[str, Field(min_length=1, max_length=TAG_MAX)]] = Field(default_factory=list, max_length=19)
    """Tags of every alert; the rule's name is added as one more (JSM takes 20 of 50 characters)."""
    api_url: str = API_URL
    """Another API host (a local stand-in in tests); http:// for loopback only."""
    timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_url(value).rstrip("/")


def create_body(notification: Notification, settings: JsmSettings, tz: ZoneInfo = render.UTC_ZONE) -> dict[str, Any]:
    """The create-alert body of a firing notification."""
    alert = notification.alert
    body: dict[str, Any] = {
        "message": clip(render.title(notification), MESSAGE_MAX),
        "alias": alert.fingerprint[:ALIAS_MAX],
        "description": clip(description(notification, tz), DESCRIPTION_MAX),
        "source": "backlog-watch",
        "entity": clip(render.scope_text(alert), ALIAS_MAX),
        "priority": settings.priority.get(alert.level, "P3"),
        "tags": [*settings.tags, clip(alert.rule, TAG_MAX)],
        "details": {
            "rule": alert.rule,
            "level": alert.level,
            "value": str(alert.value),
            "threshold": "" if alert.threshold is None else str(alert.threshold),
            "ticket_count": str(alert.ticket_count),
            **{f"label.{k}": v for k, v in alert.labels},
        },
    }
    if settings.responders:
        body["responders"] = [r.model_dump(exclude_none=True) for r in settings.responders]
    return body


def description(notification: Notification, tz: ZoneInfo = render.UTC_ZONE) -> str:
    """The value, the rule's terms and the tickets with their links, as plain text."""
    alert = notification.alert
    lines = [render.text(notification), render.reason_text(notification, tz)]
    if alert.threshold is not None:
        lines.append(f"{alert.level.capitalize()} when {render.terms(notification)}")
    shown, more = render.listed(alert)
    for t in shown:
        lines.append(f"- #{t.id} {t.subject} ({render.ticket_facts(t, notification.now)}) {t.url or ''}".rstrip())
    if more:
        lines.append(f"... and {more} more")
    lines.append(render.freshness(notification, tz))
    return "\n".join(lines)


class JsmNotifier:
    """Creates, acknowledges and closes JSM Operations alerts (the API token is never logged)."""

    Settings: ClassVar[type[JsmSettings]] = JsmSettings

    def __init__(self, settings: JsmSettings, *, tz: ZoneInfo = render.UTC_ZONE) -> None:
        self.name = settings.name
        self.tz = tz
        self.settings = settings
        self.alerts_url = f"{settings.api_url}/jsm/ops/api/{quote(settings.cloud_id)}/v1/alerts"
        basic = base64.b64encode(f"{settings.email}:{settings.api_token.get_secret_value()}".encode()).decode()
        self._http = JsonClient(
            settings.name,
            "JSM Operations",
            timeout=settings.timeout,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> JsmNotifier:
        return cls(settings, tz=tz)

    def __repr__(self) -> str:
        return f"JsmNotifier(name={self.name!r}, cloud_id={self.settings.cloud_id!r})"

    async def send(self, notification: Notification) -> Delivery:
        alert = notification.alert
        if alert.state is AlertState.RESOLVED:
            await self._act(alert, "close", note=render.reason_text(notification, self.tz))
            return Delivery()
        await self._http.post_json(self.alerts_url, create_body(notification, self.settings, self.tz))
        return Delivery()

    async def acknowledge(self, alert: Alert, *, by: str) -> None:
        """Acknowledge the open JSM alert of this episode, saying who did (escalation stops there too)."""
        await self._act(alert, "acknowledge", note=f"Acknowledged by {by}")

    async def _act(self, alert: Alert, action: Literal["acknowledge", "close"], *, note: str) -> None:
        for alert_id in await self._open_ids(alert.fingerprint[:ALIAS_MAX]):
            await self._http.post_json(
                f"{self.alerts_url}/{quote(alert_id, safe='')}/{action}",
                {"source": "backlog-watch", "note": clip(note, 25_000)},
            )

    async def _open_ids(self, alias: str) -> list[str]:
        """The ids of the open alerts with this alias (one, unless JSM was changed by hand)."""
        escaped = alias.replace("\\", "\\\\").replace('"', '\\"')
        answer = await self._http.request(
            "GET", self.alerts_url, params={"query": f'alias:"{escaped}" AND status:open', "size": "20"}
        )
        values = answer.get("values") if isinstance(answer, dict) else None
        return [str(v["id"]) for v in values or () if isinstance(v, dict) and v.get("alias") == alias and "id" in v]

    async def close(self) -> None:
        await self._http.close()
