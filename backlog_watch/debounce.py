"""Evaluation on change, debounced: polls that finish together cause one evaluation, not one each.

A finished poll requests an evaluation. The evaluation waits while other polls are still running, at
most ``window`` seconds, so ten helpdesks finishing in the same second are evaluated once, on all
their data; with no other poll running it starts at once (a lone poll pays no latency). Every request
made before the evaluation starts shares it; one made after starts the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_WINDOW = 1.0
"""Seconds an evaluation waits at most for the polls still running."""


class Debouncer(Generic[T]):
    """Coalesces requests for ``action`` while ``busy()`` holds, for up to ``window`` seconds."""

    def __init__(
        self, action: Callable[[], Awaitable[T]], busy: Callable[[], bool], window: float = DEFAULT_WINDOW
    ) -> None:
        self._action = action
        self._busy = busy
        self.window = window
        self._changed = asyncio.Event()
        self._waiting: asyncio.Task[T] | None = None
        self.runs = 0
        """How many times the action ran: what coalescing saves, for the tests and the curious."""

    def request(self) -> asyncio.Task[T]:
        """The run that will include this request: the one still waiting, or a new one."""
        self._changed.set()
        if self._waiting is None:
            self._waiting = asyncio.create_task(self._run(), name="debounced-evaluation")
        return self._waiting

    async def _run(self) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        try:
            while self._busy():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        finally:
            self._waiting = None  # from here on, a request may see data this run does not: it needs the next
        self.runs += 1
        return await self._action()

    def cancel(self) -> None:
        """Drop a run still waiting (shutdown); one already evaluating is left to finish."""
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
