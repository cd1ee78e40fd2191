"""``POST /slack/events``: the Slack app over HTTP, for teams that publish their app (Request URL).

Every request is verified before anything is read from it: slack-sdk's ``SignatureVerifier`` (the
timestamp within 5 minutes, the HMAC compared in constant time), and a signature seen before within that
window is a replay, refused too. A refused request gets 401 and leaves nothing behind: no action, no
store write, no log line with its body. Interactivity and events are acknowledged at once (Slack waits
3 seconds) and acted on after; a slash command's answer is the response itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_sdk.signature import Clock, SignatureVerifier

from backlog_watch.chatops.slack import SlackApp

log = logging.getLogger(__name__)

WINDOW = 5 * 60
"""Seconds a request's timestamp may be off (Slack's own advice, and what SignatureVerifier checks)."""


class _SecondsClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackEvents:
    """The endpoint's handler; ``pending`` holds the actions still running after their ack."""

    def __init__(self, app: SlackApp, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self._verifier = SignatureVerifier(signing_secret, clock=_SecondsClock(clock))
        self._clock = clock
        self._seen: dict[str, float] = {}
        self.pending: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return "SlackEvents()"

    def _verified(self, body: bytes, request: web.Request) -> bool:
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            valid = self._verifier.is_valid_request(body, dict(request.headers))
        except ValueError:  # a timestamp that is not a number
            return False
        if not valid:
            return False
        now = self._clock()
        self._seen = {s: at for s, at in self._seen.items() if now - at <= WINDOW}
        if signature in self._seen:
            return False
        self._seen[signature] = now
        return True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not self._verified(body, request):
            return web.json_response({"ok": False, "error": "invalid_signature"}, status=401)
        try:
            kind, payload = _parse(body, request.content_type)
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if kind == "url_verification":
            return web.json_response({"challenge": payload.get("challenge", "")})
        if kind == "slash_commands":
            return web.json_response(self.app.command(payload))
        work = self.app.interactive(payload) if kind == "interactive" else self.app.event(payload)
        task = asyncio.ensure_future(work)
        self.pending.add(task)
        task.add_done_callback(self._done)
        return web.Response(status=200)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack action failed: %s", task.exception())

    async def close(self) -> None:
        """Let the actions in flight finish (each is short: a store write, a Slack call, a helpdesk call)."""
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)


def _parse(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """(interactive | slash_commands | events_api | url_verification, payload) of a verified body."""
    if content_type == "application/json":
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        return ("url_verification" if payload.get("type") == "url_verification" else "events_api"), payload
    form = dict(parse_qsl(body.decode(), keep_blank_values=True))
    if "payload" in form:
        payload = json.loads(form["payload"])
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        return "interactive", payload
    if "command" in form:
        return "slash_commands", form
    raise ValueError("neither an interaction, a command nor an event")
