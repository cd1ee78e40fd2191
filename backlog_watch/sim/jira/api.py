"""The HTTP face of JiraSimulator: search/jql with nextPageToken, a JQL subset, auth, limits, Jira's errors.

The JQL understood is what a poller sends: clauses joined by AND (parentheses ignored) among
``project = KEY``, ``updated >= <epoch ms | "yyyy-MM-dd HH:mm">``, ``statusCategory != Done``,
``statusCategory = Done``, ``key in (K-1, K-2)``, then ``ORDER BY updated ASC|DESC`` (and ``key``).
Anything else is a 400 in Jira's words. Dates are floored to the minute (JQL's precision) and a date
without a zone is read in the user's time zone.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler

from backlog_watch.sim.server import Fault, SimRequest, header_seconds

if TYPE_CHECKING:
    from backlog_watch.sim.jira.simulator import JiraSimulator

SEARCH_PATH = "/rest/api/3/search/jql"
MAX_RESULTS, MAX_ID_RESULTS = 100, 5000
_CLAUSE = re.compile(
    r"""^(?:project\s*=\s*"?(?P<project>[A-Za-z][A-Za-z0-9_]*)"?
        |updated\s*>=\s*(?:(?P<millis>-?\d+)|"(?P<date>\d{4}-\d{2}-\d{2}(?:\s+\d{2}:\d{2})?)")
        |statusCategory\s*(?P<op>!=|=)\s*"?(?P<category>Done|done|"To Do"|"In Progress")"?
        |key\s+in\s*\((?P<keys>[^)]*)\))$""",
    re.VERBOSE | re.IGNORECASE,
)
_ORDER = re.compile(r"\s+ORDER\s+BY\s+(?P<order>.+)$", re.IGNORECASE)


def errors(status: int, *messages: str, fields: Mapping[str, str] | None = None) -> web.Response:
    """Jira's ErrorCollection: ``{"errorMessages": [...], "errors": {field: message}}``."""
    return web.json_response({"errorMessages": list(messages), "errors": dict(fields or {})}, status=status)


class JqlError(ValueError):
    """A query this simulator (or Jira) refuses, with Jira's message."""


def parse_jql(jql: str, zone: Any) -> tuple[list[Callable[[Mapping[str, Any], str], bool]], bool]:
    """The filters of ``jql`` (each takes the internal ticket and its key) and whether the order is descending."""
    text, descending = " " + jql.strip(), False
    order = _ORDER.search(text)
    if order:
        text, descending = text[: order.start()], "desc" in order["order"].lower().split(",")[0]
    lists = re.findall(r"key\s+in\s*\([^)]*\)", text, flags=re.IGNORECASE)
    for n, found in enumerate(lists):
        text = text.replace(found, f" @{n} ", 1)
    text = text.replace("(", " ").replace(")", " ").strip()
    if not text:
        raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
    filters = []
    for clause in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE):
        clause = " ".join(clause.split())
        if clause.startswith("@"):
            clause = lists[int(clause[1:])]
        match = _CLAUSE.match(clause)
        if match is None:
            raise JqlError(f"Error in the JQL Query: the clause '{clause}' is not understood here.")
        filters.append(_filter(match, zone))
    return filters, descending


def _filter(match: re.Match[str], zone: Any) -> Callable[[Mapping[str, Any], str], bool]:
    if match["project"]:
        project = match["project"].upper()
        return lambda t, key: key.split("-")[0] == project
    if match["millis"] or match["date"]:
        if match["millis"]:
            since = datetime.fromtimestamp(int(match["millis"]) / 1000, UTC)
        else:
            form = "%Y-%m-%d %H:%M" if " " in match["date"].strip() else "%Y-%m-%d"
            since = datetime.strptime(" ".join(match["date"].split()), form).replace(tzinfo=zone)
        floor = since.replace(second=0, microsecond=0)  # minute precision
        stamp = floor.timestamp()
        return lambda t, key: _changed(t) >= stamp
    if match["category"]:
        done = match["category"].strip('"').lower() == "done"
        want_done = done == (match["op"] == "=")
        return lambda t, key: (t.get("status") in ("solved", "closed")) == want_done
    keys = {k.strip().strip('"').upper() for k in match["keys"].split(",") if k.strip()}
    return lambda t, key: key in keys


