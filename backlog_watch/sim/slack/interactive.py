"""The interactive side of the Slack stand-in: Socket Mode, response URLs, and what people do.

Socket Mode as Slack runs it: ``apps.connections.open`` (app-level token) answers a WebSocket URL on
loopback; on connect the stand-in sends ``hello``, then envelopes (``interactive`` block_actions,
``slash_commands``, ``events_api``) and records each ack (``{"envelope_id": ...}``, with its payload
when the envelope accepts one); ``unacked`` lists the envelopes never acknowledged. The payload
builders (``click``, ``slash_command``, ``home_opened``) make the bodies Slack sends, for Socket Mode
or, signed with ``signed_request``, for an HTTP endpoint. A ``response_url`` points back here and
records what the app posts to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from backlog_watch.sim.slack.blocks import block_errors
from backlog_watch.sim.slack.web_api import Answer, Params, SlackFailure, SlackMessage


@dataclass(frozen=True)
class SlackUser:
    """A workspace member the stand-in knows (users.info answers with them)."""

    id: str
    name: str
    email: str
    real_name: str = ""


@dataclass
class Envelope:
    """One Socket Mode envelope sent to the app, and its ack once received."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    response: dict[str, Any] | None = None


def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's ``X-Slack-Signature``: v0= HMAC-SHA256 of ``v0:timestamp:body`` with the signing secret."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_request(
    kind: str, payload: dict[str, Any], signing_secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Slack POSTs to a Request URL: interactivity as a form with ``payload``, slash
    commands as form fields, events as JSON; signed with the app's signing secret."""
    if kind == "interactive":
        body = urlencode({"payload": json.dumps(payload)}).encode()
        content_type = "application/x-www-form-urlencoded"
    elif kind == "slash_commands":
        body = urlencode(payload).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body = json.dumps(payload).encode()
        content_type = "application/json"
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(signing_secret, stamp, body),
    }
    return body, headers


