"""JiraSimulator: a faithful local Jira Cloud with Jira Service Management, over real HTTP on loopback.

The backlog is the same seeded, evolving one as ZendeskSimulator's (it subclasses it); ``render_issue``
shows a ticket as a Jira issue and ``api.py`` serves it with Jira's semantics
(design/helpdesk-apis.md): ``/rest/api/3/search/jql`` with ``nextPageToken`` and no total (the old
``/search`` answers 410), JQL with minute precision read in the user's time zone, an index that shows a
change only ``index_delay`` seconds later, deleted issues that just disappear, JSM SLA custom fields
(ids drawn from the seed, found by name through ``/rest/api/3/field``), Basic email:token or Bearer
auth, the anonymous trap (bad credentials search as nobody and get 200 with no issues; ``/myself`` says
401), the ``X-RateLimit-*`` headers and 429 + Retry-After, Jira's ``{"errorMessages", "errors"}`` bodies,
``POST /rest/api/3/issue/bulkfetch`` (a deleted issue is just not returned) and issues moved to another
project (``move_issue``: a new key, the same id; the old key still reads the issue).

Behaviour switches, for the reconciliation's sake: ``ids_only_search`` makes a search that asks for no
field beyond ``id``/``key`` answer ``{"id": ...}`` alone (the enhanced search is built around ids, and
nothing promises a key); ``blank_id_pages(n)`` answers the next ``n`` such searches with an empty page.

How the internal ticket is shown: new -> "Open" (category new); open -> "Waiting for support" (or "In
progress" once assigned); pending -> "Waiting for customer"; hold -> "Pending" (category
indeterminate); solved -> "Resolved", closed -> "Closed" (done); priority urgent/high/normal/low ->
Highest/High/Medium/Low, null -> Lowest; the group -> a component; tags -> labels.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from backlog_watch.sim.activity import Activity
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.generate import SLA_TARGETS, parse_time
from backlog_watch.sim.zendesk import ZendeskSimulator

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
STATUSES = {
    "new": ("Open", "new"),
    "open": ("Waiting for support", "indeterminate"),
    "assigned": ("In progress", "indeterminate"),
    "pending": ("Waiting for customer", "indeterminate"),
    "hold": ("Pending", "indeterminate"),
    "solved": ("Resolved", "done"),
    "closed": ("Closed", "done"),
}
PRIORITIES = {
    "urgent": ("Highest", "1"),
    "high": ("High", "2"),
    "normal": ("Medium", "3"),
    "low": ("Low", "4"),
    None: ("Lowest", "5"),
}
SLA_TYPE = {"type": "sd-servicelevelagreement", "custom": "com.atlassian.servicedesk:sd-sla-field"}
REQUEST_TYPE = {"type": "sd-customerrequesttype", "custom": "com.atlassian.servicedesk:vp-origin"}


def jira_time(moment: datetime, zone: ZoneInfo) -> str:
    """``2022-12-08T02:22:18.889-0800``: Jira's times, in the user's zone."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _date(moment: datetime, zone: ZoneInfo) -> dict[str, Any]:
    local = moment.astimezone(zone)
    return {
        "iso8601": local.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "jira": jira_time(moment, zone),
        "friendly": local.strftime("%d/%b/%y %I:%M %p"),
        "epochMillis": int(moment.timestamp() * 1000),
    }


