"""Jira Cloud / Jira Service Management: ``search/jql`` by ``updated``, JSM SLA fields found by name.

``fetch`` checks the credentials once (``/myself``: an anonymous search answers 200 with nothing),
learns the site's fields once (``/field``: the JSM SLA fields and the request type, whose ids differ per
site), then pages through ``GET /rest/api/3/search/jql`` with ``nextPageToken`` for
``(<jql>) AND updated >= <epoch ms> ORDER BY updated ASC``. JQL has minute precision and the index is
eventually consistent, so the window starts ``overlap`` before the last ``updated`` seen; the issues of
that overlap already stored with the same ``updated`` are skipped, the rest upserted again (harmless).
Deleted issues just disappear from search, so every ``reconcile_every`` the open issues
(``(<jql>) AND statusCategory != Done``) are listed by **id** (the one thing the enhanced search always
answers; ``fields=key`` is asked, and ids that still come without a key are resolved by a bulk read).
A stored open issue absent from the listing is only a suspect: the framework has ``confirm_absent`` read
each one directly (``GET /rest/api/3/issue/{key}``): 404 -> deleted; still selected by the JQL (the
listing lagged, or it is Done now) -> updated as read; exists but the JQL no longer selects it (moved to
another project) -> ``moved``, out of the backlog. A malformed listing page deletes nothing.

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
- SLA outcomes (``Sla.targets``, kept once solved): per named SLA field, breached if any cycle
  (``completedCycles`` or ``ongoingCycle``) breached, undecided while a cycle runs, else met, fulfilled
  at the last completed cycle's ``stopTime``; a field without cycles (or null) records nothing.
- id: the issue key; group: the first component; assignee: displayName; tags: labels; channel: web
  for a JSM request (a request type is set), else other; solved_at: resolutiondate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from backlog_watch import (
    Channel,
    Confirmation,
    Cursor,
    Duration,
    HelpdeskSettings,
    HttpConnector,
    OverlapWindow,
    Page,
    PaginationError,
    PendingSla,
    PeriodicCheck,
    Priority,
    RequestError,
    Sla,
    SlaKind,
    Status,
    Ticket,
    basic_auth,
    chunked,
    inverted,
    json_object,
    listed_ids,
    mapped,
    paginate,
    read_cursor,
    seconds_until,
    utc_time,
    write_cursor,
)
from backlog_watch import SlaTarget as TargetOutcome

log = logging.getLogger(__name__)

SEARCH_PATH = "/rest/api/3/search/jql"
MYSELF_PATH = "/rest/api/3/myself"
FIELDS_PATH = "/rest/api/3/field"
ISSUE_PATH = "/rest/api/3/issue/{}"
BULK_PATH = "/rest/api/3/issue/bulkfetch"
BULK_SIZE, KEY_IN_SIZE = 100, 50
SLA_SCHEMA = "com.atlassian.servicedesk:sd-sla-field"
REQUEST_TYPE_SCHEMA = "com.atlassian.servicedesk:vp-origin"
_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
"""Jira's issue key: the project key (capitals, digits, _), a dash, the issue number."""
BASE_FIELDS = (
    "summary",
    "status",
    "priority",
    "assignee",
    "created",
    "updated",
    "resolutiondate",
    "labels",
    "components",
)
SlaTarget = Literal["first_response_due", "next_reply_due", "resolution_due"]

