"""Freshdesk (API v2): the ticket list by ``updated_since``, SLA fields, group and agent names.

``fetch`` lists ``/api/v2/tickets?updated_since=...&order_by=updated_at&order_type=asc&per_page=100``
page by page (following ``Link: rel="next"``). Freshdesk refuses pages past 300, so at the cap the
window restarts from the last ``updated_at`` seen. Each window starts one second before that time
(whether ``updated_since`` is inclusive is not confirmed) and the tickets already seen at that second
are skipped by id, so ties on one second are neither lost nor repeated. Deleted tickets leave the list;
every ``deleted_every`` the same listing with ``filter=deleted`` brings them back as deleted.

The cursor is JSON (the framework stores it with the page it follows)::

    {"updated_since": "2024-05-06T14:28:01Z", "ids": [17, 42],          # last second seen, ids at it
     "deleted_since": "2024-05-06T14:00:00Z", "deleted_ids": [9],       # the same for filter=deleted
     "deleted_checked": 1715005681.0}                                   # when deletions were last listed

Mappings (defaults; ``status_map`` / ``priority_map`` override them by code, e.g. ``"8": on_hold``, or
for statuses by the label agents see, e.g. ``"Awaiting approval": on_hold``):

- status: 2 open, 3 pending, 4 solved (Resolved), 5 closed; custom statuses by their label (read from
  ``ticket_fields``): "Waiting on Customer" -> pending, "Waiting on Third Party" -> on_hold (also the
  default for codes 6 and 7); ``deleted: true`` or ``spam: true`` -> deleted.
- priority: 1 low, 2 normal (Medium), 3 high, 4 urgent.
- channel (source): 1 email, 2 portal -> web, 3 phone, 7 chat, 9 feedback widget -> web, 10 outbound
  email -> email; others -> other.
- SLA: ``fr_due_by`` -> first_response_due until the first response (``stats.first_responded_at``);
  ``nr_due_by`` -> next_reply_due; ``due_by`` -> resolution_due; none once solved or closed.
  ``breached``: ``fr_escalated``, ``is_escalated`` or ``nr_escalated``; ``paused``: pending or on hold.
- SLA outcomes (``Sla.targets``, kept once solved): first response (``fr_due_by``, fulfilled at
  ``stats.first_responded_at``), next reply (``nr_due_by``), resolution (``due_by``, fulfilled at
  ``stats.resolved_at`` / ``closed_at``). Its escalation flag marks a target breached; otherwise a
  fulfilled stamp decides by its due date, and a solved ticket whose resolution was never escalated
  met it (Freshdesk escalates an unresolved ticket at ``due_by``). Anything else is undecided.
- group and assignee (``group_id``, ``responder_id``): names from ``/groups`` and ``/agents``, cached and
  fetched again (once per poll) when an unknown id appears.
- solved_at: ``stats.resolved_at`` / ``closed_at``, else ``updated_at`` for a solved or closed ticket.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
import msgspec
from pydantic import Field, SecretStr

from backlog_watch import (
    Channel,
    Cursor,
    Duration,
    HelpdeskSettings,
    HttpConnector,
    NameCache,
    Page,
    PaginationError,
    PeriodicCheck,
    Priority,
    RequestError,
    SlaKind,
    SlaRow,
    SlaTargetRow,
    Status,
    StoredTicket,
    UpdatedWindow,
    basic_auth,
    ids_of,
    json_array,
    names_by_id,
    next_link,
    optional_time,
    positive_id,
    read_cursor,
    stored_row,
    typed_json,
    utc_stamp,
    utc_time,
    wire_record,
    write_cursor,
)

log = logging.getLogger(__name__)

TICKETS_PATH = "/api/v2/tickets"
GROUPS_PATH = "/api/v2/groups"
AGENTS_PATH = "/api/v2/agents"
FIELDS_PATH = "/api/v2/ticket_fields"
ONE_SECOND = timedelta(seconds=1)

STATUSES: Mapping[int, Status] = {
    2: Status.OPEN,
    3: Status.PENDING,
    4: Status.SOLVED,
    5: Status.CLOSED,
    6: Status.PENDING,
    7: Status.ON_HOLD,
}
STATUS_LABELS: Mapping[str, Status] = {
    "open": Status.OPEN,
    "pending": Status.PENDING,
    "resolved": Status.SOLVED,
    "closed": Status.CLOSED,
    "waiting on customer": Status.PENDING,
    "waiting on third party": Status.ON_HOLD,
}
PRIORITIES: Mapping[int, Priority] = {1: Priority.LOW, 2: Priority.NORMAL, 3: Priority.HIGH, 4: Priority.URGENT}
CHANNELS: Mapping[int, Channel] = {
    1: Channel.EMAIL,
    2: Channel.WEB,
    3: Channel.PHONE,
    7: Channel.CHAT,
    9: Channel.WEB,
    10: Channel.EMAIL,
}


class FreshdeskSettings(HelpdeskSettings):
    """A Freshdesk helpdesk block: the API key, where the first listing starts, the list's own limit."""

    type: Literal["freshdesk"] = "freshdesk"
    api_key: SecretStr
    updated_since: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Where the first sync starts (without it Freshdesk lists only the last 30 days' tickets)."""
    per_page: int = Field(default=100, ge=1, le=100)
    include_stats: bool = True
    """``include=stats`` (2 more credits a request): the first response and resolution times."""
    list_requests_per_minute: int = Field(default=20, ge=1)
    """The ticket list's own limit, which the rate headers do not show: 20 on Growth, 100 on Pro, 200 on
    Enterprise."""
    deleted_every: Duration = timedelta(minutes=15)
    """How often deleted tickets are listed (``filter=deleted``), to take them out of the backlog."""
    resolve_names: bool = True


@dataclass
class FreshdeskCursor:
    """What the JSON cursor holds (see the module docstring)."""

    updated: UpdatedWindow
    deleted: UpdatedWindow
    deleted_checked: float | None = None

    @classmethod
    def load(cls, data: Any) -> FreshdeskCursor:
        return cls(
            UpdatedWindow(utc_time(data["updated_since"]), {str(i) for i in data.get("ids", [])}),
            UpdatedWindow(utc_time(data["deleted_since"]), {str(i) for i in data.get("deleted_ids", [])}),
            data.get("deleted_checked"),
        )

    def dump(self) -> Cursor:
        return write_cursor(
            {
                "updated_since": utc_stamp(self.updated.since),
                "ids": self.updated.sorted_ids(),
                "deleted_since": utc_stamp(self.deleted.since),
                "deleted_ids": self.deleted.sorted_ids(),
                "deleted_checked": self.deleted_checked,
            }
        )


# ---- the wire: what normalize reads of a ticket, decoded straight from the list page --------------
# Values stay Any where the vendor's type varies (codes, times) and ``_ticket`` checks them.


class FreshdeskStats(msgspec.Struct, gc=False):
    """``include=stats``: when the ticket was first answered, resolved, closed."""

    first_responded_at: Any = None
    resolved_at: Any = None
    closed_at: Any = None


class FreshdeskTicket(msgspec.Struct, gc=False):
    """A ticket as the list gives it: the fields ``_ticket`` reads."""

    id: Any
    created_at: Any
    status: Any = None
    updated_at: Any = None
    subject: Any = None
    priority: Any = None
    source: Any = None
    group_id: Any = None
    responder_id: Any = None
    tags: Any = None
    deleted: Any = None
    spam: Any = None
    fr_due_by: Any = None
    nr_due_by: Any = None
    due_by: Any = None
    fr_escalated: Any = None
    nr_escalated: Any = None
    is_escalated: Any = None
    stats: FreshdeskStats | None = None


TICKETS = msgspec.json.Decoder(list[FreshdeskTicket])
NO_STATS = FreshdeskStats()


class FreshdeskConnector(HttpConnector):
    """Freshdesk through the ticket list ordered by ``updated_at``."""

    kind: ClassVar[str] = "freshdesk"
    Settings: ClassVar[type[HelpdeskSettings]] = FreshdeskSettings
    listing_path: ClassVar[str | None] = TICKETS_PATH
    settings: FreshdeskSettings
    wire_record: type[Any] | None = FreshdeskTicket
    max_page: int = 300
    """Freshdesk refuses page 301: the window restarts before it (and when refused anyway)."""

    def setup(self) -> None:
        self.groups = NameCache()
        self.agents = NameCache()
        self.status_labels: dict[str, str] = {}
        """Status code -> the label agents see (custom statuses), from ``ticket_fields``."""
        self._labels_asked = False

    # ---- HttpConnector hooks ------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return basic_auth(self.settings.api_key, "X")

    def error_text(self, response: httpx.Response) -> str:
        """``{"description": "Validation failed", "errors": [{field, message}]}`` or ``{code, message}``."""
        body = self.error_body(response)
        if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
            details = [f"{e.get('field')}: {e.get('message')}" for e in body["errors"] if isinstance(e, Mapping)]
            return "; ".join([str(body.get("description") or "invalid request"), *details])
        if isinstance(body, Mapping) and body.get("message"):
            return f"{body.get('code') or 'error'}: {body['message']}"
        return super().error_text(response)

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Wait out the minute when the credits left cannot pay for another request like this one."""
        try:
            remaining = int(response.headers["x-ratelimit-remaining"])
            cost = int(response.headers.get("x-ratelimit-used-currentrequest", 1))
        except (KeyError, ValueError):
            return None
        return self.default_reset if remaining < max(1, cost) else None

    def request_rate(self, path: str) -> tuple[int, float] | None:
        return (self.settings.list_requests_per_minute, 60.0) if path == TICKETS_PATH else None

    # ---- fetch --------------------------------------------------------------------------------

    async def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        """Yield the pages with tickets changed since ``since``; deleted ones when a check is due."""
        start = self.settings.updated_since
        state = (
            read_cursor(since, FreshdeskCursor.load, self.helpdesk)
            if since
            else FreshdeskCursor(UpdatedWindow(start), UpdatedWindow(start))
        )
        for cache in (self.groups, self.agents):
            cache.new_poll()
        self._labels_asked = False
        last = since
        check = PeriodicCheck(state.deleted_checked, self.settings.deleted_every, self.wall)
        for window, deleted in ((state.updated, False), (state.deleted, True))[: 2 if check.due else 1]:
            async for records in self._listing(window, deleted=deleted):
                cursor = state.dump()
                # A page that did not move the position (only unreadable records) keeps the previous one.
                yield Page(records=records, cursor=None if cursor == last else cursor)
                last = cursor
        if check.due:
            state.deleted_checked = check.done()
        yield Page(records=[], cursor=state.dump(), done=True)

    async def _listing(self, window: UpdatedWindow, *, deleted: bool) -> AsyncIterator[list[Mapping[str, Any]]]:
        """The new tickets of the list from ``window``, page by page; ``window`` advances with them."""
        while True:
            start = window.since
            capped = False
            async for page_number, body, more in self._pages(start - ONE_SECOND, deleted):
                fresh = window.fresh(body)
                if fresh:
                    await self._learn(fresh)
                    yield fresh
                capped = more and page_number >= self.max_page
            if not capped:
                return
            if window.since == start:
                raise PaginationError(
                    f"more than {self.max_page} pages of tickets updated at {utc_stamp(start)}: cannot page on",
                    helpdesk=self.helpdesk,
                )
            log.debug(
                "page cap reached: listing again from %s", utc_stamp(window.since), extra={"helpdesk": self.helpdesk}
            )

    async def _pages(self, since: datetime, deleted: bool) -> AsyncIterator[tuple[int, list[Any], bool]]:
        """(page number, tickets, whether more follow) up to the page cap."""
        params: dict[str, str | int] = {
            "updated_since": utc_stamp(since),
            "order_by": "updated_at",
            "order_type": "asc",
            "per_page": self.settings.per_page,
        }
        if self.settings.include_stats:
            params["include"] = "stats"
        if deleted:
            params["filter"] = "deleted"
        page = 0  # the pages read; a refusal is of page + 1
        try:
            async with aclosing(self.pages_of(TICKETS_PATH, params=params)) as pages:
                async for response in pages:
                    page += 1
                    more = next_link(response) is not None
                    yield page, typed_json(response, TICKETS, self.helpdesk, self._lenient), more
                    if page >= self.max_page:
                        return  # the page cap: the listing restarts from the last time seen
        except RequestError as exc:
            if exc.status == 400 and "page" in str(exc) and page >= 1:
                self.max_page = page  # this account's cap is lower than documented
                yield page, [], True
                return
            raise

    def _lenient(self, response: httpx.Response) -> list[Any]:
        """A page with a ticket of an unexpected shape, record by record (that one is normalize's to skip)."""
        return [wire_record(t, FreshdeskTicket) for t in json_array(response, self.helpdesk)]

    async def _learn(self, records: list[Any]) -> None:
        """Fetch the names and status labels the page needs and the caches lack, each at most once a poll."""
        tickets = [t for t in records if isinstance(t, FreshdeskTicket)]
        if self.settings.resolve_names:
            await self.groups.reload_for(ids_of(tickets, "group_id"), lambda: self._names(GROUPS_PATH))
            await self.agents.reload_for(ids_of(tickets, "responder_id"), lambda: self._names(AGENTS_PATH, _agent))
        unknown = {str(t.status) for t in tickets} - self.status_labels.keys() - {"2", "3", "4", "5"}
        if any(code.isdigit() and code not in self.settings.status_map for code in unknown) and not self._labels_asked:
            self._labels_asked = True
            self.status_labels = await self._status_labels()

    async def _names(self, path: str, name_of: Callable[[Mapping[str, Any]], Any] | None = None) -> dict[str, str]:
        names: dict[str, str] = {}
        async for response in self.pages_of(path, params={"per_page": 100}):
            names.update(names_by_id(json_array(response, self.helpdesk), name_of))
        return names

    async def _status_labels(self) -> dict[str, str]:
        try:
            fields = json_array(await self.request("GET", FIELDS_PATH), self.helpdesk)
        except RequestError as exc:
            log.warning(
                "ticket_fields refused (%s): custom statuses unlabelled", exc, extra={"helpdesk": self.helpdesk}
            )
            return {}
        for entry in fields:
            choices = entry.get("choices") if isinstance(entry, Mapping) else None
            if entry.get("name") == "status" and isinstance(choices, Mapping):
                return {
                    str(code): str(labels[0] if isinstance(labels, list) and labels else labels)
                    for code, labels in choices.items()
                }
        return {}

    # ---- normalize ----------------------------------------------------------------------------

    def _row(self, raw: FreshdeskTicket) -> StoredTicket:
        ticket_id = positive_id(raw.id, "a Freshdesk ticket id")
        status = Status.DELETED if raw.deleted or raw.spam else self.status_of(raw.status)
        created_at = utc_time(raw.created_at)
        updated_at = utc_time(raw.updated_at) if raw.updated_at is not None else created_at
        stats = raw.stats or NO_STATS
        done = status in (Status.SOLVED, Status.CLOSED)
        solved = stats.resolved_at or stats.closed_at
        return stored_row(
            helpdesk=self.helpdesk,
            id=str(ticket_id),
            subject=str(raw.subject or ""),
            status=status,
            priority=self.priority_of(raw.priority),
            channel=CHANNELS.get(raw.source, Channel.OTHER),
            group=self.groups.name_of(raw.group_id),
            assignee=self.agents.name_of(raw.responder_id),
            tags=tuple(str(tag) for tag in raw.tags or ()),
            created_at=created_at,
            updated_at=updated_at,
            solved_at=(utc_time(solved) if solved else updated_at) if done else None,
            sla=_sla(raw, status, stats),
            url=f"{self.settings.url}/a/tickets/{ticket_id}",
        )

    def status_of(self, code: Any) -> Status:
        if not isinstance(code, int) or isinstance(code, bool):
            raise ValueError(f"status {code!r} is not a status code")
        label = self.status_labels.get(str(code))
        mapped = self.settings.status_map.get(str(code)) or (self.settings.status_map.get(label) if label else None)
        status = mapped or (STATUS_LABELS.get(label.lower()) if label else None) or STATUSES.get(code)
        if status is None:
            shown = f"{code} ({label!r})" if label else str(code)
            raise ValueError(f"unknown status {shown} (map it with status_map)")
        return status

    def priority_of(self, code: Any) -> Priority:
        if not isinstance(code, int) or isinstance(code, bool):
            raise ValueError(f"priority {code!r} is not a priority code")
        priority = self.settings.priority_map.get(str(code)) or PRIORITIES.get(code)
        if priority is None:
            raise ValueError(f"unknown priority {code} (map it with priority_map)")
        return priority

    async def assign(self, ticket_id: str, agent_email: str) -> str:
        """The agent found by email (agents?email=), then PUT the ticket's ``responder_id``."""
        response = await self.request("GET", "/api/v2/agents", params={"email": agent_email})
        agents = response.json()
        agent = next((a for a in agents if isinstance(a, Mapping)), None) if isinstance(agents, list) else None
        if agent is None:
            raise RequestError(f"no Freshdesk agent has the email {agent_email}", helpdesk=self.helpdesk, status=404)
        await self.request("PUT", f"/api/v2/tickets/{ticket_id}", json={"responder_id": agent["id"]})
        return str((agent.get("contact") or {}).get("name") or agent_email)


# ---- pure helpers ------------------------------------------------------------------------------


def _sla(raw: FreshdeskTicket, status: Status, stats: FreshdeskStats) -> SlaRow:
    breached = raw.fr_escalated is True or raw.is_escalated is True or raw.nr_escalated is True
    dues = {key: optional_time(getattr(raw, key)) for key in _DUE_KEYS}  # each read once, for both uses
    targets = _targets(raw, status, stats, dues)
    if not status.is_open:
        return SlaRow(targets=targets)
    return SlaRow(
        first_response_due=None if stats.first_responded_at else dues["fr_due_by"],
        next_reply_due=dues["nr_due_by"],
        resolution_due=dues["due_by"],
        breached=breached,
        paused=status in (Status.PENDING, Status.ON_HOLD),
        targets=targets,
    )


SLA_TARGET_FIELDS: tuple[tuple[SlaKind, str, str, tuple[str, ...]], ...] = (
    (SlaKind.FIRST_RESPONSE, "fr_due_by", "fr_escalated", ("first_responded_at",)),
    (SlaKind.NEXT_REPLY, "nr_due_by", "nr_escalated", ()),
    (SlaKind.RESOLUTION, "due_by", "is_escalated", ("resolved_at", "closed_at")),
)
"""(target, due date, escalation flag, the ``stats`` stamps that fulfil it, first found wins): attributes
of ``FreshdeskTicket`` and ``FreshdeskStats``."""
_DUE_KEYS = tuple(due_key for _, due_key, _, _ in SLA_TARGET_FIELDS)


def _targets(
    raw: FreshdeskTicket, status: Status, stats: FreshdeskStats, dues: Mapping[str, datetime | None]
) -> tuple[SlaTargetRow, ...]:
    """Each target with a due date (``dues``: by the ticket's field), and how it ended (see the module
    docstring)."""
    found = []
    done = status in (Status.SOLVED, Status.CLOSED)
    for kind, due_key, flag, stamps in SLA_TARGET_FIELDS:
        due = dues[due_key]
        if due is None:
            continue
        if kind is SlaKind.RESOLUTION and not done:
            stamps = ()  # a reopened ticket keeps its old resolved_at: not a fulfilment
        stamp = next((getattr(stats, k) for k in stamps if getattr(stats, k)), None)
        fulfilled = utc_time(stamp) if stamp else None
        met: bool | None = None
        if getattr(raw, flag) is True:
            met = False
        elif fulfilled is not None:
            met = fulfilled <= due
        elif kind is SlaKind.RESOLUTION and done:
            met = True
        found.append(SlaTargetRow(kind=kind, due=due, met=met, fulfilled_at=fulfilled))
    return tuple(found)


def _agent(entry: Mapping[str, Any]) -> Any:
    contact = entry.get("contact")
    return contact.get("name") if isinstance(contact, Mapping) else None
