"""Jira Cloud / Jira Service Management: ``search/jql`` by ``updated``, JSM SLA fields found by name.

``fetch`` checks the credentials once (``/myself``: an anonymous search answers 200 with nothing),
learns the site's fields once (``/field``: the JSM SLA fields and the request type, whose ids differ per
site), then pages through ``GET /rest/api/3/search/jql`` with ``nextPageToken`` for
``(<jql>) AND updated >= <epoch ms> ORDER BY updated ASC``. JQL has minute precision and the index is
eventually consistent, so the window starts ``overlap`` before the last ``updated`` seen; the issues of
that overlap already stored with the same ``updated`` are skipped, the rest upserted again (harmless).
Deleted issues just disappear from search, so every ``reconcile_every`` the keys of the open issues
(``(<jql>) AND statusCategory != Done``) are listed and the framework marks the stored open tickets
missing from them deleted (Page.open_ids).

The cursor is JSON::

    {"updated": 1715005620000,                       # epoch ms of the last updated seen
     "seen": {"SUP-12": 1715005620000, ...},          # issues updated within the overlap, as stored
     "reconciled": 1715005681.0}                      # when the open keys were last listed

Mappings (defaults; ``status_map`` / ``priority_map`` override them by name, case-insensitive, and
``status_map`` also by category key ``new`` / ``indeterminate`` / ``done``):

- status: by name first: "Waiting for customer", "Pending customer" -> pending; "Pending", "Waiting for
  third party", "Waiting for vendor", "On hold" -> on_hold; "Closed", "Canceled", "Cancelled",
  "Declined", "Won't do" -> closed; then by category: new -> new, indeterminate -> open, done -> solved.
- priority: Highest, Blocker, Critical -> urgent; High -> high; Medium -> normal; Low, Lowest, Minor,
  Trivial -> low; none -> none; any other name -> none (logged once: map it with priority_map).
- SLA: the JSM SLA fields (``sla_fields``, by name): "Time to first response" -> first_response_due,
  "Time to resolution" -> resolution_due, from ``ongoingCycle.breachTime``; ``breached`` and ``paused``
  from any ongoing cycle of any SLA field.
- id: the issue key; group: the first component; assignee: displayName; tags: labels; channel: web
  for a JSM request (a request type is set), else other; solved_at: resolutiondate.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from backlog_watch.connector import Cursor, Page
from backlog_watch.durations import Duration
from backlog_watch.errors import PaginationError
from backlog_watch.httpclient import Clock, HttpConnector, Sleep, seconds_until
from backlog_watch.models import Channel, Priority, Sla, Status, Ticket
from backlog_watch.settings import HelpdeskSettings

log = logging.getLogger(__name__)

SEARCH_PATH = "/rest/api/3/search/jql"
MYSELF_PATH = "/rest/api/3/myself"
FIELDS_PATH = "/rest/api/3/field"
SLA_SCHEMA = "com.atlassian.servicedesk:sd-sla-field"
REQUEST_TYPE_SCHEMA = "com.atlassian.servicedesk:vp-origin"
_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
"""Jira's issue key: the project key (capitals, digits, _), a dash, the issue number."""
BASE_FIELDS = ("summary", "status", "priority", "assignee", "created", "updated", "resolutiondate", "labels",
               "components")
SlaTarget = Literal["first_response_due", "next_reply_due", "resolution_due"]

STATUS_NAMES: Mapping[str, Status] = {
    "waiting for customer": Status.PENDING, "pending customer": Status.PENDING,
    "pending": Status.ON_HOLD, "waiting for third party": Status.ON_HOLD, "waiting for vendor": Status.ON_HOLD,
    "on hold": Status.ON_HOLD,
    "closed": Status.CLOSED, "canceled": Status.CLOSED, "cancelled": Status.CLOSED, "declined": Status.CLOSED,
    "won't do": Status.CLOSED,
}
CATEGORIES: Mapping[str, Status] = {"new": Status.NEW, "indeterminate": Status.OPEN, "done": Status.SOLVED}
PRIORITIES: Mapping[str, Priority] = {
    "highest": Priority.URGENT, "blocker": Priority.URGENT, "critical": Priority.URGENT,
    "high": Priority.HIGH, "major": Priority.HIGH, "medium": Priority.NORMAL,
    "low": Priority.LOW, "lowest": Priority.LOW, "minor": Priority.LOW, "trivial": Priority.LOW,
}
DEFAULT_SLA_FIELDS: Mapping[str, SlaTarget] = {
    "Time to first response": "first_response_due", "Time to resolution": "resolution_due",
}


