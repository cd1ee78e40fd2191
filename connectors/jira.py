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
import msgspec
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
    SlaRow,
    SlaTargetRow,
    Status,
    StoredTicket,
    basic_auth,
    chunked,
    inverted,
    json_object,
    listed_ids,
    mapped,
    paginate,
    read_cursor,
    seconds_until,
    stored_row,
    typed_json,
    utc_time,
    wire_record,
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


# ---- the wire: what normalize reads of an issue, decoded straight from the search page --------------
# The fields object holds the site's own custom fields (SLA fields, the request type), so its type is
# built once the fields are learnt (``wire_types``); every field is optional in it, and ``_ticket`` says
# which it requires. Values stay Any where the vendor's type varies and normalize checks them.


class JiraCategory(msgspec.Struct, gc=False):
    key: Any = None


class JiraStatus(msgspec.Struct, gc=False):
    name: Any = None
    category: JiraCategory | None = msgspec.field(default=None, name="statusCategory")


class JiraNamed(msgspec.Struct, gc=False):
    """A priority or a component: what is read of it is its name."""

    name: Any = None


class JiraUser(msgspec.Struct, gc=False):
    display_name: Any = msgspec.field(default=None, name="displayName")


class JiraTime(msgspec.Struct, gc=False):
    """A JSM SLA time: ``epochMillis``, else the ISO ``iso8601`` or ``jira`` form."""

    epoch_millis: Any = msgspec.field(default=None, name="epochMillis")
    iso8601: Any = None
    jira: Any = None


class JiraCycle(msgspec.Struct, gc=False):
    breached: Any = None
    paused: Any = None
    breach_time: JiraTime | None = msgspec.field(default=None, name="breachTime")
    stop_time: JiraTime | None = msgspec.field(default=None, name="stopTime")


class JiraSlaField(msgspec.Struct, gc=False):
    completed: list[JiraCycle] | None = msgspec.field(default=None, name="completedCycles")
    ongoing: JiraCycle | None = msgspec.field(default=None, name="ongoingCycle")


BASE_WIRE_FIELDS: list[tuple[str, Any, Any]] = [
    ("summary", Any, None),
    ("status", JiraStatus | None, None),
    ("priority", JiraNamed | None, None),
    ("assignee", JiraUser | None, None),
    ("created", Any, None),
    ("updated", Any, None),
    ("resolutiondate", Any, None),
    ("labels", Any, None),
    ("components", list[JiraNamed] | None, None),
]
REQUEST_TYPE = "request_type"


def sla_attribute(index: int) -> str:
    """The wire type's attribute of the ``index``-th SLA field learnt (its JSON name is the field id)."""
    return f"sla_{index}"


