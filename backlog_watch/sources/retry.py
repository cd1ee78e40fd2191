"""How an HTTP connector retries: which failures, how long to wait, when to give up.

A mixin of HttpConnector, apart from the request path so the policy reads in one sitting: 429 and
5xx/network errors only; a 429 waits what ``Retry-After`` says; other failures back off exponentially
with jitter; a request that keeps failing gives up within a share of the poll interval, so the next
poll is not skipped and helpdesk-down fires on time. Every retry is logged at INFO with its reason.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from backlog_watch.errors import HelpdeskError, RateLimited
from backlog_watch.sources.settings import HelpdeskSettings

log = logging.getLogger("backlog_watch.sources.http")
"""The request path's logger: a retry is part of the request it repeats (operators filter on this name)."""

Sleep = Callable[[float], Awaitable[None]]
"""How a connector waits (``asyncio.sleep``; tests inject one that advances a simulated clock)."""


def is_retryable(exc: BaseException) -> bool:
    """Whether a request that raised ``exc`` may be tried again (429, 5xx, network errors)."""
    return isinstance(exc, HelpdeskError) and exc.retryable


def seconds_until(value: str, *, now: datetime | None = None) -> float | None:
    """Read a wait from a header: delta seconds ("2", "1.5"), an HTTP-date or an ISO-8601 time.

    Returns None when the value is neither; a time already past gives 0.
    """
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    when: datetime | None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryPolicy:
    """The tenacity policy of HttpConnector; class attributes tune it per vendor."""

    settings: HelpdeskSettings
    retries: int

    # Retries: 429 and 5xx/network errors only; the budget bounds a poll that keeps failing.
    max_attempts: ClassVar[int] = 6
    retry_budget: ClassVar[float] = 300.0
    """Seconds a request may spend across its attempts and waits before it gives up (for 5xx and
    network errors at most ``poll_share`` of the poll interval: see ``request_budget``)."""
    poll_share: ClassVar[float] = 0.5
    """A failing poll gives up within this share of its interval, so the next poll is not skipped and
    helpdesk-down can fire on time."""
    backoff_initial: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 60.0
    backoff_jitter: ClassVar[float] = 1.0
    retry_after_jitter: ClassVar[float] = 0.0
    """Extra random seconds added to a Retry-After wait (0: wait exactly what the server asked)."""
    default_retry_after: ClassVar[float] = 60.0

    @property
    def helpdesk(self) -> str:
        return self.settings.name

    def retrying(self, sleep: Sleep) -> AsyncRetrying:
        """A tenacity loop for one request, sleeping with ``sleep`` (injected in tests)."""
        return AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=self._should_stop,
            wait=self._wait,
            sleep=sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            return exc.retry_after + random.uniform(0, self.retry_after_jitter)
        exponent = max(0, state.attempt_number - 1)
        backoff = min(self.backoff_max, self.backoff_initial * 2.0**exponent)
        return backoff + random.uniform(0, self.backoff_jitter)

    def _should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        # Waits count even when the sleep is injected, so the budget holds in tests as in production.
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        exc = state.outcome.exception() if state.outcome else None
        # A 429 asked us to wait and will pass; an outage might not, so it must not outlast the poll.
        budget = self.retry_budget if isinstance(exc, RateLimited) else self.request_budget
        return spent + state.upcoming_sleep > budget

    @property
    def request_budget(self) -> float:
        """Seconds a request failing with 5xx or network errors may retry: shorter than the poll interval."""
        return min(self.retry_budget, self.poll_share * self.settings.poll_every.total_seconds())

    def _before_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "%s; retrying in %.1fs (attempt %d of %d)",
            exc,
            state.upcoming_sleep,
            state.attempt_number + 1,
            self.max_attempts,
            extra={"helpdesk": self.helpdesk},
        )
