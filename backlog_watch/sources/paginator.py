"""The shared paginator: follow "next" tokens (cursors, page tokens, next links) and refuse a token
that comes back twice.

Every vendor API pages the same way at heart: ask for a page, read where the next one starts, ask again.
A server that answers the same next token twice would keep a poll looping forever, each lap re-reading
the same records; so the check lives here, once, instead of in each connector's loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from backlog_watch.errors import PaginationError

Body = TypeVar("Body")

NextPage = Callable[[str | None], Awaitable[tuple[Body, str | None]]]
"""Fetch the page at a token (None: the first page); answer its body and the next token (None: last)."""


class RepeatGuard:
    """Remembers the tokens of one listing; ``see`` raises PaginationError on a token seen before."""

    def __init__(self, helpdesk: str, what: str, *, start: str | None = None) -> None:
        """``what`` names the token in the message ("the next link", "search/jql nextPageToken");
        ``start``, when given, counts as seen: an API that answers the position asked for loops too."""
        self.helpdesk = helpdesk
        self.what = what
        self._seen: set[str] = set() if start is None else {start}

    def see(self, token: str | None) -> None:
        """Record ``token``; None (no next page) is never a repeat."""
        if token is None:
            return
        if token in self._seen:
            raise PaginationError(
                f"{self.what} {token!r} came twice: the API is paging in a loop", helpdesk=self.helpdesk
            )
        self._seen.add(token)


async def paginate(
    next_page: NextPage[Body], *, helpdesk: str, what: str, start: str | None = None
) -> AsyncIterator[Body]:
    """Yield the body of every page, from ``start`` (None: the first page) until a page has no next token.

    Raises PaginationError when a next token repeats; the page that announced it has been yielded first,
    so the caller keeps what it read (its cursor still points before the loop).
    """
    guard = RepeatGuard(helpdesk, what)
    token = start
    while True:
        body, token = await next_page(token)
        yield body
        if token is None:
            return
        guard.see(token)
