"""The HTTP face of FreshdeskSimulator: routes, auth, credits, the page cap and Freshdesk's error bodies."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from backlog_watch.sim.freshdesk.simulator import STATUS_CHOICES, render_ticket
from backlog_watch.sim.generate import parse_time
from backlog_watch.sim.server import Fault, SimRequest, header_seconds

if TYPE_CHECKING:
    from backlog_watch.sim.freshdesk.simulator import FreshdeskSimulator

TICKETS_PATH = "/api/v2/tickets"
INCLUDES = frozenset({"stats", "requester", "description"})
ORDER_BY = frozenset({"created_at", "due_by", "updated_at", "status"})
FILTERS = frozenset({"new_and_my_open", "watching", "spam", "deleted"})


def validation_failed(field: str, message: str, code: str = "invalid_value") -> web.Response:
    """Freshdesk's 400: ``{"description": "Validation failed", "errors": [{field, message, code}]}``."""
    return web.json_response(
        {"description": "Validation failed", "errors": [{"field": field, "message": message, "code": code}]},
        status=400,
    )


def coded(status: int, code: str, message: str) -> web.Response:
    """Freshdesk's other error body: ``{"code": ..., "message": ...}``."""
    return web.json_response({"code": code, "message": message}, status=status)


def _since(value: str) -> datetime | None:
    moment = parse_time(value)
    if moment is None:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else None


