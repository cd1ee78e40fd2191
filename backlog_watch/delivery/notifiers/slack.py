"""Slack through slack-sdk: one parent message per alert episode, later news as thread replies.

Messages are built with slack-sdk's Block Kit models and kept within Slack's limits (50 blocks,
3000 characters per section, 150 per header). ``api_url`` points the real client at any Slack Web
API, such as the local stand-in the tests and the demo use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.web.async_client import AsyncWebClient

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification, Reason
from backlog_watch.delivery.notifiers.base import NotifierSettings, https_or_loopback
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, AlertState

if TYPE_CHECKING:
    from backlog_watch.reports import PreparedReport

HEADER_MAX = 150
SECTION_MAX = 3000
TEXT_MAX = 3000
FATAL_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "missing_scope",
    "invalid_blocks",
    "msg_too_long",
}
ACTIONS_BLOCK = "backlog_watch.alert"
"""The actions block's id prefix; the block id carries the alert's reference (``alert_reference``)."""
ACKNOWLEDGE_ACTION = "backlog_watch.acknowledge"
SNOOZE_ACTION = "backlog_watch.snooze"
UNSNOOZE_ACTION = "backlog_watch.unsnooze"
TAKE_ACTION = "backlog_watch.take_oldest"
SNOOZE_CHOICES = {"1h": "for 1 hour", "4h": "for 4 hours", "morning": "until the next business morning"}
_ICON = {"CRITICAL": ":red_circle:", "WARN": ":large_orange_circle:", "RESOLVED": ":white_check_mark:"}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn needs &, < and > escaped in user text (ticket subjects)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ticket_lines(notification: Notification) -> list[str]:
    shown, more = render.listed(notification.alert)
    lines = []
    for t in shown:
        label = f"#{t.id} {_escape(_clip(t.subject, 80))}".strip()
        link = f"<{t.url}|{label}>" if t.url else label
        lines.append(f"• {link} — {render.ticket_facts(t, notification.now)}")
    if more:
        lines.append(f"…and {more} more")
    return lines


def build_blocks(notification: Notification, tz: ZoneInfo = render.UTC_ZONE, *, buttons: bool = False) -> list[Block]:
    """The parent message: header, the value against its threshold, the buttons while it fires (with
    ``buttons``: only a Slack app that answers them, ``interactive``, gets them), the tickets, who
    acknowledged it and freshness."""
    alert = notification.alert
    sev = render.severity(notification)
    header = f"{sev} · {alert.rule} · {render.scope_text(alert)}"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(header, HEADER_MAX), emoji=True)),
        SectionBlock(
            text=MarkdownTextObject(
                text=_clip(
                    f"{_ICON.get(sev, '')} *{_escape(render.headline(notification))}* — "
                    f"{_escape(render.scope_text(alert))}\n"
                    f"{_escape(render.text(notification))}",
                    SECTION_MAX,
                )
            ),
            fields=_fields(notification),
        ),
    ]
    if buttons and alert.state is AlertState.FIRING and alert.firing_since is not None:  # before the tickets
        blocks.append(action_buttons(alert, acknowledged=notification.acknowledged is not None))
    if alert.state is not AlertState.RESOLVED and alert.tickets:
        blocks.append(DividerBlock())
        section = ""
        for line in ticket_lines(notification):
            if len(section) + len(line) + 1 > SECTION_MAX:
                blocks.append(SectionBlock(text=MarkdownTextObject(text=section)))
                section = ""
            section += line + "\n"
        if section:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=section.rstrip())))
    edit = notification.reason is Reason.ACKNOWLEDGED  # the parent keeps saying since when it fires
    context = [
        render.acknowledged_text(notification, tz) if notification.acknowledged else "",
        render.firing_text(alert, tz) if edit else render.reason_text(notification, tz),
        render.escalation_text(notification),
        render.freshness(notification, tz),
    ]
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=_clip(" · ".join(part for part in context if part), TEXT_MAX))])
    )
    return blocks[:50]


def alert_reference(alert: Alert) -> str:
    """``fingerprint:episode``: which alert and which firing episode a button acts on."""
    assert alert.firing_since is not None
    return f"{alert.fingerprint}:{alert.firing_since.timestamp():.6f}"


def action_buttons(alert: Alert, *, acknowledged: bool) -> ActionsBlock:
    """Acknowledge (until someone has), Snooze (a menu), Unsnooze, Take oldest."""
    reference = alert_reference(alert)
    elements: list[Any] = []
    if not acknowledged:
        elements.append(
            ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE_ACTION, value=reference, style="primary")
        )
    elements += [
        StaticSelectElement(
            placeholder="Snooze…",
            action_id=SNOOZE_ACTION,
            options=[Option(value=value, text=f"Snooze {label}") for value, label in SNOOZE_CHOICES.items()],
        ),
        ButtonElement(text="Unsnooze", action_id=UNSNOOZE_ACTION, value=reference),
        ButtonElement(text="Take oldest", action_id=TAKE_ACTION, value=reference),
    ]
    return ActionsBlock(block_id=f"{ACTIONS_BLOCK}:{reference}", elements=elements)


def _fields(notification: Notification) -> list[MarkdownTextObject] | None:
    """The value against the rule's own terms, at a glance: "12 tickets older than 7d" / "older than 7d"."""
    alert = notification.alert
    if alert.threshold is None or alert.state is AlertState.RESOLVED:
        return None
    return [
        MarkdownTextObject(text=f"*Now*\n{_escape(render.headline(notification))}"),
        MarkdownTextObject(text=f"*{alert.level.capitalize()} when*\n{_escape(render.terms(notification))}"),
    ]


