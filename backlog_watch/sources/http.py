"""HttpConnector: the base class of the connectors that talk HTTP (every one so far).

Facts about an API are class attributes; behaviour is a few small hooks a vendor overrides
(``auth_headers``, ``error_text``, ``classify``, ``throttle_delay``). The base owns the rest:
one way to send a request, one place that decides retriable versus fatal, tenacity retries that honour
``Retry-After``, a proactive throttle that waits for the rate-limit window instead of earning a 429,
counters the daemon exports. Each retry is logged at INFO with its reason and wait, so a command
that retries is never silent; whether the helpdesk is down is the daemon's to say (it owns that state),
so a failed request itself is logged here at DEBUG only.

Credentials come only from ``auth_headers()`` and are never logged: every message that leaves this
module goes through ``redact`` first, and ``repr`` shows the helpdesk name and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from backlog_watch.errors import (
    AuthError,
    HelpdeskError,
    MalformedRecord,
    RateLimited,
    RequestError,
    TransientError,
)
from backlog_watch.models import Ticket
from backlog_watch.sources.settings import HelpdeskSettings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Params = Mapping[str, str | int | float | bool | None]


def _is_retryable(exc: BaseException) -> bool:
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


def secret_values(settings: BaseModel) -> list[str]:
    """The plain values of every SecretStr field of ``settings``, for redaction."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
    return found