class FreshdeskApi:
    """Request handlers bound to one simulator."""

    def __init__(self, sim: FreshdeskSimulator) -> None:
        self.sim = sim
        self._authorization = "Basic " + base64.b64encode(f"{sim.api_key}:X".encode()).decode("ascii")

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        sim = self.sim
        sim.requests.append(SimRequest(request.method, request.path, dict(request.query)))
        fault = sim.faults.take()
        if fault is not None:
            return _fault(fault)
        cost = 1 + 2 * len(INCLUDES & set(request.query.get("include", "").split(",")))
        if not self._authorized(request.headers.get("Authorization", "")):
            return coded(401, "invalid_credentials", "You have to be logged in to perform this action.")
        if not sim.account_window.try_acquire(cost):
            return self._too_many()
        if request.path == TICKETS_PATH and not sim.list_window.try_acquire():
            return self._too_many()
        response = await handler(request)
        window = sim.account_window
        response.headers["X-RateLimit-Total"] = str(window.limit)
        response.headers["X-RateLimit-Remaining"] = str(window.remaining)
        response.headers["X-RateLimit-Used-CurrentRequest"] = str(cost)
        return response

    def _authorized(self, header: str) -> bool:
        """Freshdesk reads the user part (the API key) and ignores the password."""
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            user = base64.b64decode(encoded, validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.sim.api_key

    def _too_many(self) -> web.StreamResponse:
        windows = (self.sim.account_window, self.sim.list_window)
        wait = max((w.reset_in for w in windows if w.remaining == 0), default=1.0)
        response = coded(429, "rate_limit_exceeded", "You have exceeded the limit of requests per minute")
        response.headers["Retry-After"] = header_seconds(max(1.0, wait))
        response.headers["X-RateLimit-Total"] = str(self.sim.account_window.limit)
        response.headers["X-RateLimit-Remaining"] = str(self.sim.account_window.remaining)
        return response

    # ---- the ticket list -----------------------------------------------------------------------

    async def tickets(self, request: web.Request) -> web.StreamResponse:
        query, sim = request.query, self.sim
        try:
            page = int(query.get("page", 1))
            per_page = int(query.get("per_page", 30))
        except ValueError:
            return validation_failed("page", "It should be a/an Positive Integer", "datatype_mismatch")
        if not 1 <= per_page <= 100:
            return validation_failed("per_page", "It should be a Number between 1 and 100", "invalid_value")
        if page < 1:
            return validation_failed("page", "It should be a/an Positive Integer", "datatype_mismatch")
        if page > sim.max_page:
            return validation_failed(
                "page",
                f"You cannot access tickets beyond the {sim.max_page}th page. Please provide a smaller page number.",
            )
        includes = {i for i in query.get("include", "").split(",") if i}
        if includes - INCLUDES:
            return validation_failed(
                "include", "It should be one of these values: 'description,requester,stats'", "invalid_value"
            )
        order_by, order_type = query.get("order_by", "created_at"), query.get("order_type", "desc")
        if order_by not in ORDER_BY or order_type not in ("asc", "desc"):
            return validation_failed(
                "order_by" if order_by not in ORDER_BY else "order_type",
                "It should be one of these values: " + ",".join(sorted(ORDER_BY)),
            )
        listing = query.get("filter")
        if listing is not None and listing not in FILTERS:
            return validation_failed("filter", "It should be one of these values: " + ",".join(sorted(FILTERS)))
        since = _since(query["updated_since"]) if "updated_since" in query else None
        if "updated_since" in query and since is None:
            return validation_failed("updated_since", "It should be in the 'valid date time' format", "invalid_date")
        rows = self.sim.listing(since, listing == "deleted")
        if order_by != "updated_at":
            rows = sorted(rows, key=lambda t: (str(t.get(order_by)), t.get("id") or 0))
        if order_type == "desc":
            rows = rows[::-1]
        shown = rows[(page - 1) * per_page : page * per_page]
        now = sim.clock.now()
        response = web.json_response([render_ticket(t, now, stats="stats" in includes) for t in shown])
        if page * per_page < len(rows):
            params = dict(query) | {"page": str(page + 1)}
            response.headers["Link"] = f'<{sim.url}{TICKETS_PATH}?{urlencode(params)}>; rel="next"'
        return response

    # ---- names, fields, the agent ----------------------------------------------------------------

    def _paged(self, request: web.Request, entries: list[dict[str, Any]], path: str) -> web.StreamResponse:
        try:
            page = max(1, int(request.query.get("page", 1)))
            per_page = min(100, max(1, int(request.query.get("per_page", 30))))
        except ValueError:
            return validation_failed("page", "It should be a/an Positive Integer", "datatype_mismatch")
        response = web.json_response(entries[(page - 1) * per_page : page * per_page])
        if page * per_page < len(entries):
            params = urlencode({"page": page + 1, "per_page": per_page})
            response.headers["Link"] = f'<{self.sim.url}{path}?{params}>; rel="next"'
        return response

    async def groups(self, request: web.Request) -> web.StreamResponse:
        groups = [
            {
                "id": g["id"],
                "name": g["name"],
                "description": g["description"],
                "business_hour_id": None,
                "escalate_to": None,
                "unassigned_for": "30m",
                "auto_ticket_assign": False,
                "created_at": g["created_at"],
                "updated_at": g["updated_at"],
            }
            for g in self.sim.account.groups.values()
        ]
        return self._paged(request, groups, "/api/v2/groups")

    async def agents(self, request: web.Request) -> web.StreamResponse:
        """Every agent, or with ``?email=`` the one with that email (Freshdesk's filter)."""
        email = request.query.get("email", "").strip().lower()
        agents = [
            _agent(u)
            for u in self.sim.account.users.values()
            if u["role"] == "agent" and (not email or u["email"].lower() == email)
        ]
        return self._paged(request, agents, "/api/v2/agents")

    async def update(self, request: web.Request) -> web.StreamResponse:
        """PUT a ticket: only ``responder_id`` is simulated; 403 without write access, 404 (no body) unknown."""
        if not self.sim.can_write:
            return coded(403, "access_denied", "You are not authorized to perform this action.")
        ticket = self.sim.lookup(int(request.match_info["id"]))
        if ticket is None or ticket.get("status") == "deleted":
            return web.Response(status=404)
        try:
            responder = (await request.json())["responder_id"]
        except (ValueError, KeyError, TypeError):
            return coded(400, "invalid_json", "Request body has invalid json format")
        user = self.sim.account.users.get(responder) if isinstance(responder, int) else None
        if user is None or user["role"] != "agent":
            invalid = {"field": "responder_id", "message": "There is no agent matching the given responder_id"}
            body = {"description": "Validation failed", "errors": [{**invalid, "code": "invalid_value"}]}
            return web.json_response(body, status=400)
        updated = self.sim.update_ticket(ticket["id"], assignee_id=responder)
        return web.json_response(render_ticket(updated, self.sim.clock.now()))

    async def me(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            _agent({"id": 1, "name": "Ops", "email": "ops@example.com", "created_at": "2024-01-01T00:00:00Z"})
        )

    async def ticket_fields(self, request: web.Request) -> web.StreamResponse:
        status = {
            "id": 1,
            "name": "status",
            "label": "Status",
            "type": "default_status",
            "default": True,
            "position": 1,
            "required_for_agents": True,
            "choices": STATUS_CHOICES,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
        return web.json_response([status])

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        return coded(404, "invalid_url", f"{request.path} is not a valid URL")


def _agent(user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "available": True,
        "occasional": False,
        "signature": None,
        "id": user["id"],
        "ticket_scope": 1,
        "created_at": user["created_at"],
        "updated_at": user["created_at"],
        "available_since": None,
        "contact": {
            "active": True,
            "email": user["email"],
            "job_title": None,
            "language": "en",
            "last_login_at": None,
            "mobile": None,
            "name": user["name"],
            "phone": None,
            "time_zone": "London",
        },
    }


def _fault(fault: Fault) -> web.StreamResponse:
    if fault.status == 429:
        response = coded(429, "rate_limit_exceeded", "You have exceeded the limit of requests per minute")
        response.headers["Retry-After"] = header_seconds(fault.retry_after or 0)
        return response
    if fault.status >= 500:
        return coded(fault.status, "internal_error", "We're sorry, but something went wrong.")
    return coded(fault.status, "simulated_error", f"Simulated HTTP {fault.status}")


def build_app(sim: FreshdeskSimulator) -> web.Application:
    api = FreshdeskApi(sim)
    app = web.Application(middlewares=[api.gate])
    app.router.add_get(TICKETS_PATH, api.tickets)
    app.router.add_get("/api/v2/groups", api.groups)
    app.router.add_get("/api/v2/agents", api.agents)
    app.router.add_put(r"/api/v2/tickets/{id:\d+}", api.update)
    app.router.add_get("/api/v2/agents/me", api.me)
    app.router.add_get("/api/v2/ticket_fields", api.ticket_fields)
    app.router.add_route("*", "/{tail:.*}", api.not_found)
    return app
