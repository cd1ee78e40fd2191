"""SlackStandIn: a local Slack Web API and incoming webhook, for the real slack-sdk client.

Point ``AsyncWebClient(token=..., base_url=standin.api_url)`` at it. It checks the bearer token
(``not_authed`` / ``invalid_auth`` with HTTP 200, as Slack does), Block Kit limits (``invalid_blocks``),
channels and threads; keeps the messages (``messages(channel)``: parents with their replies, after
edits) and every call (``calls``). Methods: ``api.test``, ``auth.test``, ``chat.postMessage``,
``chat.update``, ``conversations.info``, ``conversations.history``, ``conversations.replies``, and file uploads
as slack-sdk's ``files_upload_v2`` makes them (``files.getUploadURLExternal``, a POST of the bytes to the
returned upload URL, ``files.completeUploadExternal`` sharing them in a channel: ``uploads``); the
webhook answers ``POST /services/T000/B000/XXXX`` with ``ok``. Faults: ``fail_next``, ``rate_limit_next``
(429, ``Retry-After``, ``{"ok": false, "error": "ratelimited"}``).

Interactive (interactive.py): Socket Mode through ``apps.connections.open`` with the app-level token
(``app_token``; a bot token there is ``not_allowed_token_type``), ``users.info``, ``chat.postEphemeral``,
``views.publish``, response URLs, and the payloads of clicks, slash commands and App Home openings.
People (people.py): ``POST /_standin/click`` and ``/_standin/command`` click and type as a person would,
without Python; ``GET /_standin/answers`` shows what they were told privately.

Stricter than Slack on purpose: a ``thread_ts`` that names no message is ``thread_not_found``, so a lost
parent ts shows in tests.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Mapping

from aiohttp import web

from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.server import Fault, FaultQueue, LoopbackServer, header_seconds
from backlog_watch.sim.slack.interactive import Envelope, SlackInteractive, SlackUser, signed_request
from backlog_watch.sim.slack.people import people_routes
from backlog_watch.sim.slack.web_api import (
    Answer,
    Params,
    SlackCall,
    SlackFailure,
    SlackMessage,
    SlackUpload,
    SlackWebApi,
)

__all__ = [
    "Envelope",
    "SlackCall",
    "SlackFailure",
    "SlackMessage",
    "SlackStandIn",
    "SlackUpload",
    "SlackUser",
    "signed_request",
]


class SlackStandIn(LoopbackServer, SlackWebApi, SlackInteractive):
    """A Slack workspace with one bot token. ``channels`` (name -> id) restricts the channels; by default
    any channel name is accepted and given an id on first use."""

    def __init__(
        self,
        *,
        token: str = "xoxb-standin-token",
        app_token: str = "xapp-1-standin-token",
        team_id: str = "T000",
        team: str = "Acme",
        channels: Mapping[str, str] | None = None,
        webhook_path: str = "/services/T000/B000/XXXX",
        webhook_channel: str = "C0WEBHOOK",
        clock: SimClock | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.app_token = app_token
        self._init_interactive()
        self.team_id = team_id
        self.team = team
        self.bot_user_id, self.bot_id, self.app_id = "U0BACKLOG", "B0BACKLOG", "A0BACKLOG"
        self.webhook_path = webhook_path
        self.webhook_channel = webhook_channel
        self.clock = clock
        self.strict_channels = channels is not None
        self._names: dict[str, str] = {"webhook": webhook_channel}  # name -> id
        self._names.update({name.lstrip("#"): cid for name, cid in (channels or {}).items()})
        self._threads: dict[str, list[SlackMessage]] = {cid: [] for cid in self._names.values()}
        self._last_ts = 0
        self.calls: list[SlackCall] = []
        self.uploads: dict[str, SlackUpload] = {}
        self.faults = FaultQueue()
        self._hang_passes: int | None = None
        self._hang_release = asyncio.Event()
        self.hang_started = asyncio.Event()
        """Set when a chat.* call is first left unanswered by ``hang_after``."""
        self._methods: dict[str, Callable[[Params], Answer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.info": self._conversation_info,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "users.info": self._users_info,
            "chat.postEphemeral": self._post_ephemeral,
            "views.publish": self._views_publish,
        }

    def __repr__(self) -> str:
        return f"SlackStandIn(url={self.url!r}, calls={len(self.calls)})"

    @property
    def api_url(self) -> str:
        """The ``base_url`` for slack-sdk (ends with ``/api/``)."""
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.webhook_path}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post(self.webhook_path, self._webhook)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/link/", self._link)
        app.on_shutdown.append(self._close_socket)
        app.router.add_post("/actions/{response_id}", self._respond)
        app.router.add_routes(people_routes(self))
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # ---- what tests read -------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self.faults.fail_next(n, status)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        self.faults.rate_limit_next(n, retry_after)

    def hang_after(self, n: int = 0) -> None:
        """Answer the next ``n`` chat.* calls, then leave the later ones unanswered until ``release``:
        Slack unreachable mid-request, so a client killed meanwhile never hears back (nor is it posted)."""
        self._hang_passes = n
        if self._hang_release.is_set():  # calls still hanging from before keep waiting for release()
            self._hang_release = asyncio.Event()
        self.hang_started = asyncio.Event()

    def release(self) -> None:
        """End the hang: the calls left waiting are answered 503, later ones normally."""
        self._hang_passes = None
        self._hang_release.set()

    async def _hung(self, method: str) -> bool:
        if self._hang_passes is None or not method.startswith("chat."):
            return False
        if self._hang_passes > 0:
            self._hang_passes -= 1
            return False
        self.hang_started.set()
        await self._hang_release.wait()
        return True

    def messages(self, channel: str) -> list[SlackMessage]:
        """The parent messages of a channel (name or id), oldest first, each with its replies (copies)."""
        return copy.deepcopy(self._threads.get(self._names.get(channel.lstrip("#"), channel), []))

    @property
    def channel_ids(self) -> list[str]:
        return list(self._threads)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    # ---- HTTP -------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            params = await _params(request)
        except ValueError:
            self.calls.append(SlackCall(method, {}, dict(request.headers)))
            return web.json_response({"ok": False, "error": "invalid_json"})
        self.calls.append(SlackCall(method, params, dict(request.headers)))
        if await self._hung(method):
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        fault = self.faults.take()
        if fault is not None:
            return _fault(fault, json_body=True)
        if method == "api.test":
            return web.json_response({"ok": True, "args": params})
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else None
        token = token or params.get("token")
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":  # the app-level token only
            if token == self.token:
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            if token != self.app_token:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response(self._connections_open(params))
        if token != self.token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = self._methods.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method", "req_method": method}, status=404)
        try:
            return web.json_response(handler(params))
        except SlackFailure as failure:
            return web.json_response({"ok": False, "error": failure.error, **failure.extra})

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        try:
            params = await _params(request)
            if isinstance(params.get("payload"), str):
                params = json.loads(params["payload"])
        except ValueError:
            self.calls.append(SlackCall("webhook", {}, dict(request.headers)))
            return web.Response(status=400, text="invalid_payload")
        self.calls.append(SlackCall("webhook", params, dict(request.headers)))
        fault = self.faults.take()
        if fault is not None:
            return _fault(fault, json_body=False)
        try:
            self._post_message({**params, "channel": self.webhook_channel})
        except SlackFailure as failure:
            status = 404 if failure.error == "channel_not_found" else 400
            return web.Response(status=status, text=failure.error)
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """The upload URL: the file's bytes, raw or as a multipart form (Slack takes both)."""
        upload = self.uploads.get(request.match_info["file_id"])
        self.calls.append(SlackCall("upload", {"file_id": request.match_info["file_id"]}, dict(request.headers)))
        if upload is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            item = next(iter(form.values()), None)
            data = item.file.read() if isinstance(item, web.FileField) else str(item or "").encode()
        else:
            data = await request.read()
        upload.data = data
        return web.Response(text=f"OK - {len(data)}")

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/services/"):
            return web.Response(status=404, text="no_service")
        return web.Response(status=404, text="Not Found")


async def _params(request: web.Request) -> Params:
    """Query parameters and the body, JSON or form-encoded (raises ValueError on broken JSON)."""
    params: Params = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the JSON body is not an object")
        params.update(body)
    else:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _fault(fault: Fault, *, json_body: bool) -> web.StreamResponse:
    error = "ratelimited" if fault.status == 429 else "fatal_error"
    response = (
        web.json_response({"ok": False, "error": error}, status=fault.status)
        if json_body
        else web.Response(status=fault.status, text=error)
    )
    if fault.status == 429:
        response.headers["Retry-After"] = header_seconds(fault.retry_after or 0)
    return response
