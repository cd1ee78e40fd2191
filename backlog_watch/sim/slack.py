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

Stricter than Slack on purpose: a ``thread_ts`` that names no message is ``thread_not_found``, so a lost
parent ts shows in tests.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.server import Fault, FaultQueue, LoopbackServer, header_seconds
from backlog_watch.sim.slack_blocks import MESSAGE_TEXT_MAX, block_errors

Params = dict[str, Any]
Answer = dict[str, Any]


class SlackFailure(Exception):
    """A Slack method's refusal: ``{"ok": false, "error": error, ...extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        self.error = error
        self.extra = extra
        super().__init__(error)


@dataclass(frozen=True)
class SlackCall:
    """One call received: the method (``webhook`` for the incoming webhook), its parameters, its headers."""

    method: str
    params: Params
    headers: dict[str, str]


@dataclass
class SlackUpload:
    """A file announced by files.getUploadURLExternal; ``data`` once its bytes were posted."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None


@dataclass
class SlackMessage:
    """A message as the channel shows it now; ``edits`` keeps the earlier (text, blocks), oldest first."""

    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    replies: list[SlackMessage] = field(default_factory=list)
    edits: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Ids of the files shared with this message (``SlackStandIn.uploads`` has their bytes)."""

    @property
    def edited(self) -> bool:
        return bool(self.edits)


class SlackStandIn(LoopbackServer):
    """A Slack workspace with one bot token. ``channels`` (name -> id) restricts the channels; by default
    any channel name is accepted and given an id on first use."""

    def __init__(
        self,
        *,
        token: str = "xoxb-standin-token",
        team_id: str = "T000",
        team: str = "Acme",
        channels: Mapping[str, str] | None = None,
        webhook_path: str = "/services/T000/B000/XXXX",
        webhook_channel: str = "C0WEBHOOK",
        clock: SimClock | None = None,
    ) -> None:
        super().__init__()
        self.token = token
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

    # ---- methods ----------------------------------------------------------------------------------

    def _auth_test(self, params: Params) -> Answer:
        return {
            "ok": True,
            "url": f"https://{self.team.lower()}.slack.com/",
            "team": self.team,
            "user": "backlog-watch",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _channel(self, value: Any, *, create: bool) -> str:
        """The channel id for a name (``#alerts``, ``alerts``) or an id."""
        if not isinstance(value, str) or not value.strip():
            raise SlackFailure("channel_not_found")
        name = value.strip().lstrip("#")
        if name in self._names:
            return self._names[name]
        if name in self._threads:
            return name
        if self.strict_channels or not create:
            raise SlackFailure("channel_not_found")
        looks_like_id = name[:1] in "CGD" and name.isalnum() and name.isupper()
        channel_id = name if looks_like_id else f"C{len(self._threads) + 1:08d}"
        self._names[name] = channel_id
        self._threads[channel_id] = []
        return channel_id

    def _next_ts(self) -> str:
        now = self.clock.now() if self.clock else datetime.now(UTC)
        micros = max(int(now.timestamp() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _content(self, params: Params, *, required: bool) -> tuple[str | None, list[dict[str, Any]] | None]:
        """(text, blocks) of a post or an update, checked against Slack's limits."""
        text, blocks = params.get("text"), params.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise SlackFailure("invalid_blocks_format") from None
        if blocks is not None:
            errors = block_errors(blocks)
            if errors:
                raise SlackFailure(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
        if text is not None and not isinstance(text, str):
            text = str(text)
        if required and not text and not blocks and not params.get("attachments") and not params.get("_files"):
            raise SlackFailure("no_text")
        if text is not None and len(text) > MESSAGE_TEXT_MAX:
            raise SlackFailure("msg_too_long")
        return text, blocks

    def _find(self, channel_id: str, ts: Any) -> SlackMessage | None:
        for parent in self._threads.get(channel_id, []):
            if parent.ts == ts:
                return parent
            for reply in parent.replies:
                if reply.ts == ts:
                    return reply
        return None

    def _post_message(self, params: Params) -> Answer:
        channel_id = self._channel(params.get("channel"), create=True)
        text, blocks = self._content(params, required=True)
        thread_ts = params.get("thread_ts") or None
        parent = None
        if thread_ts is not None:
            parent = self._find(channel_id, str(thread_ts))
            if parent is None:
                raise SlackFailure("thread_not_found")
            if parent.thread_ts is not None:  # a reply's ts: Slack threads under the parent
                parent = self._find(channel_id, parent.thread_ts)
        assert parent is None or parent.thread_ts is None
        message = SlackMessage(
            channel_id, self._next_ts(), text or "", blocks or [], thread_ts=parent.ts if parent else None
        )
        if parent is not None:
            parent.replies.append(message)
        else:
            self._threads[channel_id].append(message)
        return {"ok": True, "channel": channel_id, "ts": message.ts, "message": self._json(message)}

    def _update(self, params: Params) -> Answer:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel not in self._threads:  # chat.update wants the id
            raise SlackFailure("channel_not_found")
        message = self._find(channel, params.get("ts"))
        if message is None:
            raise SlackFailure("message_not_found")
        text, blocks = self._content(params, required=True)
        message.edits.append((message.text, copy.deepcopy(message.blocks)))
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._json(message),
        }

    def _conversation_info(self, params: Params) -> Answer:
        channel_id = self._channel(params.get("channel"), create=False)
        name = next((n for n, cid in self._names.items() if cid == channel_id), channel_id)
        return {
            "ok": True,
            "channel": {
                "id": channel_id,
                "name": name,
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "is_member": True,
            },
        }

    def _history(self, params: Params) -> Answer:
        channel_id = self._channel(params.get("channel"), create=False)
        newest_first = [self._json(m) for m in reversed(self._threads[channel_id])]
        return {"ok": True, "messages": newest_first, "has_more": False}

    def _replies(self, params: Params) -> Answer:
        channel_id = self._channel(params.get("channel"), create=False)
        parent = self._find(channel_id, params.get("ts"))
        if parent is None or parent.thread_ts is not None:
            raise SlackFailure("thread_not_found")
        return {"ok": True, "messages": [self._json(m) for m in [parent, *parent.replies]], "has_more": False}

    def _upload_url(self, params: Params) -> Answer:
        filename, length = params.get("filename"), params.get("length")
        if not filename or not str(length or "").isdigit():
            raise SlackFailure("invalid_arguments")
        file_id = f"F{len(self.uploads) + 1:08d}"
        self.uploads[file_id] = SlackUpload(file_id, str(filename), int(str(length)))
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: Params) -> Answer:
        try:
            files = json.loads(params.get("files") or "[]") if isinstance(params.get("files"), str) else params["files"]
        except (ValueError, KeyError):
            raise SlackFailure("invalid_arguments") from None
        uploads = [self.uploads.get(str(f.get("id"))) for f in files if isinstance(f, dict)]
        if not uploads or any(u is None or u.data is None for u in uploads):
            raise SlackFailure("file_not_found")
        shared: list[SlackUpload] = [u for u in uploads if u is not None]
        for entry, upload in zip(files, shared, strict=False):
            upload.title = entry.get("title") or upload.filename
        channel = params.get("channel_id")
        if channel:
            posted = self._post_message(
                {"channel": channel, "thread_ts": params.get("thread_ts"), "text": params.get("initial_comment") or ""}
                | {"_files": True}
            )
            message = self._find(posted["channel"], posted["ts"])
            assert message is not None
            message.files = [u.file_id for u in shared]
            for upload in shared:
                upload.channel = posted["channel"]
        return {
            "ok": True,
            "files": [
                {"id": u.file_id, "name": u.filename, "title": u.title, "size": len(u.data or b"")} for u in shared
            ],
        }

    def _json(self, message: SlackMessage) -> Answer:
        body: Answer = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": message.ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": message.text,
            "team": self.team_id,
        }
        if message.blocks:
            body["blocks"] = message.blocks
        if message.thread_ts:
            body |= {"thread_ts": message.thread_ts, "parent_user_id": self.bot_user_id}
        elif message.replies:
            body |= {
                "thread_ts": message.ts,
                "reply_count": len(message.replies),
                "latest_reply": message.replies[-1].ts,
            }
        if message.edits:
            body["edited"] = {"user": self.bot_user_id, "ts": message.ts}
        return body


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