def reply_text(notification: Notification, tz: ZoneInfo = render.UTC_ZONE) -> str:
    alert = notification.alert
    match notification.reason:
        case Reason.RESOLVED:
            return f":white_check_mark: {render.reason_text(notification, tz)}: {alert.summary}"
        case Reason.ESCALATED:
            return f":red_circle: Escalated to {alert.level}: {alert.summary}"
        case Reason.MORE_TICKETS:
            return f":arrow_up: {render.reason_text(notification, tz)}: {alert.summary}"
        case _:
            return f"{render.reason_text(notification, tz)}: {alert.summary}"


class ChannelPacer:
    """At most one message per ``interval`` seconds per channel (Slack's posting limit)."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: dict[str, float] = {}
        self._alias: dict[str, str] = {}

    def learn(self, name: str, channel_id: str) -> None:
        """``#support`` and ``C123`` are the same channel: pace them together."""
        self._alias[name] = channel_id
        if name in self._last:
            self._last[channel_id] = max(self._last.pop(name), self._last.get(channel_id, float("-inf")))

    async def wait(self, channel: str) -> None:
        key = self._alias.get(channel, channel)
        last = self._last.get(key)
        if last is not None:
            delay = last + self.interval - self._clock()
            if delay > 0:
                await self._sleep(delay)
        self._last[key] = self._clock()


class SlackAppSettings(BaseModel):
    """The Slack app behind the bot: buttons on alerts, /backlog and the App Home (manifest.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["socket_mode", "http"] = "socket_mode"
    """Socket Mode needs no public URL; ``http`` is POST /slack/events on the daemon's web server."""
    app_token: SecretStr | None = None
    """The app-level token (``xapp-...``, scope connections:write), for Socket Mode."""
    signing_secret: SecretStr | None = None
    """The app's signing secret, which verifies every request to /slack/events."""

    @model_validator(mode="after")
    def _credentials(self) -> SlackAppSettings:
        # An empty value (an unset variable, also named on its own line) is missing, not a wrong kind of token.
        if self.transport == "socket_mode":
            token = self.app_token.get_secret_value() if self.app_token else ""
            if not token:
                raise ValueError("transport socket_mode needs app_token (an xapp-... app-level token)")
            if not token.startswith("xapp-"):
                bot = ", not a bot token" if token.startswith("xox") else ""
                raise ValueError(f"app_token must be an app-level token (xapp-...){bot}")
        if self.transport == "http" and not (self.signing_secret and self.signing_secret.get_secret_value()):
            raise ValueError("transport http needs signing_secret (the app's Signing Secret)")
        return self