def wire_types(
    sla_ids: Sequence[str], request_type_field: str | None
) -> tuple[type[Any], type[Any], msgspec.json.Decoder[Any]]:
    """The issue type and its fields type for a site whose SLA fields and request-type field are these,
    and the decoder of its search pages."""
    fields: list[tuple[str, Any, Any]] = [*BASE_WIRE_FIELDS]
    rename = {}
    for index, field_id in enumerate(sla_ids):
        fields.append((sla_attribute(index), JiraSlaField | None, None))
        rename[sla_attribute(index)] = field_id
    if request_type_field is not None:
        fields.append((REQUEST_TYPE, Any, None))
        rename[REQUEST_TYPE] = request_type_field
    fields_type = msgspec.defstruct("JiraFields", fields, rename=rename, kw_only=True, gc=False)
    issue = [("key", Any, None), ("id", Any, None), ("fields", fields_type | None, None)]
    issue_type = msgspec.defstruct("JiraIssue", issue, kw_only=True, gc=False)
    page_type = msgspec.defstruct(
        "JiraSearchPage",
        [("issues", list[issue_type]), ("next_page_token", Any, None), ("is_last", Any, None)],  # type: ignore[valid-type]
        rename={"next_page_token": "nextPageToken", "is_last": "isLast"},
        kw_only=True,
        gc=False,
    )
    return issue_type, fields_type, msgspec.json.Decoder(page_type)


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
    wire_record: type[Any]

    def setup(self) -> None:
        self.sla_names: dict[str, str] = {}
        """SLA field id -> its name, learnt from /field."""
        self.request_type_field: str | None = None
        self._sla_targets: tuple[tuple[str, SlaTarget | None], ...] = ()
        """(the wire type's attribute of an SLA field, the due field it sets: None when sla_fields does
        not name it), worked out once."""
        self.wire_record, self._fields_type, self._pages = wire_types((), None)
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
        async for issues in self._search(jql + " ORDER BY updated ASC", self._fields(), typed=True):
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
        self._sla_targets = tuple(
            (sla_attribute(index), named.get(name.casefold())) for index, name in enumerate(self.sla_names.values())
        )
        self.wire_record, self._fields_type, self._pages = wire_types(list(self.sla_names), self.request_type_field)

    def _fields(self) -> str:
        extra = [*self.sla_names, *([self.request_type_field] if self.request_type_field else [])]
        return ",".join([*BASE_FIELDS, *extra])

    async def _search(
        self,
        jql: str,
        fields: str,
        size: int | None = None,
        *,
        strict: bool = False,
        consistent: str = "",
        typed: bool = False,
    ) -> AsyncIterator[list[Any]]:
        """The pages of a search; ``strict``: an empty page that is not the last is malformed;
        ``consistent``: issue ids (comma-separated) to read past the index's lag (``reconcileIssues``);
        ``typed``: the issues as the wire type (``wire_types``) normalize reads, else as JSON objects."""

        async def page_at(token: str | None) -> tuple[list[Any], str | None]:
            params: dict[str, str | int] = {"jql": jql, "fields": fields, "maxResults": size or self.settings.page_size}
            if token:
                params["nextPageToken"] = token
            if consistent:
                params["reconcileIssues"] = consistent
            response = await self.request("GET", SEARCH_PATH, params=params)
            if typed:
                page = typed_json(response, self._pages, self.helpdesk, self._lenient)
                issues, following, is_last = page.issues, page.next_page_token, page.is_last
            else:
                body = json_object(response, self.helpdesk)
                issues, following, is_last = body.get("issues"), body.get("nextPageToken"), body.get("isLast")
            if not isinstance(issues, list):
                raise PaginationError("search/jql did not answer {issues: [...]}", helpdesk=self.helpdesk)
            last = not following or is_last is True
            if strict and not issues and not last:
                raise PaginationError("search/jql answered an empty page that is not the last", helpdesk=self.helpdesk)
            return issues, None if last else str(following)

        async for issues in paginate(page_at, helpdesk=self.helpdesk, what="search/jql nextPageToken"):
            yield issues

    def _lenient(self, response: httpx.Response) -> Any:
        """A search page with an issue of an unexpected shape, issue by issue (that one is normalize's to skip)."""
        body = json_object(response, self.helpdesk)
        issues = body.get("issues")
        records = [wire_record(i, self.wire_record) for i in issues] if isinstance(issues, list) else issues
        return self._pages.type(issues=records, next_page_token=body.get("nextPageToken"), is_last=body.get("isLast"))

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

    def _row(self, raw: Any) -> StoredTicket:
        key, fields, issue_id = raw.key, _required(raw.fields, "fields"), raw.id
        if not isinstance(key, str) or not _ISSUE_KEY.match(key):
            raise ValueError(f"key {key!r} is not a Jira issue key (PROJECT-123)")
        if issue_id is not None and not (isinstance(issue_id, str) and issue_id.isdecimal()):
            raise ValueError(f"id {issue_id!r} is not a Jira issue id (digits)")
        status = self.status_of(_required(fields.status, "status"))
        created_at = utc_time(_required(fields.created, "created"))
        updated_at = utc_time(fields.updated) if fields.updated else created_at
        resolved = fields.resolutiondate
        components = fields.components
        assignee = fields.assignee
        return stored_row(
            helpdesk=self.helpdesk,
            id=key,
            subject=str(fields.summary or ""),
            status=status,
            priority=self.priority_of(fields.priority),
            channel=Channel.WEB if self.request_type_field and getattr(fields, REQUEST_TYPE) else Channel.OTHER,
            group=str(_required(components[0].name, "name")) if components else None,
            assignee=str(_required(assignee.display_name, "displayName")) if assignee is not None else None,
            tags=tuple(str(label) for label in fields.labels or ()),
            created_at=created_at,
            updated_at=updated_at,
            solved_at=(utc_time(resolved) if resolved else updated_at)
            if status in (Status.SOLVED, Status.CLOSED)
            else None,
            sla=self.sla_row(fields) if status.is_open else SlaRow(targets=self.target_rows(fields)),
            url=f"{self.settings.url}/browse/{key}",
        )

    def status_of(self, status: JiraStatus) -> Status:
        name = str(_required(status.name, "name"))
        category = str(_required(_required(status.category, "statusCategory").key, "key")).lower()
        overrides = self.settings.status_map
        found = mapped(name, overrides, STATUS_NAMES, casefold=True)
        found = found or mapped(category, overrides, CATEGORIES, casefold=True)
        if found is None:
            raise ValueError(f"status {name!r} has unknown category {category!r} (map it with status_map)")
        return found

    def priority_of(self, priority: JiraNamed | None) -> Priority:
        if priority is None:
            return Priority.NONE
        name = str(_required(priority.name, "name"))
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

    def fields_of(self, fields: Any) -> Any:
        """An issue's fields as the wire type: as decoded, or converted from a JSON object."""
        return fields if isinstance(fields, msgspec.Struct) else msgspec.convert(fields, self._fields_type)

    def sla_of(self, fields: Any) -> Sla:
        """The SLA of an issue's fields (the wire type, or a JSON object): due dates from the named SLA
        fields' ongoing cycles."""
        return self.sla_row(fields).model()

    def sla_targets(self, fields: Any) -> tuple[TargetOutcome, ...]:
        """Each named SLA field's outcome (``target_rows``), as the models."""
        return SlaRow(targets=self.target_rows(fields)).model().targets

    def sla_row(self, fields: Any) -> SlaRow:
        """``sla_of``, as a row holds it."""
        fields = self.fields_of(fields)
        pending = PendingSla()
        for attribute, target in self._sla_targets:
            value: JiraSlaField | None = getattr(fields, attribute)
            ongoing = value.ongoing if value is not None else None
            if ongoing is None:
                continue
            breached = ongoing.breached is True
            if ongoing.paused is True:
                pending.paused(breached=breached)
                continue
            due = _breach_time(ongoing.breach_time) if ongoing.breach_time is not None else None
            pending.running(target, due, breached=breached)
        return pending.row(self.target_rows(fields))

    def target_rows(self, fields: Any) -> tuple[SlaTargetRow, ...]:
        """Each named SLA field's outcome: breached if any cycle breached, undecided while a cycle runs,
        else met at the last completed cycle's stop. A field without cycles says nothing."""
        fields = self.fields_of(fields)
        found = []
        for attribute, target in self._sla_targets:
            value: JiraSlaField | None = getattr(fields, attribute)
            if target is None or value is None:
                continue
            ongoing = value.ongoing
            cycles = [*(value.completed or ()), *([ongoing] if ongoing is not None else [])]
            if not cycles:
                continue
            last = cycles[-1]
            due = _breach_time(last.breach_time) if last.breach_time is not None else None
            stop = last.stop_time if last is not ongoing else None
            met: bool | None = None
            if any(c.breached is True for c in cycles):
                met = False
            elif last is not ongoing:
                met = True
            fulfilled = _breach_time(stop) if stop is not None else None
            found.append(SlaTargetRow(kind=TARGET_KINDS[target], due=due, met=met, fulfilled_at=fulfilled))
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
        if isinstance(raw, Mapping):  # an issue the wire type could not read: normalize skips it
            key, updated = raw["key"], raw["fields"]["updated"]
        else:
            key, updated = raw.key, raw.fields.updated
        return str(key), int(utc_time(updated).timestamp() * 1000)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _breach_time(value: JiraTime) -> datetime:
    if isinstance(value.epoch_millis, int):
        return datetime.fromtimestamp(value.epoch_millis / 1000, UTC)
    return utc_time(_required(value.iso8601 or value.jira, "jira"))


def _required(value: Any, key: str) -> Any:
    """``value``, or the KeyError a missing ``key`` is (normalize: "missing 'status'")."""
    if value is None:
        raise KeyError(key)
    return value
