"""The one exception tree of backlog-watch.

BacklogWatchError
├── ConfigError                  a config file is invalid (file, line, key path); exit code 2
├── StoreError                   the store cannot be opened or migrated
├── HelpdeskError                talking to a helpdesk failed (carries ``helpdesk``)
│   ├── AuthError                401/403: polling of that helpdesk stops until the config changes
│   ├── RateLimited              429 (carries ``retry_after``); retried after the wait
│   ├── TransientError           5xx and network errors; retried with backoff
│   ├── RequestError             any other 4xx: fatal for that request
│   └── PaginationError          the API returned the same cursor twice, or an unusable page
├── MalformedRecord              one record could not be normalized; it is skipped and counted
└── NotifyError                  a notifier could not deliver (carries ``notifier``, ``retryable``)
"""

from __future__ import annotations


class BacklogWatchError(Exception):
    """Base of every error raised on purpose by backlog-watch."""


class ConfigError(BacklogWatchError):
    """The configuration is invalid. ``problems`` holds one line per mistake, ready to print."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(BacklogWatchError):
    """The store cannot be opened, migrated or written."""


class LeaseLost(StoreError):
    """A write fenced by a lease (store/leases.py) found the lease no longer this replica's with that
    token: another replica holds it now, or it expired while this one was paused. Nothing was written."""

    def __init__(self, message: str, *, lease: str = "", token: int | None = None) -> None:
        super().__init__(message)
        self.lease = lease
        self.token = token


class HelpdeskError(BacklogWatchError):
    """A request to a helpdesk failed."""

    retryable: bool = False

    def __init__(self, message: str, *, helpdesk: str = "", status: int | None = None) -> None:
        self.helpdesk = helpdesk
        self.status = status
        super().__init__(f"{helpdesk}: {message}" if helpdesk else message)


class AuthError(HelpdeskError):
    """The helpdesk refused our credentials (401/403): stop polling it and say so."""


class RateLimited(HelpdeskError):
    """The helpdesk answered 429; ``retry_after`` is how long it asked us to wait, in seconds."""

    retryable = True

    def __init__(self, message: str, *, helpdesk: str = "", retry_after: float = 60.0) -> None:
        self.retry_after = retry_after
        super().__init__(message, helpdesk=helpdesk, status=429)


class TransientError(HelpdeskError):
    """A 5xx answer or a network error: worth retrying with backoff."""

    retryable = True


class RequestError(HelpdeskError):
    """A 4xx answer other than 401/403/429: this request is wrong and retrying will not help."""


class PaginationError(HelpdeskError):
    """Pagination went wrong: a cursor repeated (a loop) or a page could not be read."""


class MalformedRecord(BacklogWatchError):
    """A record from a helpdesk could not be normalized into a Ticket."""

    def __init__(self, message: str, *, helpdesk: str = "", record_id: str | None = None) -> None:
        self.helpdesk = helpdesk
        self.record_id = record_id
        super().__init__(message)


class NotifyError(BacklogWatchError):
    """A notifier could not deliver a notification."""

    def __init__(
        self, message: str, *, notifier: str = "", retryable: bool = True, retry_after: float | None = None
    ) -> None:
        self.notifier = notifier
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(f"{notifier}: {message}" if notifier else message)