def _millis(delta: timedelta) -> dict[str, Any]:
    minutes = int(delta.total_seconds() // 60)
    return {"millis": int(delta.total_seconds() * 1000), "friendly": f"{minutes // 60}h {minutes % 60}m"}


class JiraSimulator(ZendeskSimulator):
    """A local Jira Service Management project with a seeded, evolving backlog."""

    def __init__(
        self,
        *,
        seed: int = 1,
        tickets: int = 300,
        clock: SimClock | None = None,
        email: str = "ops@example.com",
        token: str = "sim-jira-token",
        bearer: str | None = None,
        project: str = "SUP",
        site: str = "acme",
        user_time_zone: str = "America/Los_Angeles",
        index_delay: float = 5.0,
        rate_limit: int = 300,
        rate_window_seconds: float = 60,
        activity: Activity | None = None,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            seed=seed,
            tickets=tickets,
            clock=clock,
            subdomain=site,
            activity=activity,
            account_rate_limit=rate_limit,
            export_rate_limit=rate_limit,
            rate_window_seconds=rate_window_seconds,
            rate_clock=rate_clock,
        )
        self.email, self.token, self.bearer = email, token, bearer
        self.project = project
        self.zone = ZoneInfo(user_time_zone)
        self.index_delay = index_delay
        ids = random.Random(seed + 1).sample(range(10030, 10400), 4)
        self.moved: dict[int, str] = {}
        """Ticket id -> the project it was moved to."""
        self.ids_only_search = False
        self.blank_pages: list[bool] = []
        """One entry per coming id/key-only search page to blank: whether it claims to be the last."""
        self.fields = {
            "first_response": f"customfield_{ids[0]}",
            "resolution": f"customfield_{ids[1]}",
            "satisfaction_sla": f"customfield_{ids[2]}",
            "request_type": f"customfield_{ids[3]}",
        }

    def __repr__(self) -> str:
        return f"JiraSimulator(url={self.url!r}, issues={len(self._tickets)})"

    def build_app(self) -> web.Application:
        from backlog_watch.sim.jira.api import build_app

        return build_app(self)

    def settings(self, name: str = "jira", **extra: Any) -> dict[str, Any]:
        """A helpdesk block for this simulator (``url``, ``email``, ``token``, ``jql``)."""
        return {
            "name": name,
            "type": "jira",
            "url": self.url,
            "email": self.email,
            "token": self.token,
            "jql": f"project = {self.project}",
        } | extra

    def key(self, ticket_id: Any) -> str:
        return f"{self.moved.get(ticket_id, self.project)}-{ticket_id}"

    def move_issue(self, ticket_id: int, project: str) -> dict[str, Any]:
        """Move an issue to another project: a new key, the same id, an update now."""
        self.moved[ticket_id] = project.upper()
        return self.update_ticket(ticket_id)

    def blank_id_pages(self, n: int = 1, *, last: bool = False) -> None:
        """Answer the next ``n`` id/key-only search pages with no issues (``isLast`` as ``last`` says)."""
        self.blank_pages.extend([last] * n)

    def queue_open_keys(self) -> set[str]:
        """The keys of the open issues of this simulator's queue (``project = <project>``)."""
        return {self.key(i) for i in self.open_ids() if i not in self.moved}

    def issue_id(self, id_or_key: str) -> int | None:
        """The internal ticket of an issue id (``10012``) or key, current or from before a move."""
        text = str(id_or_key).strip()
        if "-" in text:
            number = text.rsplit("-", 1)[1]
            return int(number) if number.isdigit() else None
        return int(text) - 10000 if text.isdigit() else None

    def field_list(self) -> list[dict[str, Any]]:
        """What ``GET /rest/api/3/field`` answers: system fields and this site's JSM custom fields."""

        def custom(field_id: str, name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
            number = int(field_id.rsplit("_", 1)[1])
            return {
                "id": field_id,
                "key": field_id,
                "name": name,
                "untranslatedName": name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", name],
                "schema": {**schema, "customId": number},
            }

        system = [
            {
                "id": f,
                "key": f,
                "name": f.title(),
                "custom": False,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f],
            }
            for f in ("summary", "status", "priority", "assignee", "created", "updated", "labels")
        ]
        return system + [
            custom(self.fields["first_response"], "Time to first response", SLA_TYPE),
            custom(self.fields["resolution"], "Time to resolution", SLA_TYPE),
            custom(self.fields["satisfaction_sla"], "Time to close after resolution", SLA_TYPE),
            custom(self.fields["request_type"], "Customer Request Type", REQUEST_TYPE),
        ]

    def indexed(self, ticket: Mapping[str, Any]) -> bool:
        """Whether search sees the ticket yet: its last change is older than ``index_delay``."""
        changed = self._changed.get(ticket.get("id"))  # type: ignore[arg-type]
        return changed is not None and changed <= self.clock.timestamp() - self.index_delay

    def vendor_truth(self) -> dict[str, dict[str, Any]]:
        """Every issue as search shows it now (deleted tickets are gone), by key."""
        now = self.clock.now()
        return {self.key(k): self.render(t, now) for k, t in self._tickets.items() if t.get("status") != "deleted"}

    def render(self, ticket: Mapping[str, Any], now: datetime, wanted: set[str] | None = None) -> dict[str, Any]:
        """A ticket as a search result, with the ``wanted`` fields (all when None)."""
        key = ticket.get("id")
        fields = self._fields(ticket, now)
        if wanted is not None:
            fields = {k: v for k, v in fields.items() if k in wanted}
        return {
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": str(10000 + key) if isinstance(key, int) else str(key),
            "self": f"{self.url}/rest/api/3/issue/{key}",
            "key": self.key(key),
            "fields": fields,
        }

    def _fields(self, ticket: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        zone, status = self.zone, ticket.get("status")
        created, updated = parse_time(ticket.get("created_at")), parse_time(ticket.get("updated_at"))
        state = "assigned" if status == "open" and ticket.get("assignee_id") else status
        name, category = STATUSES.get(state, (str(status), "indeterminate"))  # type: ignore[arg-type]
        priority = PRIORITIES.get(ticket.get("priority"), ("Lowest", "5"))
        assignee = self.account.users.get(ticket.get("assignee_id"))  # type: ignore[arg-type]
        group = self.account.groups.get(ticket.get("group_id"))  # type: ignore[arg-type]
        shown = {
            "summary": ticket.get("subject"),
            "status": {
                "self": f"{self.url}/rest/api/3/status/1",
                "name": name,
                "id": str(zlib.crc32(name.encode()) % 10000),
                "statusCategory": CATEGORIES[category],
            },
            "priority": {"name": priority[0], "id": priority[1]},
            "assignee": {"accountId": f"acc-{assignee['id']}", "displayName": assignee["name"], "active": True}
            if assignee
            else None,
            "created": jira_time(created, zone) if created else ticket.get("created_at"),
            "updated": jira_time(updated, zone) if updated else ticket.get("updated_at"),
            "resolutiondate": jira_time(updated, zone) if updated and category == "done" else None,
            "labels": list(ticket.get("tags") or []),
            "components": [{"id": str(group["id"]), "name": group["name"]}] if group else [],
            self.fields["request_type"]: {
                "requestType": {"id": "1", "name": "Get IT help"},
                "currentStatus": {"status": name, "statusCategory": category.upper()},
            },
        }
        shown.update(self._slas(ticket, created, updated, now))
        return shown

    def _slas(
        self, ticket: Mapping[str, Any], created: datetime | None, updated: datetime | None, now: datetime
    ) -> dict[str, Any]:
        status, f = ticket.get("status"), self.fields
        empty: dict[str, Any] = {f["first_response"]: None, f["resolution"]: None, f["satisfaction_sla"]: None}
        if created is None or updated is None:
            return empty
        values = dict(empty)
        if ticket.get("priority") is None:
            # No SLA goal matches: JSM still shows the fields, with no cycle at all.
            values[f["first_response"]] = self._sla("Time to first response", created, None, now)
            values[f["resolution"]] = self._sla("Time to resolution", created, None, now)
            return values
        first, _, resolution = SLA_TARGETS.get(ticket.get("priority") or "low", SLA_TARGETS["low"])
        values[f["first_response"]] = self._sla(
            "Time to first response", created, first, now, ongoing=status == "new", stop=updated
        )
        values[f["resolution"]] = self._sla(
            "Time to resolution",
            created,
            resolution,
            now,
            ongoing=status in ("new", "open", "pending", "hold"),
            stop=updated,
            paused=status == "pending",
        )
        return values

    def _sla(
        self,
        name: str,
        start: datetime,
        goal: timedelta | None,
        now: datetime,
        *,
        ongoing: bool = False,
        stop: datetime | None = None,
        paused: bool = False,
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "id": str(zlib.crc32(name.encode()) % 100),
            "name": name,
            "_links": {"self": f"{self.url}/rest/servicedeskapi/request/1/sla/1"},
            "completedCycles": [],
            "slaDisplayFormat": "NEW_SLA_FORMAT",
        }
        if goal is None:
            return value
        zone, breach = self.zone, start + goal
        if ongoing:
            elapsed = now - start
            value["ongoingCycle"] = {
                "startTime": _date(start, zone),
                "breachTime": _date(breach, zone),
                "breached": now > breach,
                "paused": paused,
                "withinCalendarHours": True,
                "goalDuration": _millis(goal),
                "elapsedTime": _millis(elapsed),
                "remainingTime": _millis(goal - elapsed),
            }
        elif stop is not None:
            value["completedCycles"] = [
                {
                    "startTime": _date(start, zone),
                    "stopTime": _date(stop, zone),
                    "breachTime": _date(breach, zone),
                    "breached": stop > breach,
                    "goalDuration": _millis(goal),
                    "elapsedTime": _millis(stop - start),
                    "remainingTime": _millis(goal - (stop - start)),
                }
            ]
        return value

    def now_local(self) -> datetime:
        return self.clock.now().astimezone(self.zone)
