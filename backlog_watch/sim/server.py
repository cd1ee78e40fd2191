"""LoopbackServer: run a simulator's aiohttp app on a (by default ephemeral, loopback) port.

Also the pieces every simulator shares: a queue of injected faults and a fixed-window rate limit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple, Self

from aiohttp import web


class LoopbackServer:
    """Base of the simulators: ``start()`` binds ``build_app()`` and sets ``url``; ``stop()`` frees it."""

    def __init__(self) -> None:
        self.url = ""
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (port 0: any free port) and return the bound URL, e.g. http://127.0.0.1:8123."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already serving at {self.url}")
        # A stand-in stops at once: aiohttp's graceful stop would wait up to 60 s for requests in flight
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """Close the listening socket and open connections; a stopped server may be started again."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class SimRequest(NamedTuple):
    """One request a simulator received: method, path and query parameters."""

    method: str
    path: str
    query: dict[str, str]


@dataclass(frozen=True)
class Fault:
    """One injected failure: an HTTP status, and for a 429 the Retry-After seconds."""

    status: int
    retry_after: float | None = None


class FaultQueue:
    """Failures to answer the next requests with, in the order they were asked for."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` (a 5xx by default)."""
        self._queue.extend(Fault(status) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After: retry_after``."""
        self._queue.extend(Fault(429, retry_after) for _ in range(n))

    def take(self) -> Fault | None:
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        self._queue.clear()


def header_seconds(seconds: float) -> str:
    """Seconds as an HTTP header value: whole seconds, rounded up."""
    return str(max(0, math.ceil(seconds)))


class RateWindow:
    """A fixed-window request quota: ``limit`` requests per ``seconds``, on the clock ``now``."""

    def __init__(self, limit: int, seconds: float, now: Callable[[], float]) -> None:
        self.limit = limit
        self.seconds = seconds
        self._now = now
        self._start: float | None = None
        self.used = 0

    def _roll(self) -> float:
        now = self._now()
        if self._start is None or not self._start <= now < self._start + self.seconds:
            self._start, self.used = now, 0
        return now

    def try_acquire(self, cost: int = 1) -> bool:
        """Count one request (``cost`` units of quota); False, and nothing counted, when the window has
        fewer units left."""
        self._roll()
        if self.used + cost > self.limit:
            return False
        self.used += cost
        return True

    @property
    def remaining(self) -> int:
        self._roll()
        return max(0, self.limit - self.used)

    @property
    def reset_in(self) -> float:
        """Seconds until the window resets (the whole window when nothing was counted yet)."""
        now = self._roll()
        assert self._start is not None
        return self._start + self.seconds - now

    def reset(self) -> None:
        self._start, self.used = None, 0
