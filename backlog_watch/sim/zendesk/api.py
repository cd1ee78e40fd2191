"""The HTTP face of ZendeskSimulator: routes, auth, rate limits, faults and Zendesk's error bodies."""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from backlog_watch.sim.generate import SLA_TARGETS, sla_metrics
from backlog_watch.sim.server import Fault, RateWindow, SimRequest, header_seconds

if TYPE_CHECKING:
    from backlog_watch.sim.zendesk.simulator import ZendeskSimulator

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
SHOW_MANY_LIMIT = 100
PAGE_MAX = 1000
ONE_MINUTE = 60
_CURSOR = re.compile(r"^(\d+)\.0\|\|(\d+)\|$")


def encode_cursor(stamp: int, ticket_id: int) -> str:
    """Zendesk's opaque export cursor: base64 of ``"{generated_timestamp}.0||{ticket_id}|"``."""
    return base64.b64encode(f"{stamp}.0||{ticket_id}|".encode()).decode("ascii")


def decode_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        text = base64.b64decode(cursor, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    match = _CURSOR.match(text)
    return (int(match[1]), int(match[2])) if match else None


def error(status: int, name: str, description: str | None = None) -> web.Response:
    """Zendesk's error body: ``{"error": ..., "description": ...}``."""
    body: dict[str, Any] = {"error": name}
    if description is not None:
        body["description"] = description
    return web.json_response(body, status=status)


def _ids(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        return None


class ZendeskApi:
    """Request handlers bound to one simulator."""

    def __init__(self, sim: ZendeskSimulator) -> None:
        self.sim = sim
        pair = f"{sim.email}/token:{sim.token}"
        self._authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    # ---- the gate every request passes ---------------------------------------------------------

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        sim = self.sim
        sim.requests.append(SimRequest(request.method, request.path, dict(request.query)))
        fault = sim.faults.take()
        if fault is not None:
            return _fault(fault)
        if request.headers.get("Authorization") != self._authorization:
            return self._with_quota(error(401, "Couldn't authenticate you"))
        if not sim.account_window.try_acquire():
            return self._too_many(sim.account_window, "Number of allowed API requests per minute exceeded")
        if request.path == EXPORT_PATH and not sim.export_window.try_acquire():
            return self._too_many(
                sim.export_window, "Number of allowed incremental export API requests per minute exceeded"
            )
        response: web.StreamResponse = await handler(request)
        return self._with_quota(response)

    def _with_quota(self, response: web.StreamResponse) -> web.StreamResponse:
        """The account-wide headers Zendesk puts on every answer."""
        window = self.sim.account_window
        limit, remaining, reset = str(window.limit), str(window.remaining), header_seconds(window.reset_in)
        response.headers["X-Rate-Limit"] = limit
        response.headers["X-Rate-Limit-Remaining"] = remaining
        response.headers["ratelimit-limit"] = limit
        response.headers["ratelimit-remaining"] = remaining
        response.headers["ratelimit-reset"] = reset
        return response

    def _too_many(self, window: RateWindow, description: str) -> web.StreamResponse:
        response = self._with_quota(error(429, "APIRateLimitExceeded", description))
        response.headers["Retry-After"] = header_seconds(max(1.0, window.reset_in))
        return response

    # ---- the incremental export ----------------------------------------------------------------

    async def export(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            per_page = min(PAGE_MAX, max(1, int(query.get("per_page", PAGE_MAX))))
        except ValueError:
            return error(400, "InvalidValue", "per_page must be an integer")
        horizon = int(self.sim.clock.timestamp()) - ONE_MINUTE  # data of the last minute is not exported
        if "cursor" in query:
            position = decode_cursor(query["cursor"])
            if position is None:
                return error(400, "InvalidCursor", "The cursor is invalid")
        elif "start_time" in query:
            try:
                start = int(query["start_time"])
            except ValueError:
                return error(400, "InvalidValue", "start_time must be a Unix epoch time in seconds")
            if start > horizon:
                return error(422, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute")
            position = (start, 0)
        else:
            return error(400, "InvalidValue", "Either start_time or cursor is required")
        skip_deleted = query.get("exclude_deleted", "").lower() == "true"
        rows = (
            row
            for row in self.sim.exportable(horizon, position)
            if not (skip_deleted and row[2].get("status") == "deleted")
        )
        pending = list(itertools.islice(rows, per_page + 1))  # one more tells whether the stream ends
        page = pending[:per_page]
        after = encode_cursor(page[-1][0], page[-1][1]) if page else encode_cursor(*position)
        with_slas = self.sim.export_includes_slas and "slas" in query.get("include", "").split(",")
        extra = f"&per_page={query['per_page']}" if "per_page" in query else ""
        return web.json_response(
            {
                "tickets": [self._render(ticket, with_slas) for _, _, ticket in page],
                "after_url": f"{self.sim.url}{EXPORT_PATH}?cursor={quote(after, safe='')}{extra}",
                "before_url": None,
                "after_cursor": after,
                "before_cursor": None,
                "end_of_stream": len(pending) <= per_page,
            }
        )

    def _render(self, ticket: Mapping[str, Any], with_slas: bool, *, export: bool = True) -> dict[str, Any]:
        shown = dict(ticket)
        if not export:
            shown.pop("generated_timestamp", None)  # only the export carries it
        if with_slas:
            shown["slas"] = {"policy_metrics": sla_metrics(ticket, self.sim.clock.now())}
        return shown

    # ---- tickets, groups, users, SLA policies --------------------------------------------------

    async def show_many(self, request: web.Request) -> web.StreamResponse:
        ids = _ids(request.query.get("ids"))
        if ids is None:
            return error(400, "InvalidValue", "ids must be a comma-separated list of ticket ids")
        if len(ids) > SHOW_MANY_LIMIT:
            return error(400, "InvalidValue", f"Too many ids (maximum {SHOW_MANY_LIMIT})")
        with_slas = "slas" in request.query.get("include", "").split(",")
        stored = [self.sim.lookup(i) for i in ids]
        found = [self._render(t, with_slas, export=False) for t in stored if t and t.get("status") != "deleted"]
        return web.json_response({"tickets": found, "next_page": None, "previous_page": None, "count": len(found)})

    async def show(self, request: web.Request) -> web.StreamResponse:
        ticket = self.sim.lookup(int(request.match_info["id"]))
        if ticket is None or ticket.get("status") == "deleted":
            return error(404, "RecordNotFound", "Not found")
        with_slas = "slas" in request.query.get("include", "").split(",")
        return web.json_response({"ticket": self._render(ticket, with_slas, export=False)})

    async def groups(self, request: web.Request) -> web.StreamResponse:
        try:
            page = max(1, int(request.query.get("page", 1)))
            per_page = min(100, max(1, int(request.query.get("per_page", 100))))
        except ValueError:
            return error(400, "InvalidValue", "page and per_page must be integers")
        groups = list(self.sim.account.groups.values())
        chunk = groups[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(groups)
        link = f"{self.sim.url}/api/v2/groups.json?page={{}}&per_page={per_page}"
        return web.json_response(
            {
                "groups": chunk,
                "next_page": link.format(page + 1) if more else None,
                "previous_page": link.format(page - 1) if page > 1 else None,
                "count": len(groups),
            }
        )

    async def users_show_many(self, request: web.Request) -> web.StreamResponse:
        ids = _ids(request.query.get("ids"))
        if ids is None:
            return error(400, "InvalidValue", "ids must be a comma-separated list of user ids")
        if len(ids) > SHOW_MANY_LIMIT:
            return error(400, "InvalidValue", f"Too many ids (maximum {SHOW_MANY_LIMIT})")
        users = self.sim.account.users
        found = [users[i] for i in ids if i in users]
        return web.json_response({"users": found, "next_page": None, "previous_page": None, "count": len(found)})

    async def user(self, request: web.Request) -> web.StreamResponse:
        user = self.sim.account.users.get(int(request.match_info["id"]))
        if user is None:
            return error(404, "RecordNotFound", "Not found")
        return web.json_response({"user": user})

    async def users_search(self, request: web.Request) -> web.StreamResponse:
        """``query=email:x`` (or a bare email or name): the users it matches, as Zendesk's search does."""
        query = request.query.get("query", "").strip()
        if not query:
            return error(400, "InvalidValue", "query is required")
        wanted = query.removeprefix("email:").strip().lower()
        found = [
            u for u in self.sim.account.users.values() if u["email"].lower() == wanted or wanted in u["name"].lower()
        ]
        return web.json_response({"users": found, "next_page": None, "previous_page": None, "count": len(found)})

    async def update(self, request: web.Request) -> web.StreamResponse:
        """PUT a ticket: only ``assignee_id`` is simulated; 403 without write access, 404 unknown, 422 not
        an agent."""
        if not self.sim.can_write:
            return error(
                403,
                "Forbidden",
                "You do not have access to this page. Please contact the account owner of this help desk.",
            )
        ticket = self.sim.lookup(int(request.match_info["id"]))
        if ticket is None or ticket.get("status") == "deleted":
            return error(404, "RecordNotFound", "Not found")
        try:
            body = await request.json()
            assignee = body["ticket"]["assignee_id"]
        except (ValueError, KeyError, TypeError):
            return error(400, "InvalidValue", 'expected {"ticket": {"assignee_id": ...}}')
        user = self.sim.account.users.get(assignee) if isinstance(assignee, int) else None
        if user is None or user["role"] not in ("agent", "admin"):
            invalid = {"assignee": [{"description": "Assignee is not an agent", "error": "InvalidValue"}]}
            body = {"error": "RecordInvalid", "description": "Record validation errors", "details": invalid}
            return web.json_response(body, status=422)
        updated = self.sim.update_ticket(ticket["id"], assignee_id=assignee)
        return web.json_response({"ticket": self._render(updated, False, export=False)})

    async def me(self, request: web.Request) -> web.StreamResponse:
        """The authenticated agent (Zendesk's way to check credentials)."""
        return web.json_response(
            {
                "user": {
                    "id": 1,
                    "url": f"{self.sim.account.base}/users/1.json",
                    "name": "Ops",
                    "email": self.sim.email,
                    "role": "admin",
                    "active": True,
                    "verified": True,
                }
            }
        )

    async def sla_policies(self, request: web.Request) -> web.StreamResponse:
        metrics = [
            {
                "priority": priority,
                "metric": metric,
                "target": int(target.total_seconds() // 60),
                "business_hours": False,
            }
            for priority, targets in SLA_TARGETS.items()
            for metric, target in zip(
                ("first_reply_time", "next_reply_time", "total_resolution_time"), targets, strict=True
            )
        ]
        policy = {
            "id": 1,
            "url": f"{self.sim.account.base}/slas/policies/1.json",
            "title": "Standard",
            "description": "Targets by priority",
            "position": 1,
            "filter": {"all": [], "any": []},
            "policy_metrics": metrics,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
        return web.json_response({"sla_policies": [policy], "next_page": None, "previous_page": None, "count": 1})

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        return error(404, "RecordNotFound", "Not found")


def _fault(fault: Fault) -> web.StreamResponse:
    if fault.status == 429:
        response = error(429, "APIRateLimitExceeded", "Number of allowed API requests per minute exceeded")
        response.headers["Retry-After"] = header_seconds(fault.retry_after or 0)
        return response
    if fault.status >= 500:
        return error(fault.status, "InternalError", "Simulated server failure")
    return error(fault.status, "SimulatedError", f"Simulated HTTP {fault.status}")


def build_app(sim: ZendeskSimulator) -> web.Application:
    api = ZendeskApi(sim)
    app = web.Application(middlewares=[api.gate])
    app.router.add_get(EXPORT_PATH, api.export)
    app.router.add_get("/api/v2/tickets/show_many.json", api.show_many)
    app.router.add_get(r"/api/v2/tickets/{id:\d+}.json", api.show)
    app.router.add_put(r"/api/v2/tickets/{id:\d+}.json", api.update)
    app.router.add_put(r"/api/v2/tickets/{id:\d+}", api.update)
    app.router.add_get("/api/v2/users/search.json", api.users_search)
    app.router.add_get("/api/v2/users/search", api.users_search)
    app.router.add_get("/api/v2/groups.json", api.groups)
    app.router.add_get("/api/v2/users/show_many.json", api.users_show_many)
    app.router.add_get("/api/v2/users/me.json", api.me)
    app.router.add_get(r"/api/v2/users/{id:\d+}.json", api.user)
    app.router.add_get("/api/v2/slas/policies", api.sla_policies)
    app.router.add_get("/api/v2/slas/policies.json", api.sla_policies)
    app.router.add_route("*", "/{tail:.*}", api.not_found)
    return app
