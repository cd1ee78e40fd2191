"""Who may read the board: optional bearer or basic auth, and the public read-only board.

Every path asks for the configured credentials except the probes (/healthz, /readyz: an orchestrator
or a load balancer has none), the hooks (they carry their own shared secret) and /slack/events (signed
with the Slack app's signing secret). Deny by default, so a
page added later is protected without anyone remembering to. Credentials are compared in constant time.
/metrics is behind the same credentials: Prometheus sends a bearer token or basic auth from its scrape
config, and the series name helpdesks, groups and rules.

With ``public_readonly`` a request without credentials still gets the board and /api/backlog, minus
what names people or says what a ticket is about (subjects, assignees, requesters, alert summaries,
ticket links are blanked, and ``redacted: true`` says so); one with credentials gets everything.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from backlog_watch.config.http import HttpAuth

OPEN_PATHS = ("/healthz", "/readyz")
OPEN_PREFIXES = ("/hooks/", "/slack/")
READONLY_PATHS = ("/", "/api/backlog", "/metrics")
REDACTED_KEYS = frozenset({"summary", "url", "scope", "labels", "detail"})
REDACTED_WORDS = ("subject", "assignee", "requester", "agent", "actor", "acknowledged_by")
"""A key naming a person or a ticket's content is left out of the public board, wherever it nests."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_VIEW = web.RequestKey("public_view", bool)
"""Set on a request served without credentials in public_readonly mode: its board is redacted."""


@dataclass(frozen=True)
class Access:
    """The http section's answer to "who may read": credentials, and whether the public board is on."""

    auth: HttpAuth
    public_readonly: bool = False

    @property
    def open(self) -> bool:
        return not self.auth.configured and not self.public_readonly


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticated(header: str, auth: HttpAuth) -> bool:
    """The Authorization header carries the configured bearer token or basic user and password."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and auth.bearer is not None:
        return _same(value, auth.bearer.get_secret_value())
    if scheme.lower() == "basic" and auth.basic.user is not None and auth.basic.password is not None:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        same_user = _same(user, auth.basic.user)  # both compared, whichever differs
        same_password = _same(password, auth.basic.password.get_secret_value())
        return bool(sep) and same_user and same_password
    return False


def _challenge(auth: HttpAuth) -> web.Response:
    scheme = 'Basic realm="backlog-watch", charset="UTF-8"' if auth.basic.configured else 'Bearer realm="backlog-watch"'
    return web.json_response(
        {"error": "credentials required (see http.auth in the config)"},
        status=401,
        headers={"WWW-Authenticate": scheme, "Cache-Control": "no-store"},
    )


def access_middleware(access: Access) -> Middleware:
    """The aiohttp middleware that enforces ``access`` on every path but the probes and the hooks."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if access.open or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return await handler(request)
        if access.auth.configured and authenticated(request.headers.get("Authorization", ""), access.auth):
            return await handler(request)
        if access.public_readonly and path in READONLY_PATHS:
            request[PUBLIC_VIEW] = True
            return await handler(request)
        return _challenge(access.auth)

    return check


def is_public_view(request: web.Request) -> bool:
    return bool(request.get(PUBLIC_VIEW, False))


def redacted(node: Any) -> Any:
    """The board with subjects, names, summaries and links blanked, at any depth (the board's shape may
    grow). The keys stay, empty, so a page written for the full board still renders the public one."""
    if isinstance(node, dict):
        return {key: (_blank(value) if _hidden(key) else redacted(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [redacted(item) for item in node]
    return node


def _hidden(key: str) -> bool:
    return key in REDACTED_KEYS or any(word in key for word in REDACTED_WORDS)


def _blank(value: Any) -> Any:
    return "" if isinstance(value, str) else None
