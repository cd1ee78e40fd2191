"""Hooks: ``POST /hooks/{helpdesk}`` reads the tickets it names, or makes that helpdesk poll now.

A Zendesk trigger, a Freshdesk automation or a Jira rule calls it when a ticket changes, so an alert
comes within seconds instead of one poll interval. A body naming tickets (``{"ticket_id": 123}``) has
them read directly where the connector can (``ReadsTickets``: Zendesk's ``show_many``), because a
poll would not see them yet: Zendesk's export hides the last minute. Otherwise the helpdesk polls now,
and where its change stream lags, once more when the change can show (one follow-up for a burst).
Bursts coalesce: while a poll (or a read) runs, any number of hooks add at most one more after it. The
scheduled polls go on regardless. The caller proves itself with a shared secret in a header
(``X-Backlog-Watch-Token: <secret>`` or ``Authorization: Bearer <secret>``), compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web
from pydantic import SecretStr

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Backlog-Watch-Token"
MAX_IDS = 100
"""Ticket ids one hook may name (Zendesk's ``show_many`` reads 100 at a time)."""


class BadHook(ValueError):
    """A hook body that cannot be read: answered 400 with this message, and nothing is done."""


def ticket_ids(body: bytes) -> tuple[str, ...]:
    """The ticket ids a hook body names, in order without repeats: ``{"ticket_id": 123}``,
    ``{"ticket": {"id": 123}}`` or ``{"ticket_ids": [123, 124]}`` (digits in quotes too, as a Zendesk
    placeholder written ``"{{ticket.id}}"`` gives). An empty body, or JSON with none of these keys (a
    Jira or Freshdesk payload), names none. Raises BadHook for anything else."""
    if not body.strip():
        return ()
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadHook('the body is not JSON: send {"ticket_id": 123}, or nothing') from None
    if not isinstance(payload, dict):
        raise BadHook('the body is not a JSON object: send {"ticket_id": 123}, or nothing')
    named: list[Any] = []
    if "ticket_id" in payload:
        named.append(payload["ticket_id"])
    ticket = payload.get("ticket")
    if isinstance(ticket, dict) and "id" in ticket:
        named.append(ticket["id"])
    if "ticket_ids" in payload:
        if not isinstance(payload["ticket_ids"], list):
            raise BadHook("ticket_ids is not a list of ticket ids")
        named.extend(payload["ticket_ids"])
    ids = tuple(dict.fromkeys(_ticket_id(value) for value in named))
    if len(ids) > MAX_IDS:
        raise BadHook(f"{len(ids)} ticket ids: a hook names at most {MAX_IDS}")
    return ids


def _ticket_id(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.isascii() and text.isdigit():
        text = int(text)
    if isinstance(text, bool) or not isinstance(text, int) or text <= 0:
        shown = json.dumps(value)
        raise BadHook(f"{shown if len(shown) <= 40 else shown[:37] + '...'} is not a ticket id (a positive integer)")
    return str(text)


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


class Cancellable(Protocol):
    """A delayed call that may be called off (asyncio's TimerHandle)."""

    def cancel(self) -> None: ...


class Timers(Protocol):
    """Time and delayed calls, as an asyncio loop gives them (a test gives its own clock)."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...


class Hooks:
    """What a hook does for each helpdesk: read the tickets it names where ``read`` can (``lags`` holds
    those helpdesks, with their change stream's lag), else poll now through ``trigger``, and for a
    lagging stream poll once more ``lag`` seconds after the hook. A read answering False (the helpdesk
    failed it) falls back to those polls."""

    def __init__(
        self,
        trigger: PollTrigger,
        read: Callable[[str, Sequence[str]], Awaitable[bool | None]],
        lags: Mapping[str, float],
        timers: Timers | None = None,
    ) -> None:
        self.trigger = trigger
        self._read = read
        self._lags = dict(lags)
        self._timers = timers
        self._wanted: dict[str, set[str]] = {}
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._follow_ups: dict[str, Cancellable] = {}
        self._unseen: dict[str, float] = {}
        """helpdesk -> when the last hook came that the follow-up poll due may be too early to see."""
        self.reads_started = 0
        self.follow_ups_started = 0

    def receive(self, name: str, ids: Sequence[str]) -> dict[str, Any]:
        """Act on a hook of ``name`` naming ``ids``; what was done, for the answer."""
        if ids and name in self._lags:
            started = self._read_soon(name, ids)
            return {"helpdesk": name, "tickets": list(ids), "read": "started" if started else "queued"}
        return self._poll(name)

    def _poll(self, name: str) -> dict[str, Any]:
        started = self.trigger.trigger(name)
        lag = self._lags.get(name, 0.0)
        if lag > 0:
            self._follow_up(name, lag)
        return {"helpdesk": name, "poll": "started" if started else "queued", "follow_up_seconds": lag or None}

    def _read_soon(self, name: str, ids: Sequence[str]) -> bool:
        self._wanted.setdefault(name, set()).update(ids)
        task = self._reading.get(name)
        if task is not None and not task.done():
            return False
        self._reading[name] = asyncio.create_task(self._run_reads(name), name=f"hook-read:{name}")
        return True

    async def _run_reads(self, name: str) -> None:
        while wanted := self._wanted.pop(name, None):
            self.reads_started += 1
            if await self._read(name, sorted(wanted, key=int)) is False:
                self._poll(name)  # the helpdesk refused the read: the polls must bring the change instead

    def _follow_up(self, name: str, lag: float) -> None:
        timers = self._timers or asyncio.get_running_loop()
        self._unseen[name] = timers.time()
        if name not in self._follow_ups:
            self._follow_ups[name] = timers.call_later(lag, lambda: self._fire(name, lag))

    def _fire(self, name: str, lag: float) -> None:
        timers = self._timers or asyncio.get_running_loop()
        del self._follow_ups[name]
        self.follow_ups_started += 1
        self.trigger.trigger(name)
        last = self._unseen.pop(name)
        late = last + lag - timers.time()
        if late > 0:  # a hook came after the one this poll answers: its change shows only later
            self._unseen[name] = last
            self._follow_ups[name] = timers.call_later(late, lambda: self._fire(name, lag))

    async def settled(self, name: str) -> None:
        """Return once the reads of ``name`` asked for so far have run (what they raised, raises)."""
        task = self._reading.get(name)
        if task is not None:
            await task

    async def close(self) -> None:
        for handle in self._follow_ups.values():
            handle.cancel()
        self._follow_ups.clear()
        tasks = [t for t in self._reading.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.trigger.close()


def authorized(request: web.Request, secret: SecretStr) -> bool:
    given = request.headers.get(TOKEN_HEADER, "")
    auth = request.headers.get("Authorization", "")
    if not given and auth.startswith("Bearer "):
        given = auth.removeprefix("Bearer ").strip()
    return bool(given) and hmac.compare_digest(given.encode(), secret.get_secret_value().encode())


def hook_handler(
    secret: SecretStr | None,
    helpdesks: Callable[[], set[str]],
    receive: Callable[[str, Sequence[str]], dict[str, Any]],
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
        try:
            ids = ticket_ids(await request.read())
        except BadHook as exc:
            log.warning("hook refused: %s", exc, extra={"helpdesk": name})
            return web.json_response({"error": str(exc)}, status=400)
        done = receive(name, ids)
        if on_hook is not None:
            on_hook(name)
        said = f"read {', '.join(ids)} {done['read']}" if "read" in done else f"poll {done['poll']}"
        log.info("hook: %s", said, extra={"helpdesk": name})
        return web.json_response(done, status=202)

    return hook