class HttpConnector:
    """Base of HTTP connectors: auth, classification of failures, retries, throttling, counters.

    Subclasses set ``kind`` and ``Settings``, implement ``auth_headers`` (and ``fetch``/``normalize``
    for the Connector protocol), and may refine ``error_text`` for their vendor's error bodies.
    """

    kind: ClassVar[str] = ""
    Settings: ClassVar[type[HelpdeskSettings]] = HelpdeskSettings

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

    # Proactive throttling: the first header present wins.
    remaining_headers: ClassVar[tuple[str, ...]] = (
        "ratelimit-remaining",
        "x-rate-limit-remaining",
        "x-ratelimit-remaining",
    )
    reset_headers: ClassVar[tuple[str, ...]] = ("ratelimit-reset", "x-ratelimit-reset")
    default_reset: ClassVar[float] = 60.0
    """Seconds to wait when the quota is spent and no reset header says how long (limits are per minute)."""

    rate_limit_margin: ClassVar[float] = 1.0
    """Seconds added to a client-side rate-limit wait, for clock skew and latency between us and the server."""

    default_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "User-Agent": "backlog-watch",
    }

    def __init__(
        self,
        settings: HelpdeskSettings | Mapping[str, Any],
        client: httpx.AsyncClient,
        *,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``settings`` may be the connector's Settings or a mapping validated by it (tests, plugins)."""
        if not isinstance(settings, self.Settings):
            settings = self.Settings.model_validate(settings)
        self.settings = settings
        self.client = client
        self.sleep: Sleep = sleep or asyncio.sleep
        self.clock: Clock = clock or time.monotonic
        self.wall: Clock = clock or time.time
        """Unix time for schedules the API sees (windows, periodic checks); an injected clock is simulated time."""
        self.requests_made = 0
        self.retries = 0
        self.rate_limited = 0
        self._throttle_until: float | None = None
        self._sent_at: dict[str, deque[float]] = {}
        self._failing = False
        self._secrets = secret_values(settings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(helpdesk={self.settings.name!r})"

    @property
    def helpdesk(self) -> str:
        return self.settings.name

    # ---- hooks a vendor overrides -------------------------------------------------------------

    # ---- normalize: the guard every connector shares; a vendor writes only ``_ticket`` ----------

    record_noun: ClassVar[str] = "ticket"
    """How the vendor calls a record, in messages ("issue" for Jira)."""
    record_key: ClassVar[str] = "id"
    """The raw record's key that names it in messages and skip counts."""

    def normalize(self, raw: Mapping[str, Any]) -> Ticket:
        """One raw record as a Ticket; MalformedRecord when a required value is missing or unreadable."""
        value = raw.get(self.record_key) if isinstance(raw, Mapping) else None
        record_id = str(value) if value not in (None, "") else None
        try:
            return self._ticket(raw)
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise self._malformed(record_id, problem) from exc
        except KeyError as exc:
            raise self._malformed(record_id, f"missing {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise self._malformed(record_id, f"{type(exc).__name__}: {exc}") from exc

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        """The vendor's mapping of one raw record (pure); may raise KeyError, TypeError, ValueError."""
        raise NotImplementedError

    def _malformed(self, record_id: str | None, problem: str) -> MalformedRecord:
        return MalformedRecord(
            f"{self.record_noun} {record_id or '?'}: {problem}", helpdesk=self.helpdesk, record_id=record_id
        )

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a request (built from SecretStr values, never logged)."""
        return {}

    def error_text(self, response: httpx.Response) -> str:
        """The vendor's explanation of a failed response, short enough for a log line."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:200] or response.reason_phrase
        if isinstance(body, Mapping):
            for key in ("error", "message", "description"):
                if isinstance(body.get(key), str) and body[key]:
                    return str(body[key])
        return response.reason_phrase

    def classify(self, response: httpx.Response) -> HelpdeskError | None:
        """Decide what a response means: None for success, else the error to raise.

        429 and 5xx are retriable; 401/403 stop polling this helpdesk; any other 4xx is fatal for
        this request. The one place that makes that decision.
        """
        status = response.status_code
        if 200 <= status < 300:
            return None
        if status == 429:
            header = response.headers.get("retry-after")
            parsed = seconds_until(header) if header else None
            wait = self.default_retry_after if parsed is None else parsed
            return RateLimited(f"rate limited (429), retry after {wait:g}s", helpdesk=self.helpdesk, retry_after=wait)
        text = self.redact(self.error_text(response))
        if status >= 500:
            return TransientError(f"server error ({status} {text})", helpdesk=self.helpdesk, status=status)
        if status in (401, 403):
            return AuthError(
                f"credentials refused ({status} {text}): polling of this helpdesk stops until the config changes",
                helpdesk=self.helpdesk,
                status=status,
            )
        return RequestError(f"request refused ({status} {text})", helpdesk=self.helpdesk, status=status)

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Seconds to wait before the next request because the quota is spent, or None."""
        remaining = next((response.headers[h] for h in self.remaining_headers if h in response.headers), None)
        if remaining is None:
            return None
        try:
            if float(remaining) > 0:
                return None
        except ValueError:
            return None
        for header in self.reset_headers:
            if header in response.headers:
                wait = seconds_until(response.headers[header])
                if wait is not None:
                    return wait
        return self.default_reset

    def request_rate(self, path: str) -> tuple[int, float] | None:
        """A limit the server enforces on ``path`` but does not announce in its headers, as
        (requests, per seconds); None when the headers say all there is to know."""
        return None

    # ---- the request path ---------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL on this helpdesk.

        Absolute URLs from the API (next_page, after_url) are rebased onto the configured origin, so
        credentials are never sent to a host the config did not name.
        """
        base = self.settings.url
        parts = urlsplit(path_or_url)
        if not parts.scheme:
            return base + "/" + path_or_url.lstrip("/")
        origin = urlsplit(base)
        query = f"?{parts.query}" if parts.query else ""
        return f"{origin.scheme}://{origin.netloc}{parts.path}{query}"

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request, retrying what is retriable; return the successful response.

        Raises AuthError, RequestError, or the last RateLimited/TransientError once retries are spent.
        """
        url = self.url_for(path_or_url)
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_retryable),
            stop=self._should_stop,
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                response = await self._attempt(method, url, params, json)
        return response

    async def _attempt(self, method: str, url: str, params: Params | None, json: Any) -> httpx.Response:
        await self._wait_for_rate(urlsplit(url).path)
        await self._wait_for_quota()
        headers = {**self.default_headers, **self.auth_headers()}
        # httpx replaces a URL's own query when given params: merge them, so next_page URLs keep theirs.
        target = httpx.URL(url).copy_merge_params({k: v for k, v in (params or {}).items() if v is not None})
        self.requests_made += 1
        try:
            response = await self.client.request(
                method,
                target,
                json=json,
                headers=headers,
                timeout=self.settings.timeout.total_seconds(),
            )
        except httpx.TransportError as exc:
            network = TransientError(
                f"network error on {method} {url}: {type(exc).__name__}: {self.redact(str(exc))}",
                helpdesk=self.helpdesk,
            )
            self._note_failure(network)
            raise network from exc
        error = self.classify(response)
        if not isinstance(error, RateLimited):  # after a 429, Retry-After alone says how long to wait
            self._note_quota(response)
        if error is not None:
            if isinstance(error, RateLimited):
                self.rate_limited += 1
            self._note_failure(error)
            raise error
        self._note_recovery()
        return response

    # ---- tenacity policy ----------------------------------------------------------------------

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

    # ---- throttling and failure tracking ----------------------------------------------------

    def _note_quota(self, response: httpx.Response) -> None:
        delay = self.throttle_delay(response)
        self._throttle_until = None if delay is None else self.clock() + delay

    async def _wait_for_quota(self) -> None:
        if self._throttle_until is None:
            return
        delay = self._throttle_until - self.clock()
        self._throttle_until = None
        if delay > 0:
            log.debug("rate-limit quota spent: waiting %.1fs", delay, extra={"helpdesk": self.helpdesk})
            await self.sleep(delay)

    async def _wait_for_rate(self, path: str) -> None:
        """Keep at most n requests to ``path`` in any window of the given seconds (a sliding window, so
        every fixed window the server may count in holds no more than n either)."""
        rate = self.request_rate(path)
        if rate is None:
            return
        limit, seconds = rate
        sent = self._sent_at.setdefault(path, deque())
        now = self.clock()
        while sent and sent[0] <= now - seconds:
            sent.popleft()
        if len(sent) >= limit:
            delay = sent[0] + seconds + self.rate_limit_margin - now
            log.debug(
                "%s: %d requests in %gs, waiting %.1fs", path, limit, seconds, delay, extra={"helpdesk": self.helpdesk}
            )
            await self.sleep(delay)
            sent.popleft()
        sent.append(self.clock())

    def _note_failure(self, error: HelpdeskError) -> None:
        if not self._failing:
            self._failing = True
            log.debug("%s", error, extra={"helpdesk": self.helpdesk})

    def _note_recovery(self) -> None:
        if self._failing:
            self._failing = False
            log.debug("%s: requests succeed again", self.helpdesk, extra={"helpdesk": self.helpdesk})

    def redact(self, text: str) -> str:
        """``text`` with every secret of the settings masked."""
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text