STATUS_NAMES: Mapping[str, Status] = inverted(
    {
        Status.PENDING: ("waiting for customer", "pending customer"),
        Status.ON_HOLD: ("pending", "waiting for third party", "waiting for vendor", "on hold"),
        Status.CLOSED: ("closed", "canceled", "cancelled", "declined", "won't do"),
    }
)
CATEGORIES: Mapping[str, Status] = {"new": Status.NEW, "indeterminate": Status.OPEN, "done": Status.SOLVED}
PRIORITIES: Mapping[str, Priority] = inverted(
    {
        Priority.URGENT: ("highest", "blocker", "critical"),
        Priority.HIGH: ("high", "major"),
        Priority.NORMAL: ("medium",),
        Priority.LOW: ("low", "lowest", "minor", "trivial"),
    }
)
DEFAULT_SLA_FIELDS: Mapping[str, SlaTarget] = {
    "Time to first response": "first_response_due",
    "Time to resolution": "resolution_due",
}
TARGET_KINDS: Mapping[SlaTarget, SlaKind] = {
    "first_response_due": SlaKind.FIRST_RESPONSE,
    "next_reply_due": SlaKind.NEXT_REPLY,
    "resolution_due": SlaKind.RESOLUTION,
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
    listing_page_size: ClassVar[int] = 5000
    """Issues per page of the reconciliation listing (search's ceiling for an id/key-only answer)."""
    settings: JiraSettings

    def setup(self) -> None:
        self.sla_names: dict[str, str] = {}
        """SLA field id -> its name, learnt from /field."""
        self.request_type_field: str | None = None
        self._sla_targets: tuple[tuple[str, SlaTarget | None], ...] = ()
        """(SLA field id, the due field it sets: None when sla_fields does not name it), worked out once."""
        self._checked = False
        self._unknown_priorities: set[str] = set()
        self._listed_ids: frozenset[str] = frozenset()
        """The issue ids of the last reconciliation listing: an absent key whose issue id is here is fine."""

    # ---- HttpConnector hooks ------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        if self.settings.bearer_token is not None:
            return {"Authorization": f"Bearer {self.settings.bearer_token.get_secret_value()}"}
        assert self.settings.email is not None and self.settings.token is not None  # the validator's pair
        return basic_auth(self.settings.email, self.settings.token)

    def error_text(self, response: httpx.Response) -> str:
        """``{"errorMessages": [...], "errors": {field: message}}``, or servicedesk's ``errorMessage``."""
        body = self.error_body(response)
        if body is None:
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
        cold: dict[str, Any] = {"updated": None, "seen": {}, "reconciled": None}
        window, reconciled = read_cursor(since, self._window, self.helpdesk) if since else self._window(cold)
        await self._prepare()
        jql = f"({self.settings.jql})"
        if window.start is not None:
            jql += f" AND updated >= {window.start}"
        last = since
        check = PeriodicCheck(reconciled, self.settings.reconcile_every, self.wall)
        async for issues in self._search(jql + " ORDER BY updated ASC", self._fields()):
            fresh = window.fresh(issues, _key_and_stamp)
            if not fresh:
                continue
            cursor = self._cursor(window, reconciled if since else check.started)
            yield Page(records=fresh, cursor=None if cursor == last else cursor)
            last = cursor
        if not since:  # a cold sync lists everything: it counts as a reconciliation
            check.done()
        open_ids, problem = None, None
        if check.due:
            open_ids, problem = await listed_ids(self._open_keys(), "the open-issue listing")
            check.done()
        yield Page(
            records=[], cursor=self._cursor(window, check.last), done=True, open_ids=open_ids, listing_problem=problem
        )

    def _window(self, state: Mapping[str, Any]) -> tuple[OverlapWindow, float | None]:
        """The window and the last reconciliation of a cursor's JSON."""
        seen = {str(k): int(v) for k, v in state["seen"].items()}
        overlap = int(self.settings.overlap.total_seconds() * 1000)
        return OverlapWindow(state["updated"], seen, overlap), state["reconciled"]

    def _cursor(self, window: OverlapWindow, reconciled: float | None) -> Cursor:
        return write_cursor({"updated": window.newest, "seen": window.pruned(), "reconciled": reconciled})

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
        named = {name.casefold(): target for name, target in self.settings.sla_fields.items()}
        self._sla_targets = tuple((field_id, named.get(name.casefold())) for field_id, name in self.sla_names.items())

    def _fields(self) -> str:
        extra = [*self.sla_names, *([self.request_type_field] if self.request_type_field else [])]
        return ",".join([*BASE_FIELDS, *extra])

    async def _search(
        self, jql: str, fields: str, size: int | None = None, *, strict: bool = False, consistent: str = ""
    ) -> AsyncIterator[list[Any]]:
        """The pages of a search; ``strict``: an empty page that is not the last is malformed;
        ``consistent``: issue ids (comma-separated) to read past the index's lag (``reconcileIssues``)."""

        async def page_at(token: str | None) -> tuple[list[Any], str | None]:
            params: dict[str, str | int] = {"jql": jql, "fields": fields, "maxResults": size or self.settings.page_size}
            if token:
                params["nextPageToken"] = token
            if consistent:
                params["reconcileIssues"] = consistent
            body = json_object(await self.request("GET", SEARCH_PATH, params=params), self.helpdesk)
            if not isinstance(body.get("issues"), list):
                raise PaginationError("search/jql did not answer {issues: [...]}", helpdesk=self.helpdesk)
            following = body.get("nextPageToken")
            last = not following or body.get("isLast") is True
            if strict and not body["issues"] and not last:
                raise PaginationError("search/jql answered an empty page that is not the last", helpdesk=self.helpdesk)
            return body["issues"], None if last else str(following)

        async for issues in paginate(page_at, helpdesk=self.helpdesk, what="search/jql nextPageToken"):
            yield issues

    async def _open_keys(self) -> frozenset[str]:
        """The keys of the open issues, listed by id: ids answered without a key are resolved by a bulk
        read. Raises PaginationError on a malformed page (an entry without an id, an empty middle page)."""
        ids: set[str] = set()
        keys: dict[str, str] = {}
        jql = f"({self.settings.jql}) AND statusCategory != Done"
        async for issues in self._search(jql, "key", self.listing_page_size, strict=True):
            for issue in issues:
                issue_id = issue.get("id") if isinstance(issue, Mapping) else None
                if not isinstance(issue_id, str | int) or isinstance(issue_id, bool) or not str(issue_id):
                    raise PaginationError(
                        f"search/jql listed an issue without an id: {issue!r:.80}", helpdesk=self.helpdesk
                    )
                ids.add(str(issue_id))
                if isinstance(issue.get("key"), str) and issue["key"]:
                    keys[str(issue_id)] = issue["key"]
        for issue in await self._bulk_read(sorted(ids - keys.keys()), ["key"]):
            keys[str(issue["id"])] = str(issue["key"])
        self._listed_ids = frozenset(ids)
        return frozenset(keys[i] for i in ids if i in keys)

    async def _bulk_read(self, ids_or_keys: Sequence[str], fields: list[str]) -> list[Mapping[str, Any]]:
        """``POST /issue/bulkfetch``, 100 at a time: the issues found (a deleted one is not returned)."""
        found: list[Mapping[str, Any]] = []
        for chunk in chunked(ids_or_keys, BULK_SIZE):
            query = {"issueIdsOrKeys": list(chunk), "fields": fields}
            body = (await self.request("POST", BULK_PATH, json=query)).json()
            issues = body.get("issues") if isinstance(body, Mapping) else None
            found += [i for i in issues or [] if isinstance(i, Mapping) and i.get("id") and i.get("key")]
        return found

    async def confirm_absent(self, ids: Sequence[str]) -> Confirmation:
        """Read each absent issue by its stored key: 404 is a deletion; an issue whose id the listing
        has, or that the JQL still selects, is still in the queue; any other has left it."""
        paths = {key: ISSUE_PATH.format(key) for key in ids}
        gone, bodies = await self.read_each(paths, params={"fields": self._fields()})
        read = {k: b for k, b in bodies.items() if isinstance(b, Mapping) and b.get("id") and b.get("key")}
        listed = {k for k, raw in read.items() if str(raw["id"]) in self._listed_ids}
        selected = self._listed_ids | await self._selected([raw for k, raw in read.items() if k not in listed])
        present = [raw for raw in read.values() if str(raw["id"]) in selected]
        left = {k: raw for k, raw in read.items() if raw["key"] != k or str(raw["id"]) not in selected}
        return Confirmation(gone=gone, present=present, left=left)

    async def _selected(self, issues_read: Sequence[Mapping[str, Any]]) -> set[str]:
        """The ids of ``issues_read`` that the queue's JQL selects now (whatever their status), read
        past the index's lag: an issue changed a moment ago must not look moved."""
        selected = set[str]()
        for chunk in chunked(issues_read, KEY_IN_SIZE):
            jql = f"({self.settings.jql}) AND key in ({', '.join(str(i['key']) for i in chunk)})"
            async for issues in self._search(jql, "key", consistent=",".join(str(i["id"]) for i in chunk)):
                selected.update(str(i["id"]) for i in issues if isinstance(i, Mapping) and i.get("id"))
        return selected

    # ---- normalize ----------------------------------------------------------------------------

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        key, fields, issue_id = raw["key"], raw["fields"], raw.get("id")
        if not isinstance(key, str) or not _ISSUE_KEY.match(key):
            raise ValueError(f"key {key!r} is not a Jira issue key (PROJECT-123)")
        if issue_id is not None and not (isinstance(issue_id, str) and issue_id.isdecimal()):
            raise ValueError(f"id {issue_id!r} is not a Jira issue id (digits)")
        status = self.status_of(fields["status"])
        created_at = utc_time(fields["created"])
        updated_at = utc_time(fields["updated"]) if fields.get("updated") else created_at
        resolved = fields.get("resolutiondate")
        components = fields.get("components") or []
        assignee = fields.get("assignee")
        return Ticket.trusted(
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
            solved_at=(utc_time(resolved) if resolved else updated_at)
            if status in (Status.SOLVED, Status.CLOSED)
            else None,
            sla=self.sla_of(fields) if status.is_open else Sla.trusted(targets=self.sla_targets(fields)),
            url=f"{self.settings.url}/browse/{key}",
        )

    def status_of(self, status: Mapping[str, Any]) -> Status:
        name = str(status["name"])
        category = str(status["statusCategory"]["key"]).lower()
        overrides = self.settings.status_map
        found = mapped(name, overrides, STATUS_NAMES, casefold=True)
        found = found or mapped(category, overrides, CATEGORIES, casefold=True)
        if found is None:
            raise ValueError(f"status {name!r} has unknown category {category!r} (map it with status_map)")
        return found

    def priority_of(self, priority: Any) -> Priority:
        if priority is None:
            return Priority.NONE
        name = str(priority["name"])
        found = mapped(name, self.settings.priority_map, PRIORITIES, casefold=True)
        if found is None:
            if name not in self._unknown_priorities:
                self._unknown_priorities.add(name)
                log.warning(
                    "priority %r is not mapped: counted as none (map it with priority_map)",
                    name,
                    extra={"helpdesk": self.helpdesk},
                )
            return Priority.NONE
        return found

    def sla_of(self, fields: Mapping[str, Any]) -> Sla:
        """The SLA of an issue's fields: due dates from the named SLA fields' ongoing cycles."""
        pending = PendingSla()
        for field_id, target in self._sla_targets:
            cycle = fields.get(field_id, None)
            ongoing = cycle.get("ongoingCycle") if isinstance(cycle, Mapping) else None
            if not isinstance(ongoing, Mapping):
                continue
            breached = ongoing.get("breached") is True
            if ongoing.get("paused") is True:
                pending.paused(breached=breached)
                continue
            breach = ongoing.get("breachTime")
            due = _breach_time(breach) if isinstance(breach, Mapping) else None
            pending.running(target, due, breached=breached)
        return pending.sla(self.sla_targets(fields))

    def sla_targets(self, fields: Mapping[str, Any]) -> tuple[TargetOutcome, ...]:
        """Each named SLA field's outcome: breached if any cycle breached, undecided while a cycle runs,
        else met at the last completed cycle's stop. A field without cycles says nothing."""
        found = []
        for field_id, target in self._sla_targets:
            value = fields.get(field_id)
            if target is None or not isinstance(value, Mapping):
                continue
            completed = [c for c in value.get("completedCycles") or () if isinstance(c, Mapping)]
            ongoing = value.get("ongoingCycle")
            cycles = completed + ([ongoing] if isinstance(ongoing, Mapping) else [])
            if not cycles:
                continue
            last = cycles[-1]
            due = _breach_time(last["breachTime"]) if isinstance(last.get("breachTime"), Mapping) else None
            stop = last.get("stopTime") if last is not ongoing else None
            met: bool | None = None
            if any(c.get("breached") is True for c in cycles):
                met = False
            elif last is not ongoing:
                met = True
            fulfilled = _breach_time(stop) if isinstance(stop, Mapping) else None
            found.append(TargetOutcome.trusted(kind=TARGET_KINDS[target], due=due, met=met, fulfilled_at=fulfilled))
        return tuple(found)

    async def assign(self, ticket_id: str, agent_email: str) -> str:
        """The user found by email (user/search), then PUT the issue's assignee by ``accountId``."""
        response = await self.request("GET", "/rest/api/3/user/search", params={"query": agent_email})
        users = response.json()
        user = (
            next(
                (
                    u
                    for u in users
                    if isinstance(u, Mapping) and str(u.get("emailAddress", "")).lower() == agent_email.lower()
                ),
                None,
            )
            if isinstance(users, list)
            else None
        )
        if user is None:  # Jira hides emails by privacy setting: a match by email is then impossible
            raise RequestError(f"no Jira user shows the email {agent_email}", helpdesk=self.helpdesk, status=404)
        await self.request("PUT", f"/rest/api/3/issue/{ticket_id}/assignee", json={"accountId": user["accountId"]})
        return str(user.get("displayName") or agent_email)


# ---- pure helpers ------------------------------------------------------------------------------


def _key_and_stamp(raw: Any) -> tuple[str, int] | None:
    try:
        return str(raw["key"]), int(utc_time(raw["fields"]["updated"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return None


def _breach_time(value: Mapping[str, Any]) -> datetime:
    if isinstance(value.get("epochMillis"), int):
        return datetime.fromtimestamp(value["epochMillis"] / 1000, UTC)
    return utc_time(value.get("iso8601") or value["jira"])
