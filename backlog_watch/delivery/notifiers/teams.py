"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"), as Adaptive Cards.

The Office 365 connectors are retired; a Workflows trigger takes a message whose attachment is an
Adaptive Card (version 1.4, what Teams renders everywhere) and posts it in the channel the flow names.
Each notification is a card: a header in the severity's colour, the value against the rule's terms as
facts, the tickets with their links, freshness; the resolved notice is a green card. The URL carries
its own signature (``sig=``): it is the credential, a SecretStr never logged. Teams refuses a message
over 28 KB; a card stays far below it (ten tickets, subjects cut at 100 characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.delivery.notifiers.http import JsonClient, check_url, clip
from backlog_watch.models import AlertState

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
STYLE = {"CRITICAL": "attention", "WARN": "warning", "RESOLVED": "good"}
"""The severity as an Adaptive Card container style and text colour."""


class TeamsSettings(NotifierSettings):
    """A Teams Workflows webhook: the flow's HTTP trigger URL (the URL is the credential)."""

    type: Literal["teams"] = "teams"
    url: SecretStr
    timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        check_url(value.get_secret_value())
        return value


def _text(text: str) -> str:
    """Teams reads TextBlock text as markdown: brackets in a subject would break a link."""
    return text.replace("[", "(").replace("]", ")")


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def ticket_blocks(notification: Notification, limit: int) -> list[dict[str, Any]]:
    shown, more = render.listed(notification.alert)
    lines = []
    for t in shown[:limit]:
        label = _text(clip(f"#{t.id} {t.subject}", 100))
        lines.append(f"- {f'[{label}]({t.url})' if t.url else label}: {render.ticket_facts(t, notification.now)}")
    more += max(0, len(shown) - limit)
    blocks = [text_block("\n".join(lines), spacing="Small")] if lines else []
    if more:
        blocks.append(text_block(f"…and {more} more", isSubtle=True, spacing="None"))
    return blocks


def card(
    notification: Notification, tz: ZoneInfo = render.UTC_ZONE, *, ticket_limit: int = render.LISTED
) -> dict[str, Any]:
    """The Adaptive Card of one notification."""
    alert = notification.alert
    sev = render.severity(notification)
    style = STYLE.get(sev, "default")
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": style,
            "bleed": True,
            "items": [
                text_block(
                    _text(f"{sev} · {alert.rule} · {render.scope_text(alert)}"),
                    size="Medium",
                    weight="Bolder",
                    color=style,
                ),
                text_block(_text(render.reason_text(notification, tz)), spacing="None", isSubtle=True),
            ],
        },
        text_block(_text(render.text(notification))),
    ]
    if alert.threshold is not None and alert.state is not AlertState.RESOLVED:
        facts = [
            {"title": "Now", "value": _text(render.headline(notification))},
            {"title": f"{alert.level.capitalize()} when", "value": _text(render.terms(notification))},
        ]
        body.append({"type": "FactSet", "facts": facts})
    escalation = render.escalation_text(notification)
    if escalation:
        body.append(text_block(escalation, color="attention"))
    if alert.state is not AlertState.RESOLVED:
        body += ticket_blocks(notification, ticket_limit)
    body.append(text_block(render.freshness(notification, tz), size="Small", isSubtle=True))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": clip(render.title(notification), 250),
        "body": body,
    }


def message(cards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The body a Workflows trigger takes: a message with one attachment per card."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": c} for c in cards],
    }


class TeamsNotifier:
    """Posts Adaptive Cards to a Teams Workflows webhook."""

    Settings: ClassVar[type[TeamsSettings]] = TeamsSettings

    def __init__(self, name: str, *, url: SecretStr, timeout: float = 10.0, tz: ZoneInfo = render.UTC_ZONE) -> None:
        self.name = name
        self.tz = tz
        self._url = url
        self._http = JsonClient(name, "Teams", timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> TeamsNotifier:
        return cls(settings.name, url=settings.url, timeout=settings.timeout, tz=tz)

    def __repr__(self) -> str:
        return f"TeamsNotifier(name={self.name!r})"

    async def send(self, notification: Notification) -> Delivery:
        await self._http.post_json(self._url.get_secret_value(), message([card(notification, self.tz)]))
        return Delivery()

    async def close(self) -> None:
        await self._http.close()