class SlackSettings(NotifierSettings):
    """Slack through a bot token: chat.postMessage, replies in thread, edits in place."""

    type: Literal["slack"] = "slack"
    token: SecretStr
    channel: str = Field(min_length=1, max_length=80)  # Slack's longest channel name
    api_url: str = "https://slack.com/api/"
    """Another Slack Web API (a local stand-in in tests and the demo); http:// for loopback only."""
    interactive: SlackAppSettings | None = None
    """Buttons, /backlog and the App Home through this Slack app (None: messages only)."""

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not https_or_loopback(value):
            raise ValueError(f'"{value}" must be an https:// URL (http:// only for loopback hosts)')
        return value if value.endswith("/") else value + "/"


class SlackNotifier:
    """Posts with a bot token (chat.postMessage, replies in thread, chat.update of the parent)."""

    Settings: ClassVar[type[SlackSettings]] = SlackSettings
    acknowledges: ClassVar[bool] = True
    """An acknowledgement edits the parent message ("Acknowledged by @alice at 10:42", no button)."""

    def __init__(
        self,
        name: str,
        *,
        token: SecretStr,
        channel: str,
        api_url: str = "https://slack.com/api/",
        pacer: ChannelPacer | None = None,
        tz: ZoneInfo = render.UTC_ZONE,
        buttons: bool = False,
    ) -> None:
        self.name = name
        self.tz = tz
        self.channel = channel
        self.buttons = buttons
        """Acknowledge, Snooze, Take oldest on firing alerts: only when the config's ``interactive`` app
        answers them (buttons nobody answers make Slack say the app is not configured for them)."""
        self.pacer = pacer or ChannelPacer()
        self._client = AsyncWebClient(
            token=token.get_secret_value(),
            base_url=api_url if api_url.endswith("/") else api_url + "/",
            retry_handlers=[],  # the outbox is the only retrier: it reschedules, honouring Retry-After
        )

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> SlackNotifier:
        return cls(
            settings.name,
            token=settings.token,
            channel=settings.channel,
            api_url=settings.api_url,
            tz=tz,
            buttons=settings.interactive is not None,
        )

    def __repr__(self) -> str:
        return f"SlackNotifier(name={self.name!r}, channel={self.channel!r})"

    async def send(self, notification: Notification) -> Delivery:
        blocks = [b.to_dict() for b in build_blocks(notification, self.tz, buttons=self.buttons)]
        text = _clip(render.title(notification), TEXT_MAX)
        previous = notification.previous
        if previous is None or previous.ts is None or previous.channel is None:
            await self.pacer.wait(self.channel)
            response = await self._call("chat_postMessage", channel=self.channel, text=text, blocks=blocks)
            self.pacer.learn(self.channel, response["channel"])
            return Delivery(channel=response["channel"], ts=response["ts"])
        await self.pacer.wait(previous.channel)
        if notification.reason is Reason.ACKNOWLEDGED:
            await self._call("chat_update", channel=previous.channel, ts=previous.ts, text=text, blocks=blocks)
            return Delivery(channel=previous.channel, ts=previous.ts)
        await self._call(
            "chat_postMessage",
            channel=previous.channel,
            thread_ts=previous.ts,
            text=_clip(reply_text(notification, self.tz), TEXT_MAX),
        )
        await self._call("chat_update", channel=previous.channel, ts=previous.ts, text=text, blocks=blocks)
        return Delivery(channel=previous.channel, ts=previous.ts)

    async def send_report(self, prepared: PreparedReport) -> None:
        """The report as Block Kit, then its chart uploaded into the same channel (files_upload_v2)."""
        response = await self._call(
            "chat_postMessage", channel=self.channel, text=_clip(prepared.title, TEXT_MAX), blocks=prepared.blocks
        )
        await self._call(
            "files_upload_v2",
            channel=response["channel"],
            file=prepared.chart_png,
            filename=f"{prepared.name}.png",
            title=prepared.title,
            alt_txt=prepared.title,
        )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self._client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else 0
            retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
            raise NotifyError(
                f"Slack {method.replace('_', '.')} failed: HTTP {status} {error}".strip(),
                notifier=self.name,
                retryable=error not in FATAL_ERRORS,
                retry_after=float(retry_after) if retry_after else None,
            ) from None
        except (TimeoutError, SlackClientError, aiohttp.ClientError, OSError) as exc:
            raise NotifyError(f"Slack unreachable: {type(exc).__name__}", notifier=self.name) from None