class SlackInteractive:
    """Mixed into SlackStandIn: its Socket Mode server, users, ephemeral messages and App Home views."""

    url: str
    token: str
    team_id: str
    team: str
    app_id: str
    app_token: str
    _threads: dict[str, list[SlackMessage]]
    _names: dict[str, str]

    def _init_interactive(self) -> None:
        self.users: dict[str, SlackUser] = {}
        self.envelopes: list[Envelope] = []
        self.ephemerals: list[Answer] = []
        """chat.postEphemeral calls: channel, user, text, blocks."""
        self.home_views: dict[str, dict[str, Any]] = {}
        """user id -> the App Home view published for them (views.publish)."""
        self.responses: list[dict[str, Any]] = []
        """What the app posted to response URLs."""
        self.connected = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._ids = itertools.count(1)

    # ---- Web API methods ----------------------------------------------------------------------------

    def _connections_open(self, params: Params) -> Answer:
        return {"ok": True, "url": f"{self.url.replace('http://', 'ws://')}/link/?ticket=t{next(self._ids)}"}

    def _users_info(self, params: Params) -> Answer:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            raise SlackFailure("user_not_found")
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "real_name": user.real_name or user.name,
                "is_bot": False,
                "profile": {"email": user.email, "display_name": user.name, "real_name": user.real_name or user.name},
            },
        }

    def _post_ephemeral(self, params: Params) -> Answer:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel not in self._threads:
            raise SlackFailure("channel_not_found")
        if str(params.get("user", "")) not in self.users:
            raise SlackFailure("user_not_in_channel")
        if not params.get("text") and not params.get("blocks"):
            raise SlackFailure("no_text")
        self.ephemerals.append({k: params.get(k) for k in ("channel", "user", "text", "blocks", "thread_ts")})
        return {"ok": True, "message_ts": f"{time.time():.6f}"}

    def _views_publish(self, params: Params) -> Answer:
        view = params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise SlackFailure("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") != "home" or not isinstance(view.get("blocks"), list):
            raise SlackFailure("invalid_arguments")
        errors = block_errors(view["blocks"])
        if errors:
            raise SlackFailure("invalid_blocks", errors=errors)
        user = str(params.get("user_id", ""))
        if user not in self.users:
            raise SlackFailure("user_not_found")
        self.home_views[user] = view
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", **view}}

    # ---- Socket Mode -------------------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket: hello, then envelopes; every message from the app is an ack."""
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "standin", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self.connected.set()
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                self._ack(json.loads(message.data))
        if self._socket is socket:
            self._socket = None
            self.connected.clear()
        return socket

    async def _close_socket(self, app: web.Application) -> None:
        """A stopping stand-in closes its socket (Slack's ``disconnect`` is not sent: the link just ends)."""
        if self._socket is not None:
            await self._socket.close()

    def _ack(self, body: dict[str, Any]) -> None:
        for envelope in self.envelopes:
            if envelope.envelope_id == body.get("envelope_id"):
                envelope.response = body.get("payload")
                envelope.acked.set()

    @property
    def unacked(self) -> list[Envelope]:
        return [e for e in self.envelopes if not e.acked.is_set()]

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> Envelope:
        """Send one envelope over the connected socket (``connected`` must be set)."""
        if self._socket is None:
            raise RuntimeError("no Socket Mode client is connected")
        envelope = Envelope(f"env-{next(self._ids):06d}", kind, payload, kind != "events_api")
        self.envelopes.append(envelope)
        body: dict[str, Any] = {
            "envelope_id": envelope.envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": envelope.accepts_response_payload,
        }
        if kind == "events_api":
            body |= {"retry_attempt": 0, "retry_reason": ""}
        await self._socket.send_json(body)
        return envelope

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        """A response_url: what the app posts there (ephemeral by default, as Slack has it)."""
        body = await request.json()
        self.responses.append({"response_id": request.match_info["response_id"], **body})
        return web.json_response({"ok": True})

    # ---- the payloads people's clicks and commands make ----------------------------------------------

    def _user(self, user_id: str) -> SlackUser:
        if user_id not in self.users:
            raise KeyError(f"no user {user_id} in the stand-in (add_user first)")
        return self.users[user_id]

    def add_user(self, user_id: str, name: str, email: str) -> SlackUser:
        self.users[user_id] = SlackUser(user_id, name, email)
        return self.users[user_id]

    def _response_url(self) -> str:
        return f"{self.url}/actions/R{next(self._ids):08d}"

    def click(self, message: SlackMessage, action_id: str, user_id: str, option: str | None = None) -> dict[str, Any]:
        """The ``block_actions`` payload of a click on a button (or a choice in a menu) of ``message``."""
        user = self._user(user_id)
        for block in message.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") != action_id:
                    continue
                action: dict[str, Any] = {
                    "type": element["type"],
                    "action_id": action_id,
                    "block_id": block.get("block_id", ""),
                    "action_ts": f"{time.time():.6f}",
                }
                if element["type"] == "button":
                    action |= {"text": element["text"], "value": element.get("value", "")}
                else:
                    chosen = next(o for o in element["options"] if o["value"] == option)
                    action["selected_option"] = chosen
                return {
                    "type": "block_actions",
                    "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": self.team_id},
                    "api_app_id": self.app_id,
                    "token": "verification-token-unused",
                    "container": {
                        "type": "message",
                        "message_ts": message.ts,
                        "channel_id": message.channel,
                        "is_ephemeral": False,
                    },
                    "trigger_id": f"{next(self._ids)}.trigger",
                    "team": {"id": self.team_id, "domain": self.team.lower()},
                    "channel": {"id": message.channel, "name": self._channel_name(message.channel)},
                    "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
                    "response_url": self._response_url(),
                    "actions": [action],
                }
        raise KeyError(f"message {message.ts} has no element {action_id}")

    def slash_command(self, user_id: str, channel: str, text: str = "", command: str = "/backlog") -> dict[str, Any]:
        """The fields of a slash command (form fields over HTTP, the payload in Socket Mode)."""
        user = self._user(user_id)
        return {
            "token": "verification-token-unused",
            "team_id": self.team_id,
            "team_domain": self.team.lower(),
            "channel_id": self._names.get(channel.lstrip("#"), channel),
            "channel_name": channel.lstrip("#"),
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "response_url": self._response_url(),
            "trigger_id": f"{next(self._ids)}.trigger",
        }

    def home_opened(self, user_id: str) -> dict[str, Any]:
        """The ``app_home_opened`` event callback of a user opening the app's Home tab."""
        user = self._user(user_id)
        return {
            "token": "verification-token-unused",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": {
                "type": "app_home_opened",
                "user": user.id,
                "channel": f"D{user.id[1:]}",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
        }

    def _channel_name(self, channel_id: str) -> str:
        return next((name for name, cid in self._names.items() if cid == channel_id), channel_id)
