"""What the receivers' stand-ins share (Teams, PagerDuty, JSM Operations, webhook): every request recorded
with the status it was answered, injected outages, and a small checker of documented request schemas.

A stand-in subclasses ``ReceiverStandIn`` and answers in ``answer``; ``Schema`` collects every problem
of a body (a missing field, a wrong type, a value outside its enum, a string over its limit) so the
refusal says all of them, as the vendors' error bodies do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from backlog_watch.sim.server import FaultQueue, LoopbackServer, header_seconds

__all__ = ["ReceivedRequest", "ReceiverStandIn", "Schema", "serve_receiver"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request a stand-in received, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class ReceiverStandIn(LoopbackServer):
    """Base of the receivers' stand-ins: records every request, answers injected faults first."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ReceivedRequest] = []
        self.faults = FaultQueue()
        self.echo: Callable[[ReceivedRequest], None] | None = None
        """Told of every request as it is answered (``backlog-watch simulate`` prints them)."""

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` (the receiver down)."""
        self.faults.fail_next(n, status)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After``."""
        self.faults.rate_limit_next(n, retry_after)

    @property
    def accepted(self) -> list[ReceivedRequest]:
        """The requests answered with a 2xx, oldest first."""
        return [r for r in self.requests if r.accepted]

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self.faults.take()
        if fault is not None:
            response = web.json_response({"message": "injected fault"}, status=fault.status)
            if fault.status == 429:
                response.headers["Retry-After"] = header_seconds(fault.retry_after or 0)
        else:
            response = self.answer(request, body)
        received = ReceivedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), body, response.status
        )
        self.requests.append(received)
        if self.echo is not None:
            self.echo(received)
        return response

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        raise NotImplementedError


async def serve_receiver(
    standin: ReceiverStandIn, port: int, *, host: str, about: Callable[[], Sequence[str]], out: Callable[[str], None]
) -> None:
    """Serve a stand-in until cancelled: ``about()`` (where to point a notifier) first, then each request
    as it comes (status, method, path, body) so one can watch what a notifier sends."""
    await standin.start(host, port)
    for line in about():
        out(line)
    standin.echo = lambda r: out(f"{r.status} {r.method} {r.path}\n{r.body.decode(errors='replace')}")
    try:
        await asyncio.Event().wait()
    finally:
        await standin.stop()


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Schema:
    """Checks fields of JSON objects against a documented schema, collecting every problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __bool__(self) -> bool:
        return not self.problems

    def field(
        self,
        obj: Any,
        key: str,
        kind: type | tuple[type, ...],
        *,
        at: str = "",
        required: bool = False,
        max_len: int | None = None,
        enum: Collection[object] | None = None,
    ) -> Any:
        """The value of ``obj[key]`` when it is valid, else None (and the problem noted)."""
        where = f"{at}.{key}" if at else key
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            if required:
                self.problems.append(f"{where} is required")
            return None
        value = obj[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            self.problems.append(f"{where} must be of type {'/'.join(k.__name__ for k in _kinds(kind))}")
            return None
        if max_len is not None and hasattr(value, "__len__") and len(value) > max_len:
            self.problems.append(f"{where} is longer than {max_len}")
            return None
        if enum is not None and value not in enum:
            self.problems.append(f"{where} must be one of {', '.join(map(str, enum))}")
            return None
        return value

    def strings(self, obj: Any, key: str, *, at: str = "", required: bool = False) -> dict[str, str] | None:
        """An object whose values are all strings (labels, annotations, details)."""
        value: dict[str, str] | None = self.field(obj, key, dict, at=at, required=required)
        if value is not None and not all(isinstance(v, str) for v in value.values()):
            self.problems.append(f"{at + '.' if at else ''}{key} must map names to strings")
            return None
        return value

    def timestamp(self, obj: Any, key: str, *, at: str = "", required: bool = False) -> None:
        value = self.field(obj, key, str, at=at, required=required)
        if value is not None:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.problems.append(f"{at + '.' if at else ''}{key} is not an ISO 8601 timestamp")


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