def _changed(ticket: Mapping[str, Any]) -> float:
    stamp = ticket.get("generated_timestamp")
    return float(stamp) if isinstance(stamp, int | float) else 0.0


def encode_token(after: tuple[int, int], query: str) -> str:
    raw = json.dumps({"after": list(after), "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str) -> tuple[tuple[int, int], str] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return (int(data["after"][0]), int(data["after"][1])), str(data["q"])
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError):
        return None


class JiraApi:
    """Request handlers bound to one simulator."""

    def __init__(self, sim: JiraSimulator) -> None:
        self.sim = sim
        basic = base64.b64encode(f"{sim.email}:{sim.token}".encode()).decode("ascii")
        self._accepted = {f"Basic {basic}"} | ({f"Bearer {sim.bearer}"} if sim.bearer else set())

    def authenticated(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") in self._accepted

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        sim = self.sim
        sim.requests.append(SimRequest(request.method, request.path, dict(request.query)))
        fault = sim.faults.take()
        if fault is not None:
            return _fault(fault)
        window = sim.account_window
        if not window.try_acquire():
            response = errors(429, "Rate limit exceeded.")
            response.headers["Retry-After"] = header_seconds(max(1.0, window.reset_in))
            response.headers["RateLimit-Reason"] = "jira-burst-based"
            return self._with_quota(response)
        return self._with_quota(await handler(request))

    def _with_quota(self, response: web.StreamResponse) -> web.StreamResponse:
        window = self.sim.account_window
        reset = self.sim.clock.now() + timedelta(seconds=window.reset_in)
        response.headers["X-RateLimit-Limit"] = str(window.limit)
        response.headers["X-RateLimit-Remaining"] = str(window.remaining)
        response.headers["X-RateLimit-Reset"] = reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        response.headers["X-RateLimit-NearLimit"] = str(window.remaining < window.limit * 0.2).lower()
        return response

    async def search(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                return errors(400, "Invalid request payload. Refer to the REST API documentation and try again.")
            params = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in body.items()}
        else:
            params = dict(request.query)
            if "fields" in request.query:  # Jira takes fields=a,b and fields=a&fields=b alike
                params["fields"] = ",".join(request.query.getall("fields"))
        return self._search(params, self.authenticated(request))

    def _search(self, params: Mapping[str, str], authenticated: bool) -> web.StreamResponse:
        sim, jql = self.sim, params.get("jql", "")
        try:
            filters, descending = parse_jql(jql, sim.zone)
        except JqlError as exc:
            return errors(400, str(exc))
        wanted = {f for f in params.get("fields", "id").split(",") if f}
        ceiling = MAX_ID_RESULTS if wanted <= {"id", "key"} else MAX_RESULTS
        try:
            size = min(ceiling, max(1, int(params.get("maxResults", 50))))
        except ValueError:
            return errors(400, "The maxResults parameter must be a number.")
        after: tuple[int, int] = (-1, -1)
        if params.get("nextPageToken"):
            decoded = decode_token(params["nextPageToken"])
            if decoded is None or decoded[1] != jql:
                return errors(400, "The provided next page token is invalid or expired.")
            after = decoded[0]
        if not authenticated:  # the trap: an anonymous search sees nothing, and says 200
            return web.json_response({"issues": [], "isLast": True})
        # reconcileIssues: these issue ids are read consistently, whatever the index has seen yet.
        consistent = {int(i) - 10000 for i in params.get("reconcileIssues", "").split(",") if i.strip().isdigit()}

        def matching(start: tuple[int, int]) -> Any:
            return (
                (stamp, key, t)
                for stamp, key, t in sim.exportable(2**63, start)
                if t.get("status") != "deleted"
                and (key in consistent or sim.indexed(t))
                and all(f(t, sim.key(key)) for f in filters)
            )

        if descending:  # rare for a poller: the whole result, reversed, then the page after the token
            rows = list(matching((-1, -1)))[::-1]
            start = next((i + 1 for i, row in enumerate(rows) if row[:2] == after), 0)
            chunk = rows[start : start + size + 1]
        else:  # ascending (stamp, id) order: the token is where to resume, a page costs a page
            chunk = list(itertools.islice(matching(after), size + 1))
        page = chunk[:size]
        ids_only = wanted <= {"id", "key"}
        if ids_only and sim.blank_pages:
            last = sim.blank_pages.pop(0)
            blank: dict[str, Any] = {"issues": [], "isLast": last}
            if not last:
                blank["nextPageToken"] = encode_token(page[-1][:2] if page else after, jql)
            return web.json_response(blank)
        all_fields = wanted >= {"*all"} or wanted >= {"*navigable"}
        now = sim.clock.now()
        if ids_only and sim.ids_only_search:
            body: dict[str, Any] = {"issues": [{"id": sim.render(t, now, set())["id"]} for _, _, t in page]}
        else:
            body = {"issues": [sim.render(t, now, None if all_fields else wanted) for _, _, t in page]}
        if len(chunk) > size:
            body["nextPageToken"] = encode_token(page[-1][:2], jql)
        body["isLast"] = len(chunk) <= size
        return web.json_response(body)

    async def issue(self, request: web.Request) -> web.StreamResponse:
        """``GET /rest/api/3/issue/{idOrKey}``: the issue (an old key after a move still reads it), or 404."""
        if not self.authenticated(request):
            return errors(401, "Client must be authenticated to access this resource.")
        sim = self.sim
        ticket_id = sim.issue_id(request.match_info["id_or_key"])
        ticket = sim.lookup(ticket_id) if ticket_id is not None else None
        if ticket is None or ticket.get("status") == "deleted":
            return errors(404, "Issue does not exist or you do not have permission to see it.")
        names = {f for f in request.query.get("fields", "*navigable").split(",") if f}
        return web.json_response(sim.render(ticket, sim.clock.now(), None if names & {"*all", "*navigable"} else names))

    async def user_search(self, request: web.Request) -> web.StreamResponse:
        """``GET /rest/api/3/user/search?query=``: users whose email or name matches (a bare list)."""
        if not self.authenticated(request):
            return errors(401, "Client must be authenticated to access this resource.")
        wanted = request.query.get("query", "").strip().lower()
        if not wanted:
            return errors(400, "The query parameter 'query' is required.")
        found = [
            {
                "accountId": f"acc-{u['id']}",
                "accountType": "atlassian",
                "emailAddress": u["email"],
                "displayName": u["name"],
                "active": True,
            }
            for u in self.sim.account.users.values()
            if u["role"] == "agent" and (u["email"].lower() == wanted or wanted in u["name"].lower())
        ]
        return web.json_response(found)

    async def assign(self, request: web.Request) -> web.StreamResponse:
        """``PUT /rest/api/3/issue/{idOrKey}/assignee`` with ``{"accountId"}``: 204; 403 without the Assign
        Issues permission, 404 unknown issue or user."""
        if not self.authenticated(request):
            return errors(401, "Client must be authenticated to access this resource.")
        sim = self.sim
        if not sim.can_write:
            return errors(403, "You do not have permission to assign issues.")
        ticket_id = sim.issue_id(request.match_info["id_or_key"])
        ticket = sim.lookup(ticket_id) if ticket_id is not None else None
        if ticket is None or ticket.get("status") == "deleted":
            return errors(404, "Issue does not exist or you do not have permission to see it.")
        try:
            account = str((await request.json())["accountId"])
        except (ValueError, KeyError, TypeError):
            return errors(400, "accountId is required.")
        user_id = int(account.removeprefix("acc-")) if account.removeprefix("acc-").isdigit() else None
        user = sim.account.users.get(user_id) if user_id is not None else None
        if user is None or user["role"] != "agent":
            return errors(404, f"User '{account}' does not exist.")
        sim.update_ticket(ticket["id"], assignee_id=user["id"])
        return web.Response(status=204)

    async def bulkfetch(self, request: web.Request) -> web.StreamResponse:
        """``POST /rest/api/3/issue/bulkfetch``: up to 100 ids or keys; a missing one is simply not returned."""
        if not self.authenticated(request):
            return errors(401, "Client must be authenticated to access this resource.")
        try:
            body = await request.json()
            wanted = body.get("issueIdsOrKeys")
            fields = body.get("fields") or ["*navigable"]
        except (ValueError, AttributeError):
            wanted = None
        if not isinstance(wanted, list) or not 1 <= len(wanted) <= 100:
            return errors(400, "issueIdsOrKeys must list between 1 and 100 issue ids or keys.")
        sim, now = self.sim, self.sim.clock.now()
        issues, failures = [], []
        for item in wanted:
            ticket_id = sim.issue_id(str(item))
            ticket = sim.lookup(ticket_id) if ticket_id is not None else None
            if ticket is None or ticket.get("status") == "deleted":
                failures.append(
                    {
                        "issueIdsOrKeys": [str(item)],
                        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                    }
                )
                continue
            names = {str(f) for f in fields}
            issues.append(sim.render(ticket, now, None if names & {"*all", "*navigable"} else names))
        return web.json_response({"expand": "schema,names", "issues": issues, "issueErrors": failures})

    async def removed_search(self, request: web.Request) -> web.StreamResponse:
        return errors(
            410,
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
            "API. A full migration guideline is available at "
            "https://developer.atlassian.com/changelog/#CHANGE-2046",
        )

    async def myself(self, request: web.Request) -> web.StreamResponse:
        if not self.authenticated(request):
            return errors(401, "Client must be authenticated to access this resource.")
        return web.json_response(
            {
                "accountId": "acc-ops",
                "emailAddress": self.sim.email,
                "displayName": "Ops",
                "active": True,
                "timeZone": str(self.sim.zone),
                "accountType": "atlassian",
            }
        )

    async def fields(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.sim.field_list())

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        return errors(404, "Issue does not exist or you do not have permission to see it.")


def _fault(fault: Fault) -> web.StreamResponse:
    if fault.status == 429:
        response = errors(429, "Rate limit exceeded.")
        response.headers["Retry-After"] = header_seconds(fault.retry_after or 0)
        return response
    if fault.status >= 500:
        return errors(fault.status, "Internal server error")
    return errors(fault.status, f"Simulated HTTP {fault.status}")


def build_app(sim: JiraSimulator) -> web.Application:
    api = JiraApi(sim)
    app = web.Application(middlewares=[api.gate])
    app.router.add_route("GET", SEARCH_PATH, api.search)
    app.router.add_route("POST", SEARCH_PATH, api.search)
    app.router.add_route("*", "/rest/api/3/search", api.removed_search)
    app.router.add_route("*", "/rest/api/2/search", api.removed_search)
    app.router.add_post("/rest/api/3/issue/bulkfetch", api.bulkfetch)
    app.router.add_get("/rest/api/3/issue/{id_or_key}", api.issue)
    app.router.add_put("/rest/api/3/issue/{id_or_key}/assignee", api.assign)
    app.router.add_get("/rest/api/3/user/search", api.user_search)
    app.router.add_get("/rest/api/3/myself", api.myself)
    app.router.add_get("/rest/api/3/field", api.fields)
    app.router.add_route("*", "/{tail:.*}", api.not_found)
    return app
