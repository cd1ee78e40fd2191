"""Delayed calls on a clock the test moves: what an asyncio loop's ``time``/``call_later`` give, by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Pending:
    """One delayed call: due at ``when`` unless cancelled."""

    when: float
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class ManualTimers:
    """``time()`` and ``call_later()`` on seconds that pass only through ``advance``."""

    now: float = 0.0
    calls: list[Pending] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> Pending:
        pending = Pending(self.now + delay, callback)
        self.calls.append(pending)
        return pending

    @property
    def waiting(self) -> list[float]:
        """When each call still to come is due, in order."""
        return sorted(p.when for p in self.calls if not p.cancelled)

    def advance(self, seconds: float) -> None:
        """Move the clock, running each call that falls due on the way (a call may add more)."""
        end = self.now + seconds
        while due := sorted((p for p in self.calls if not p.cancelled and p.when <= end), key=lambda p: p.when):
            first = due[0]
            self.calls.remove(first)
            self.now = first.when
            first.callback()
        self.now = end
