"""SimClock: the time a simulator lives in, manual for tests or following real time for demos."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: a SimClock only holds aware UTC times")
    return moment.astimezone(UTC)


def _delta(amount: timedelta | float) -> timedelta:
    return amount if isinstance(amount, timedelta) else timedelta(seconds=amount)


class SimClock:
    """A timezone-aware UTC clock.

    Manual by default: it stands still at ``start`` until ``advance`` or ``set`` moves it. With
    ``speed`` it follows real (monotonic) time multiplied by ``speed`` from ``start``; ``advance`` and
    ``set`` still shift it. ``start`` defaults to the current time, to the second.
    """

    def __init__(self, start: datetime | None = None, *, speed: float | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.start = _utc(start) if start is not None else datetime.now(UTC).replace(microsecond=0)
        self.speed = speed
        self._real_start = time.monotonic()
        self._offset = timedelta(0)

    def __repr__(self) -> str:
        mode = f"speed={self.speed:g}" if self.speed else "manual"
        return f"SimClock({self.now().isoformat()}, {mode})"

    @property
    def manual(self) -> bool:
        return self.speed is None

    def _flowing(self) -> datetime:
        if self.speed is None:
            return self.start
        return self.start + timedelta(seconds=(time.monotonic() - self._real_start) * self.speed)

    def now(self) -> datetime:
        """The simulated time, aware UTC."""
        return self._flowing() + self._offset

    def timestamp(self) -> float:
        """The simulated time in Unix seconds."""
        return self.now().timestamp()

    def advance(self, amount: timedelta | float) -> datetime:
        """Move the clock forward by ``amount`` (a timedelta or seconds); returns the new time."""
        delta = _delta(amount)
        if delta < timedelta(0):
            raise ValueError(f"a clock only advances: {amount!r} is negative (use set())")
        self._offset += delta
        return self.now()

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware); with a speed, time keeps flowing from there."""
        self._offset = _utc(moment) - self._flowing()

    async def sleep(self, seconds: float) -> None:
        """A sleep on this clock: a manual clock advances at once, a flowing one waits seconds/speed."""
        if self.speed is None:
            self.advance(max(0.0, seconds))
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(max(0.0, seconds) / self.speed)
