"""Waiting for what another task, thread or process makes true: on a condition, never for a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_INTERVAL = 0.02
"""How often the condition is looked at; a wait lasts as long as the condition takes, not this."""


async def until(condition: Callable[[], object], *, timeout: float = 15, what: str | Callable[[], str] = "") -> None:
    """Return once ``condition()`` is true; fail after ``timeout`` seconds, saying ``what`` was awaited.

    ``what`` may be a callable, evaluated only on failure (e.g. the tail of a log).
    """
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(POLL_INTERVAL)
    except TimeoutError:
        said = what() if callable(what) else what
        raise AssertionError(f"timed out after {timeout}s waiting for {said or condition}") from None
