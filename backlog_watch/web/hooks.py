"""Push to poll: ``POST /hooks/{helpdesk}`` makes that helpdesk poll now.

A Zendesk webhook, a Freshdesk automation or a Jira webhook calls it when a ticket changes, so an
alert comes within seconds instead of one poll interval. Bursts coalesce: while a poll runs, any
number of hooks add at most one more poll after it (which sees everything they announced). The
scheduled polls go on regardless. The caller proves itself with a shared secret in a header
(``X-Backlog-Watch-Token: <secret>`` or ``Authorization: Bearer <secret>``), compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Backlog-Watch-Token"


class PollTrigger:
    """Runs ``poll(name)`` on demand: one at a time per helpdesk, a burst becoming at most one more."""

    def __init__(self, poll: Callable[[str], Awaitable[object]], wait_idle: Callable[[str], Awaitable[None]]) -> None:
        self._poll = poll
        self._wait_idle = wait_idle
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.polls_started = 0

    def trigger(self, name: str) -> bool:
        """Ask for a poll of ``name``; True when it starts now, False when it was folded into a queued one."""
        task = self._running.get(name)
        if task is not None and not task.done():
            self._again.add(name)
            return False
        self._running[name] = asyncio.create_task(self._run(name), name=f"hook-poll:{name}")
        return True

    async def _run(self, name: str) -> None:
        while True:
            self._again.discard(name)
            await self._wait_idle(name)  # a scheduled poll in flight may predate the change: poll after it
            self.polls_started += 1
            await self._poll(name)
            if name not in self._again:
                return

    async def settled(self, name: str) -> None:
        """Return once the hook polls of ``name`` asked for so far have run (what they raised, raises)."""
        task = self._running.get(name)
        if task is not None:
            await task

    async def close(self) -> None:
        tasks = [t for t in self._running.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def authorized(request: web.Request, secret: SecretStr) -> bool:
    given = request.headers.get(TOKEN_HEADER, "")
    auth = request.headers.get("Authorization", "")
    if not given and auth.startswith("Bearer "):
        given = auth.removeprefix("Bearer ").strip()
    return bool(given) and hmac.compare_digest(given.encode(), secret.get_secret_value().encode())


def hook_handler(
    secret: SecretStr | None,
    helpdesks: Callable[[], set[str]],
    trigger: Callable[[str], bool],
    on_hook: Callable[[str], None] | None = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def hook(request: web.Request) -> web.Response:
        name = request.match_info["helpdesk"]
        if secret is None:
            return web.json_response({"error": "hooks are disabled (set http.hook_secret)"}, status=404)
        if not authorized(request, secret):
            log.warning("hook refused: missing or wrong secret", extra={"helpdesk": name})
            return web.json_response({"error": "unauthorized"}, status=401)
        if name not in helpdesks():
            return web.json_response({"error": f'no helpdesk named "{name}"'}, status=404)
        await request.read()  # the payload says what changed; the poll reads the truth from the API
        started = trigger(name)
        if on_hook is not None:
            on_hook(name)
        log.info("hook: poll %s", "started" if started else "queued", extra={"helpdesk": name})
        return web.json_response({"helpdesk": name, "poll": "started" if started else "queued"}, status=202)

    return hook
