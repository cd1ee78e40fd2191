"""The Slack Web API methods SlackStandIn answers, and what it records: messages, threads, uploads, calls.

``SlackWebApi`` holds the workspace (channels, threads, uploads) and one handler per method, each taking
the call's parameters and returning Slack's JSON answer or raising ``SlackFailure``; ``standin.py`` serves
them over HTTP with the stand-in's faults, hangs and inspection helpers.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.slack.blocks import MESSAGE_TEXT_MAX, block_errors

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


class SlackWebApi:
    """The workspace and its Web API methods; the state is set up by SlackStandIn.__init__."""

    url: str
    token: str
    team_id: str
    team: str
    bot_user_id: str
    bot_id: str
    app_id: str
    clock: SimClock | None
    strict_channels: bool
    uploads: dict[str, SlackUpload]
    _names: dict[str, str]
    _threads: dict[str, list[SlackMessage]]
    _last_ts: int

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
