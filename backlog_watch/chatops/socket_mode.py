"""Socket Mode, the default transport: no public URL, an app-level token (``xapp-...``).

slack-sdk's aiohttp ``SocketModeClient`` opens the WebSocket (apps.connections.open), reconnects when
Slack says ``disconnect``, and hands each envelope here. Every envelope is acknowledged at once, as
Slack wants within 3 seconds; a slash command's answer rides on its ack, a click is then acted on.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import SecretStr
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from backlog_watch.chatops.slack import SlackApp

log = logging.getLogger(__name__)


class SocketModeTransport:
    """Connects the Slack app over Socket Mode in the background; ``stop`` closes it."""

    def __init__(self, app: SlackApp, app_token: SecretStr, web_client: AsyncWebClient) -> None:
        self.app = app
        self._client = SocketModeClient(
            app_token=app_token.get_secret_value(), web_client=web_client, auto_reconnect_enabled=True
        )
        self._client.socket_mode_request_listeners.append(self._on_request)
        self._connecting: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return "SocketModeTransport()"

    async def start(self) -> None:
        """Ask for the WebSocket URL once (a refused app token raises here, said once), then connect in
        the background: slack-sdk retries an unreachable socket every few seconds, and the daemon must
        not wait for it."""
        self._client.wss_uri = await self._client.issue_new_wss_url()
        self._connecting = asyncio.ensure_future(self._client.connect())  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        await self._client.close()  # type: ignore[no-untyped-call]

    async def _on_request(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        if request.type == "slash_commands":
            answer = self.app.command(request.payload)
            await client.send_socket_mode_response(SocketModeResponse(request.envelope_id, payload=answer))
            return
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))
        if request.type == "interactive":
            await self.app.interactive(request.payload)
        elif request.type == "events_api":
            await self.app.event(request.payload)
