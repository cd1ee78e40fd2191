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
import base64
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
from pydantic import BaseModel, SecretStr, ValidationError

from backlog_watch.errors import (
    AuthError,
    HelpdeskError,
    MalformedRecord,
    RateLimited,
    RequestError,
    TransientError,
)
from backlog_watch.models import Ticket
from backlog_watch.rows import StoredTicket, stored, ticket_from_row
from backlog_watch.sources.paginator import paginate
from backlog_watch.sources.retry import RetryPolicy, Sleep, seconds_until
from backlog_watch.sources.settings import HelpdeskSettings
from backlog_watch.sources.wire import field_of, next_link

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Params = Mapping[str, str | int | float | bool | None]
Built = TypeVar("Built")


def basic_auth(user: str | SecretStr, password: str | SecretStr) -> dict[str, str]:
    """The ``Authorization: Basic`` header of ``user`` and ``password`` (RFC 7617); either may be secret."""
    plain = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in (user, password)]
    pair = ":".join(plain)
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def secret_values(settings: BaseModel) -> list[str]:
    """The plain values of every SecretStr field of ``settings``, for redaction."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
    return found


class HttpConnector(RetryPolicy):
    """Base of HTTP connectors: auth, classification of failures, retries, throttling, counters.

    Subclasses set ``kind`` and ``Settings``, implement ``auth_headers`` (and ``fetch``/``normalize``
    for the Connector protocol), and may refine ``error_text`` for their vendor's error bodies.
    """

    kind: ClassVar[str] = ""
    Settings: ClassVar[type[HelpdeskSettings]] = HelpdeskSettings

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

    listing_path: ClassVar[str | None] = None
    """The path every poll asks at least once (the change stream): a limit ``request_rate`` sets on it
    bounds how often the helpdesk can be polled (``poll_floor``)."""

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
        self.setup()

    def setup(self) -> None:
        """Set up the vendor's own state (caches, what it learns from the API): a vendor overrides this
        rather than ``__init__``, whose signature every connector shares."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(helpdesk={self.settings.name!r})"

    # ---- hooks a vendor overrides -------------------------------------------------------------

    # ---- normalize: the guard every connector shares; a vendor writes only ``_ticket`` ----------

    record_noun: ClassVar[str] = "ticket"
    """How the vendor calls a record, in messages ("issue" for Jira)."""
    record_key: ClassVar[str] = "id"
    """The raw record's key that names it in messages and skip counts."""

    wire_record: type[Any] | None = None
    """The vendor's typed record, when it has one: a msgspec Struct of the fields ``_ticket`` reads, which
    its pages are decoded into (``typed_json``); a connector may build it once it knows the site (Jira).
    ``normalize`` converts a plain JSON object (a test's, a direct read's) into it first, so ``_ticket``
    has one input type."""

    builds_rows: ClassVar[bool] = False
    """Whether the vendor writes ``_row`` (the record straight to the row the store writes) rather than
    ``_ticket``: set for it when it does."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.builds_rows = cls._row is not HttpConnector._row

    def normalize(self, raw: Any) -> Ticket:
        """One raw record as a Ticket; MalformedRecord when a required value is missing or unreadable."""
        if self.builds_rows:
            return ticket_from_row(self._guarded(self._row, raw)[0])
        return self._guarded(self._ticket, raw)

    def stored(self, raw: Any) -> StoredTicket:
        """One raw record as the store writes it (``StoredTicket``): what a sync writes, without the Ticket
        ``normalize`` would build when the vendor writes ``_row``; else the row of ``normalize``'s Ticket
        (a vendor may override ``normalize`` itself); MalformedRecord as there."""
        if self.builds_rows:
            return self._guarded(self._row, raw)
        return stored(self.normalize(raw))

    def _guarded(self, build: Callable[[Any], Built], raw: Any) -> Built:
        """``build`` of the record (its ``wire_record``), its failures as a MalformedRecord that says why."""
        try:
            wire = self.wire_record
            return build(raw if wire is None or isinstance(raw, wire) else msgspec.convert(raw, wire))
        except msgspec.ValidationError as exc:
            raise self._malformed(raw, str(exc)) from exc
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise self._malformed(raw, problem) from exc
        except KeyError as exc:
            raise self._malformed(raw, f"missing {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise self._malformed(raw, f"{type(exc).__name__}: {exc}") from exc

    def _ticket(self, raw: Any) -> Ticket:
        """The vendor's mapping of one raw record (pure): a JSON object, or its ``wire_record``; may raise
        KeyError, TypeError, ValueError. A vendor writes this or ``_row``."""
        raise NotImplementedError

    def _row(self, raw: Any) -> StoredTicket:
        """``_ticket``, as the row the store writes (``stored_row`` of the values ``Ticket.trusted`` would
        take): for a vendor whose syncs are large, a cold sync then builds no Ticket per record."""
        raise NotImplementedError

    def _malformed(self, raw: Any, problem: str) -> MalformedRecord:
        """The MalformedRecord of ``raw`` (a JSON object or a typed record), named by its ``record_key``."""
        value = field_of(raw, self.record_key)
        record_id = str(value) if value not in (None, "") else None
        return MalformedRecord(
            f"{self.record_noun} {record_id or '?'}: {problem}", helpdesk=self.helpdesk, record_id=record_id
        )

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a request (built from SecretStr values, never logged)."""
        return {}

    @staticmethod
    def error_body(response: httpx.Response) -> Mapping[str, Any] | None:
        """The JSON object of an error response, or None (not JSON, or not an object): what a vendor's
        ``error_text`` reads before falling back to the default."""
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, Mapping) else None

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

    def poll_floor(self) -> float:
        """The fewest seconds between polls the listing's own rate limit allows (0: no such limit). Each
        poll asks the listing at least once, so polls scheduled closer would wait in ``_wait_for_rate``
        past the next one's due time and the scheduler would skip it."""
        rate = self.request_rate(self.listing_path) if self.listing_path is not None else None
        if rate is None:
            return 0.0
        limit, seconds = rate
        return (seconds + self.rate_limit_margin) / limit

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
        async for attempt in self.retrying(self.sleep):
            with attempt:
                response = await self._attempt(method, url, params, json)
        return response

    async def pages_of(
        self,
        path: str,
        *,
        params: Params | None = None,
        next_url: Callable[[httpx.Response], str | None] = next_link,
    ) -> AsyncGenerator[httpx.Response, None]:
        """GET ``path`` with ``params``, then every next page's URL (which carries its own query), through
        the shared paginator: a next URL that comes back twice raises PaginationError.

        ``next_url`` reads where the next page is (default: the ``Link: rel="next"`` header).
        """

        async def get(url: str | None) -> tuple[httpx.Response, str | None]:
            response = await self.request("GET", url or path, params=params if url is None else None)
            return response, next_url(response)

        async for response in paginate(get, helpdesk=self.helpdesk, what="the next link"):
            yield response

    async def read_each(
        self, paths: Mapping[str, str], *, params: Params | None = None
    ) -> tuple[frozenset[str], dict[str, Any]]:
        """GET each record at its own path (``{id: path}``), as ``confirm_absent`` does for suspects:
        the ids answered 404 (deleted) and the JSON bodies of the others. Other errors are raised."""
        gone: set[str] = set()
        read: dict[str, Any] = {}
        for record_id, path in paths.items():
            try:
                read[record_id] = (await self.request("GET", path, params=params)).json()
            except RequestError as exc:
                if exc.status != 404:
                    raise
                gone.add(record_id)
        return frozenset(gone), read

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