class JiraSettings(HelpdeskSettings):
    """A Jira block: email + API token (Cloud) or a bearer token (Data Center PAT), and the queue's JQL."""

    type: Literal["jira"] = "jira"
    email: str | None = None
    token: SecretStr | None = None
    bearer_token: SecretStr | None = None
    jql: str = Field(min_length=1)
    """Which issues are the support queue, e.g. ``project = SUP``; AND-ed with the time window."""
    overlap: Duration = timedelta(minutes=5)
    """How far before the last ``updated`` seen each poll looks again (minute precision, indexing delay)."""
    reconcile_every: Duration = timedelta(minutes=30)
    """How often the open issues are listed to notice deleted ones (or ones moved out of the JQL)."""
    page_size: int = Field(default=100, ge=1, le=100)
    sla_fields: dict[str, SlaTarget] = Field(default_factory=lambda: dict(DEFAULT_SLA_FIELDS))
    """JSM SLA fields by name -> the due date they give (names differ per site and language)."""

    @model_validator(mode="after")
    def _credentials(self) -> JiraSettings:
        if self.bearer_token is None and (self.email is None or self.token is None):
            raise ValueError("set email and token (Jira Cloud API token), or bearer_token")
        return self


class JiraConnector(HttpConnector):
    """Jira Cloud REST v3 search/jql, with JSM statuses and SLAs."""

    kind: ClassVar[str] = "jira"
    Settings: ClassVar[type[HelpdeskSettings]] = JiraSettings
    record_noun: ClassVar[str] = "issue"
    record_key: ClassVar[str] = "key"
    settings: JiraSettings

    def __init__(
        self,
        settings: JiraSettings | Mapping[str, Any],
        client: httpx.AsyncClient,
        *,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(settings, client, sleep=sleep, clock=clock)
        self.sla_names: dict[str, str] = {}
        """SLA field id -> its name, learnt from /field."""
        self.request_type_field: str | None = None
        self._checked = False
        self._unknown_priorities: set[str] = set()

    # ---- HttpConnector hooks ------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        if self.settings.bearer_token is not None:
            return {"Authorization": f"Bearer {self.settings.bearer_token.get_secret_value()}"}
        assert self.settings.token is not None  # the settings validator guarantees a pair
        pair = f"{self.settings.email}:{self.settings.token.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}

    def error_text(self, response: httpx.Response) -> str:
        """``{"errorMessages": [...], "errors": {field: message}}``, or servicedesk's ``errorMessage``."""
        try:
            body = response.json()
        except ValueError:
            return super().error_text(response)
        if not isinstance(body, Mapping):
            return super().error_text(response)
        parts = [str(m) for m in body.get("errorMessages") or [] if m]
        if isinstance(body.get("errors"), Mapping):
            parts += [f"{k}: {v}" for k, v in body["errors"].items()]
        if body.get("errorMessage"):
            parts.append(str(body["errorMessage"]))
        return "; ".join(parts) or super().error_text(response)

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Spent quota: wait until ``X-RateLimit-Reset`` (an ISO time, read against our own clock)."""
        try:
            if int(response.headers["x-ratelimit-remaining"]) > 0:
                return None
        except (KeyError, ValueError):
            return None
        reset = response.headers.get("x-ratelimit-reset")
        wait = seconds_until(reset, now=datetime.fromtimestamp(self.wall(), UTC)) if reset else None
        return self.default_reset if wait is None else wait

    # ---- fetch --------------------------------------------------------------------------------

    async def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        """Yield the pages of issues updated since ``since``; the open keys when a reconciliation is due."""
        try:
            state = json.loads(since) if since else {"updated": None, "seen": {}, "reconciled": None}
            seen: dict[str, int] = {str(k): int(v) for k, v in state["seen"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PaginationError(f"unreadable cursor {since!r}: {exc}", helpdesk=self.helpdesk) from exc
        await self._prepare()
        updated: int | None = state["updated"]
        jql = f"({self.settings.jql})"
        if updated is not None:
            jql += f" AND updated >= {updated - int(self.settings.overlap.total_seconds() * 1000)}"
        last = since
        now = self.wall()
        async for issues in self._search(jql + " ORDER BY updated ASC", self._fields()):
            fresh = []
            for raw in issues:
                key, stamp = _key_and_stamp(raw)
                if key is not None and stamp is not None and seen.get(key) == stamp:
                    continue
                fresh.append(raw)
                if key is not None and stamp is not None:
                    seen[key] = stamp
                    updated = stamp if updated is None else max(updated, stamp)
            if not fresh:
                continue
            cursor = self._cursor(updated, seen, state["reconciled"] if since else now)
            yield Page(records=fresh, cursor=None if cursor == last else cursor)
            last = cursor
        # A cold sync lists everything: it counts as a reconciliation, timed when it ended (a long,
        # throttled one must not make the next poll reconcile again).
        reconciled = state["reconciled"] if since else self.wall()
        open_ids: frozenset[str] | None = None
        if reconciled is None or now - reconciled >= self.settings.reconcile_every.total_seconds():
            open_ids = await self._open_keys()
            reconciled = self.wall()
        yield Page(records=[], cursor=self._cursor(updated, seen, reconciled), done=True, open_ids=open_ids)

    def _cursor(self, updated: int | None, seen: dict[str, int], reconciled: float | None) -> Cursor:
        if updated is not None:
            floor = updated - int(self.settings.overlap.total_seconds() * 1000)
            for key in [k for k, v in seen.items() if v < floor]:
                del seen[key]
        return json.dumps({"updated": updated, "seen": dict(sorted(seen.items())), "reconciled": reconciled},
                          separators=(",", ":"))

    async def _prepare(self) -> None:
        """Once per connector: prove the credentials (search would answer an anonymous caller with
        nothing), and learn the site's SLA and request-type fields."""
        if self._checked:
            return
        await self.request("GET", MYSELF_PATH)
        fields = (await self.request("GET", FIELDS_PATH)).json()
        self.learn_fields(fields if isinstance(fields, list) else [])
        self._checked = True

    def learn_fields(self, fields: list[Any]) -> None:
        """Remember the SLA fields and the request-type field of ``GET /rest/api/3/field``'s answer."""
        for entry in fields:
            schema = entry.get("schema") if isinstance(entry, Mapping) else None
            if not isinstance(schema, Mapping):
                continue
            if schema.get("custom") == SLA_SCHEMA:
                self.sla_names[str(entry["id"])] = str(entry.get("name") or entry["id"])
            elif schema.get("custom") == REQUEST_TYPE_SCHEMA:
                self.request_type_field = str(entry["id"])

    def _fields(self) -> str:
        extra = [*self.sla_names, *([self.request_type_field] if self.request_type_field else [])]
        return ",".join([*BASE_FIELDS, *extra])

    async def _search(self, jql: str, fields: str, size: int | None = None) -> AsyncIterator[list[Any]]:
        token: str | None = None
        tokens: set[str] = set()
        while True:
            params: dict[str, str | int] = {"jql": jql, "fields": fields, "maxResults": size or self.settings.page_size}
            if token:
                params["nextPageToken"] = token
            body = (await self.request("GET", SEARCH_PATH, params=params)).json()
            if not isinstance(body, Mapping) or not isinstance(body.get("issues"), list):
                raise PaginationError("search/jql did not answer {issues: [...]}", helpdesk=self.helpdesk)
            yield body["issues"]
            token = body.get("nextPageToken")
            if not token or body.get("isLast") is True:
                return
            if token in tokens:
                raise PaginationError(f"search/jql returned nextPageToken {token!r} twice", helpdesk=self.helpdesk)
            tokens.add(token)

    async def _open_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        async for issues in self._search(f"({self.settings.jql}) AND statusCategory != Done", "id", 5000):
            keys.update(str(i["key"]) for i in issues if isinstance(i, Mapping) and i.get("key"))
        return frozenset(keys)

    # ---- normalize ----------------------------------------------------------------------------

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        key, fields, issue_id = raw["key"], raw["fields"], raw.get("id")
        if not isinstance(key, str) or not _ISSUE_KEY.match(key):
            raise ValueError(f"key {key!r} is not a Jira issue key (PROJECT-123)")
        if issue_id is not None and not (isinstance(issue_id, str) and issue_id.isdecimal()):
            raise ValueError(f"id {issue_id!r} is not a Jira issue id (digits)")
        status = self.status_of(fields["status"])
        created_at = _utc(fields["created"])
        updated_at = _utc(fields["updated"]) if fields.get("updated") else created_at
        resolved = fields.get("resolutiondate")
        components = fields.get("components") or []
        assignee = fields.get("assignee")
        return Ticket(
            helpdesk=self.helpdesk,
            id=key,
            subject=str(fields.get("summary") or ""),
            status=status,
            priority=self.priority_of(fields.get("priority")),
            channel=Channel.WEB if self.request_type_field and fields.get(self.request_type_field) else Channel.OTHER,
            group=str(components[0]["name"]) if components else None,
            assignee=str(assignee["displayName"]) if isinstance(assignee, Mapping) else None,
            tags=tuple(str(label) for label in fields.get("labels") or ()),
            created_at=created_at,
            updated_at=updated_at,
            solved_at=(_utc(resolved) if resolved else updated_at) if status in (Status.SOLVED, Status.CLOSED)
            else None,
            sla=self.sla_of(fields) if status.is_open else Sla(),
            url=f"{self.settings.url}/browse/{key}",
        )

    def status_of(self, status: Mapping[str, Any]) -> Status:
        name = str(status["name"])
        category = str(status["statusCategory"]["key"]).lower()
        overrides = {k.casefold(): v for k, v in self.settings.status_map.items()}
        found = overrides.get(name.casefold()) or STATUS_NAMES.get(name.casefold())
        found = found or overrides.get(category) or CATEGORIES.get(category)
        if found is None:
            raise ValueError(f"status {name!r} has unknown category {category!r} (map it with status_map)")
        return found

    def priority_of(self, priority: Any) -> Priority:
        if priority is None:
            return Priority.NONE
        name = str(priority["name"])
        overrides = {k.casefold(): v for k, v in self.settings.priority_map.items()}
        found = overrides.get(name.casefold()) or PRIORITIES.get(name.casefold())
        if found is None:
            if name not in self._unknown_priorities:
                self._unknown_priorities.add(name)
                log.warning("priority %r is not mapped: counted as none (map it with priority_map)", name,
                            extra={"helpdesk": self.helpdesk})
            return Priority.NONE
        return found

    def sla_of(self, fields: Mapping[str, Any]) -> Sla:
        """The SLA of an issue's fields: due dates from the named SLA fields' ongoing cycles."""
        targets = {name.casefold(): target for name, target in self.settings.sla_fields.items()}
        dues: dict[str, datetime] = {}
        breached = paused = running = False
        for field_id, name in self.sla_names.items():
            cycle = fields.get(field_id, None)
            ongoing = cycle.get("ongoingCycle") if isinstance(cycle, Mapping) else None
            if not isinstance(ongoing, Mapping):
                continue
            breached = breached or ongoing.get("breached") is True
            if ongoing.get("paused") is True:
                paused = True
                continue
            running = True
            target = targets.get(name.casefold())
            breach = ongoing.get("breachTime")
            if target and isinstance(breach, Mapping):
                due = _breach_time(breach)
                dues[target] = min(due, dues.get(target, due))
        return Sla(**dues, breached=breached, paused=paused and not running)


# ---- pure helpers ------------------------------------------------------------------------------


def _key_and_stamp(raw: Any) -> tuple[str | None, int | None]:
    try:
        return str(raw["key"]), int(_utc(raw["fields"]["updated"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return None, None


def _breach_time(value: Mapping[str, Any]) -> datetime:
    if isinstance(value.get("epochMillis"), int):
        return datetime.fromtimestamp(value["epochMillis"] / 1000, UTC)
    return _utc(value.get("iso8601") or value["jira"])


def _utc(value: Any) -> datetime:
    """A Jira time (``2022-12-08T02:22:18.889-0800``) as aware UTC."""
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed.astimezone(UTC)
