"""A Slack incoming webhook: for teams that only have one. One channel, no threads, no edits.

Every notification is a message of its own, built with the same Block Kit as the bot's parent
message (the context line says why: firing, still firing, resolved). Quiet hours end in one digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import SecretStr, field_validator
from slack_sdk.errors import SlackClientError
from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock
from slack_sdk.webhook.async_client import AsyncWebhookClient

from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import NotifierSettings, https_or_loopback
from backlog_watch.delivery.notifiers.slack import (
    HEADER_MAX,
    SECTION_MAX,
    TEXT_MAX,
    ChannelPacer,
    _clip,
    _escape,
    build_blocks,
)
from backlog_watch.errors import NotifyError

MAX_BLOCKS = 50


def digest_blocks(notifications: Sequence[Notification], tz: ZoneInfo = render.UTC_ZONE) -> list[Block]:
    """Several alerts in one message: a header, one section per alert (title, reason, summary)."""
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(text=_clip(f"backlog-watch: {len(notifications)} alert update(s)", HEADER_MAX))
        )
    ]
    shown = notifications[: MAX_BLOCKS - 2]
    for n in shown:
        line = f"*{_escape(render.title(n))}*\n{_escape(render.reason_text(n, tz))}. {_escape(render.text(n))}"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(line, SECTION_MAX))))
    if len(notifications) > len(shown):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"…and {len(notifications) - len(shown)} more")]))
    return blocks


class WebhookSettings(NotifierSettings):
    """A Slack incoming webhook: one channel, no threads. The URL is the credential."""

    type: Literal["slack_webhook"] = "slack_webhook"
    url: SecretStr

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        if not https_or_loopback(value.get_secret_value()):
            raise ValueError("must be an https:// URL (http:// only for loopback hosts)")
        return value


class SlackWebhookNotifier:
    """Posts to one incoming-webhook URL (the URL is the credential: never logged)."""

    Settings: ClassVar[type[WebhookSettings]] = WebhookSettings

    def __init__(
        self,
        name: str,
        *,
        url: SecretStr,
        pacer: ChannelPacer | None = None,
        tz: ZoneInfo = render.UTC_ZONE,
    ) -> None:
        self.name = name
        self.tz = tz
        self._client = AsyncWebhookClient(
            url=url.get_secret_value(),
            retry_handlers=[],  # the outbox is the only retrier: it reschedules, honouring Retry-After
        )
        self.pacer = pacer or ChannelPacer()

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo = render.UTC_ZONE) -> SlackWebhookNotifier:
        return cls(settings.name, url=settings.url, tz=tz)

    def __repr__(self) -> str:
        return f"SlackWebhookNotifier(name={self.name!r})"

    async def send(self, notification: Notification) -> Delivery:
        await self._post(_clip(render.title(notification), TEXT_MAX), build_blocks(notification, self.tz))
        return Delivery()

    async def send_digest(self, notifications: Sequence[Notification]) -> None:
        titles = "; ".join(render.title(n) for n in notifications)
        await self._post(_clip(titles, TEXT_MAX), digest_blocks(notifications, self.tz))

    async def _post(self, text: str, blocks: list[Block]) -> None:
        await self.pacer.wait("webhook")
        try:
            response = await self._client.send(text=text, blocks=[b.to_dict() for b in blocks])
        except (TimeoutError, SlackClientError, aiohttp.ClientError, OSError) as exc:
            raise NotifyError(f"Slack webhook unreachable: {type(exc).__name__}", notifier=self.name) from None
        if response.status_code != 200:
            retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
            raise NotifyError(
                f"Slack webhook answered HTTP {response.status_code} {_clip(str(response.body), 100)}".strip(),
                notifier=self.name,
                retryable=response.status_code == 429 or response.status_code >= 500,
                retry_after=float(retry_after[0] if isinstance(retry_after, list) else retry_after)
                if retry_after
                else None,
            )
