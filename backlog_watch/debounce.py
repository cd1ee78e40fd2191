"""Evaluation on change, debounced: polls that finish together cause one evaluation, not one each.

A request starts a run. The run waits while other polls are still running, at most ``window``
seconds from the request, so ten helpdesks finishing in the same second are evaluated once, on all
their data. Runs are also a gap apart, so helpdesks whose changes trickle in one after another cost
one evaluation per gap, not one each: one starts no sooner than ``window`` after the previous one
ended, or as long as the previous one took if that is longer (at most ``max_gap``). An evaluator of
a thousand helpdesks whose polls keep changing something is then busy at most about half of the
time, not all of it, and a change still waits little: at most the evaluation in flight, the gap
(``max_gap`` at most) and its own evaluation; with evaluations of a second or two, a hook's change
reaches Slack within its 5 s. A lone request after a quiet spell starts at once (a hook's change
pays no latency). Every request made before the run starts shares it; one made after starts the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_WINDOW = 1.0
"""Seconds a run waits at most for the polls still running, and the least time between two runs."""
MAX_GAP = 3.0
"""Seconds between two runs at most, however long the last one took: what a change may wait on top of
the evaluations (the one in flight, its own)."""


class Debouncer(Generic[T]):
    """Coalesces requests for ``action`` while ``busy()`` holds, for up to ``window`` seconds."""

    def __init__(
        self,
        action: Callable[[], Awaitable[T]],
        busy: Callable[[], bool],
        window: float = DEFAULT_WINDOW,
        max_gap: float = MAX_GAP,
    ) -> None:
        self._action = action
        self._busy = busy
        self.window = window
        self.max_gap = max(window, max_gap)
        self.gap = window
        """Seconds the next run waits after the previous one ended: ``window``, or as long as the previous
        run took, up to ``max_gap``."""
        self._changed = asyncio.Event()
        self._waiting: asyncio.Task[T] | None = None
        self._next_tick = float("-inf")
        """Loop time before which no run starts (``gap`` after the previous run ended)."""
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
            if self._next_tick > loop.time():  # the gap after the previous run (then no more waiting for polls)
                await asyncio.sleep(self._next_tick - loop.time())
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
        started = loop.time()
        try:
            return await self._action()
        finally:
            ended = loop.time()
            self.gap = min(max(self.window, ended - started), self.max_gap)
            self._next_tick = ended + self.gap

    def cancel(self) -> None:
        """Drop a run still waiting (shutdown); one already evaluating is left to finish."""
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
