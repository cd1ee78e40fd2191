"""A stand-in of the ACME queue API on loopback (aiohttp), for the plugin's tests and demos.

It keeps a small backlog on a clock it is given (anything with ``now()``, e.g. backlog_watch's SimClock),
numbers every change, serves ``/api/changes`` as the real API does, refuses a wrong token with 401, and
takes injected faults (``fail_next``, ``rate_limit_next``) and malformed records, as the shipped
conformance suite asks of a stand-in.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web

TOKEN = "acme-token"


class Clock(Protocol):
    def now(self) -> Any: ...


class AcmeStandIn:
    """The ACME queue with ``tickets`` tickets (``open_share`` of them open), serving on 127.0.0.1:<any>."""

    def __init__(self, clock: Clock, *, tickets: int = 40) -> None:
        self.clock = clock
        self.url = ""
        self.requests: list[tuple[str, str]] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self._seq = itertools.count(1)
        self._faults: deque[tuple[int, float | None]] = deque()
        self._runner: web.AppRunner | None = None
        states = ["new", "open", "open", "waiting", "blocked", "done"]
        for number in range(1, tickets + 1):
            opened = clock.now() - timedelta(hours=number)
            self._store(
                {
                    "id": number,
                    "title": f"Ticket {number}",
                    "state": states[number % len(states)],
                    "urgency": f"p{number % 4 + 1}",
                    "opened": opened.isoformat(),
                    "owner": None,
                    "labels": [],
                },
                at=opened,
            )

    # ---- the helpdesk's life --------------------------------------------------------------------

    def _store(self, ticket: dict[str, Any], *, at: Any = None) -> dict[str, Any]:
        ticket = {**ticket, "seq": next(self._seq), "changed": (at or self.clock.now()).isoformat()}
        self.tickets[ticket["id"]] = ticket
        return ticket

    def open_ids(self) -> set[int]:
        return {i for i, t in self.tickets.items() if t.get("state") in ("new", "open", "waiting", "blocked")}

    def create_ticket(self, *, priority: str = "normal", tags: list[str] | None = None) -> dict[str, Any]:
        urgency = {"urgent": "p1", "high": "p2", "normal": "p3", "low": "p4"}[priority]
        number = max(self.tickets) + 1
        now = self.clock.now().isoformat()
        return self._store(
            {
                "id": number,
                "title": f"Ticket {number}",
                "state": "new",
                "urgency": urgency,
                "opened": now,
                "owner": None,
                "labels": tags or [],
            }
        )

    def update_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        names = {"subject": "title", "tags": "labels"}
        changes = {names.get(k, k): v for k, v in fields.items()}
        if "priority" in changes:
            changes["urgency"] = {"urgent": "p1", "high": "p2", "normal": "p3", "low": "p4"}[changes.pop("priority")]
        return self._store({**self.tickets[ticket_id], **changes})

    def solve_ticket(self, ticket_id: int) -> dict[str, Any]:
        return self.update_ticket(ticket_id, state="done")

    def delete_ticket(self, ticket_id: int) -> dict[str, Any]:
        return self.update_ticket(ticket_id, state="deleted")

    def inject_malformed(self, ticket: Any) -> int:
        """Corrupt ticket ``ticket`` (an id), or add ``ticket`` (a raw record) as it is."""
        if isinstance(ticket, int):
            self._store({**self.tickets[ticket], "opened": "not a time"})
            return ticket
        return int(self._store(dict(ticket))["id"])

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self._faults.extend((status, None) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        self._faults.extend((429, retry_after) for _ in range(n))

    def settings(self, name: str = "acme", **extra: Any) -> dict[str, Any]:
        """A helpdesk block for this stand-in."""
        return {"name": name, "type": "acme_queue", "url": self.url, "token": TOKEN, **extra}

    # ---- HTTP -----------------------------------------------------------------------------------

    async def _changes(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path_qs))
        if self._faults:
            status, retry_after = self._faults.popleft()
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return web.json_response({"error": "injected"}, status=status, headers=headers)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "bad token"}, status=401)
        after, limit = int(request.query.get("after", "0")), int(request.query.get("limit", "100"))
        changed = sorted((t for t in self.tickets.values() if t["seq"] > after), key=lambda t: t["seq"])
        page = changed[:limit]
        cursor = str(page[-1]["seq"]) if page else str(after)
        return web.json_response({"tickets": page, "cursor": cursor, "more": len(changed) > limit})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/changes", self._changes)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AcmeStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
