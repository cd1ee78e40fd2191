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

import base64
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from backlog_watch import (
    Channel,
    Clock,
    Cursor,
    Duration,
    HelpdeskSettings,
    HttpConnector,
    Page,
    PaginationError,
    Priority,
    RequestError,
    Sla,
    SlaKind,
    SlaTarget,
    Sleep,
    Status,
    Ticket,
    ids_of,
    json_array,
    next_link,
    utc_time,
)

log = logging.getLogger(__name__)

TICKETS_PATH = "/api/v2/tickets"
GROUPS_PATH = "/api/v2/groups"
AGENTS_PATH = "/api/v2/agents"
FIELDS_PATH = "/api/v2/ticket_fields"
ONE_SECOND = timedelta(seconds=1)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

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
class Window:
    """A position in a list ordered by ``updated_at``: the last second seen and the ids seen at it."""

    since: datetime
    ids: set[str] = field(default_factory=set)

    def is_new(self, updated_at: datetime, ticket_id: str) -> bool:
        return updated_at > self.since or (updated_at == self.since and ticket_id not in self.ids)

    def advance(self, updated_at: datetime, ticket_id: str) -> None:
        if updated_at > self.since:
            self.since, self.ids = updated_at, set()
        self.ids.add(ticket_id)


@dataclass
class FreshdeskCursor:
    """What the JSON cursor holds (see the module docstring)."""

    updated: Window
    deleted: Window
    deleted_checked: float | None = None

    @classmethod
    def load(cls, text: Cursor | None, start: datetime) -> FreshdeskCursor:
        if not text:
            return cls(Window(start), Window(start))
        data = json.loads(text)
        return cls(
            Window(utc_time(data["updated_since"]), {str(i) for i in data.get("ids", [])}),
            Window(utc_time(data["deleted_since"]), {str(i) for i in data.get("deleted_ids", [])}),
            data.get("deleted_checked"),
        )

    def dump(self) -> Cursor:
        return json.dumps(
            {
                "updated_since": _stamp(self.updated.since),
                "ids": sorted(self.updated.ids, key=_id_order),
                "deleted_since": _stamp(self.deleted.since),
                "deleted_ids": sorted(self.deleted.ids, key=_id_order),
                "deleted_checked": self.deleted_checked,
            },
            separators=(",", ":"),
        )


class FreshdeskConnector(HttpConnector):
    """Freshdesk through the ticket list ordered by ``updated_at``."""

    kind: ClassVar[str] = "freshdesk"
    Settings: ClassVar[type[HelpdeskSettings]] = FreshdeskSettings
    settings: FreshdeskSettings
    max_page: int = 300
    """Freshdesk refuses page 301: the window restarts before it (and when refused anyway)."""

    def __init__(
        self,
        settings: FreshdeskSettings | Mapping[str, Any],
        client: httpx.AsyncClient,
        *,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(settings, client, sleep=sleep, clock=clock)
        self.group_names: dict[str, str] = {}
        self.agent_names: dict[str, str] = {}
        self.status_labels: dict[str, str] = {}
        self._asked: set[str] = set()

    # ---- HttpConnector hooks ------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        pair = f"{self.settings.api_key.get_secret_value()}:X"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}

    def error_text(self, response: httpx.Response) -> str:
        """``{"description": "Validation failed", "errors": [{field, message}]}`` or ``{code, message}``."""
        try:
            body = response.json()
        except ValueError:
            return super().error_text(response)
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
        try:
            state = FreshdeskCursor.load(since, self.settings.updated_since)
        except (ValueError, KeyError, TypeError) as exc:
            raise PaginationError(f"unreadable cursor {since!r}: {exc}", helpdesk=self.helpdesk) from exc
        self._asked = set()
        last = since
        now = self.wall()
        every = self.settings.deleted_every.total_seconds()
        due = state.deleted_checked is None or now - state.deleted_checked >= every
        for window, deleted in ((state.updated, False), (state.deleted, True))[: 2 if due else 1]:
            async for records in self._listing(window, deleted=deleted):
                cursor = state.dump()
                # A page that did not move the position (only unreadable records) keeps the previous one.
                yield Page(records=records, cursor=None if cursor == last else cursor)
                last = cursor
        if due:  # when the check ended: a long (throttled) cold sync must not make the next poll check again
            state.deleted_checked = self.wall()
        yield Page(records=[], cursor=state.dump(), done=True)

    async def _listing(self, window: Window, *, deleted: bool) -> AsyncIterator[list[Mapping[str, Any]]]:
        """The new tickets of the list from ``window``, page by page; ``window`` advances with them."""
        while True:
            start = window.since
            capped = False
            async for page_number, body, more in self._pages(start - ONE_SECOND, deleted):
                fresh = self._fresh(body, window)
                if fresh:
                    await self._learn(fresh)
                    yield fresh
                capped = more and page_number >= self.max_page
            if not capped:
                return
            if window.since == start:
                raise PaginationError(
                    f"more than {self.max_page} pages of tickets updated at {_stamp(start)}: cannot page on",
                    helpdesk=self.helpdesk,
                )
            log.debug(
                "page cap reached: listing again from %s", _stamp(window.since), extra={"helpdesk": self.helpdesk}
            )

    async def _pages(self, since: datetime, deleted: bool) -> AsyncIterator[tuple[int, list[Any], bool]]:
        """(page number, tickets, whether more follow) up to the page cap."""
        params: dict[str, str | int] = {
            "updated_since": _stamp(since),
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
                    yield page, json_array(response, self.helpdesk), more
                    if page >= self.max_page:
                        return  # the page cap: the listing restarts from the last time seen
        except RequestError as exc:
            if exc.status == 400 and "page" in str(exc) and page >= 1:
                self.max_page = page  # this account's cap is lower than documented
                yield page, [], True
                return
            raise

    def _fresh(self, body: list[Any], window: Window) -> list[Mapping[str, Any]]:
        fresh: list[Mapping[str, Any]] = []
        for raw in body:
            try:
                updated_at, ticket_id = utc_time(raw["updated_at"]), str(raw["id"])
            except (KeyError, TypeError, ValueError):
                fresh.append(raw)  # normalize() reports it; it cannot move the window
                continue
            if window.is_new(updated_at, ticket_id):
                window.advance(updated_at, ticket_id)
                fresh.append(raw)
        return fresh

    async def _learn(self, tickets: list[Mapping[str, Any]]) -> None:
        """Fetch the names and status labels the page needs and the caches lack, each at most once a poll."""
        tickets = [t for t in tickets if isinstance(t, Mapping)]
        if self.settings.resolve_names:
            if ids_of(tickets, "group_id") - self.group_names.keys() and "groups" not in self._asked:
                self._asked.add("groups")
                self.group_names = await self._names(GROUPS_PATH, lambda e: e.get("name"))
            if ids_of(tickets, "responder_id") - self.agent_names.keys() and "agents" not in self._asked:
                self._asked.add("agents")
                self.agent_names = await self._names(AGENTS_PATH, _agent_name)
        unknown = {str(t.get("status")) for t in tickets} - self.status_labels.keys() - {"2", "3", "4", "5"}
        if any(code.isdigit() and code not in self.settings.status_map for code in unknown) and (
            "fields" not in self._asked
        ):
            self._asked.add("fields")
            self.status_labels = await self._status_labels()

    async def _names(self, path: str, name_of: Any) -> dict[str, str]:
        names: dict[str, str] = {}
        async for response in self.pages_of(path, params={"per_page": 100}):
            for entry in json_array(response, self.helpdesk):
                if isinstance(entry, Mapping) and entry.get("id") is not None and name_of(entry):
                    names[str(entry["id"])] = str(name_of(entry))
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

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        ticket_id = raw["id"]
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or ticket_id <= 0:
            raise ValueError(f"id {ticket_id!r} is not a Freshdesk ticket id (a positive integer)")
        status = Status.DELETED if raw.get("deleted") or raw.get("spam") else self.status_of(raw["status"])
        created_at = utc_time(raw["created_at"])
        updated_at = utc_time(raw["updated_at"]) if raw.get("updated_at") is not None else created_at
        found = raw.get("stats")
        stats: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        done = status in (Status.SOLVED, Status.CLOSED)
        solved = stats.get("resolved_at") or stats.get("closed_at")
        return Ticket(
            helpdesk=self.helpdesk,
            id=str(ticket_id),
            subject=str(raw.get("subject") or ""),
            status=status,
            priority=self.priority_of(raw.get("priority")),
            channel=CHANNELS.get(raw.get("source"), Channel.OTHER),  # type: ignore[arg-type]
            group=_name_of(self.group_names, raw.get("group_id")),
            assignee=_name_of(self.agent_names, raw.get("responder_id")),
            tags=tuple(str(tag) for tag in raw.get("tags") or ()),
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


# ---- pure helpers ------------------------------------------------------------------------------


def _sla(raw: Mapping[str, Any], status: Status, stats: Mapping[str, Any]) -> Sla:
    breached = any(raw.get(flag) is True for flag in ("fr_escalated", "is_escalated", "nr_escalated"))
    targets = _targets(raw, status, stats)
    if not status.is_open:
        return Sla(targets=targets)
    first = None if stats.get("first_responded_at") else _maybe(raw.get("fr_due_by"))
    return Sla(
        first_response_due=first,
        next_reply_due=_maybe(raw.get("nr_due_by")),
        resolution_due=_maybe(raw.get("due_by")),
        breached=breached,
        paused=status in (Status.PENDING, Status.ON_HOLD),
        targets=targets,
    )


SLA_TARGET_FIELDS: tuple[tuple[SlaKind, str, str, tuple[str, ...]], ...] = (
    (SlaKind.FIRST_RESPONSE, "fr_due_by", "fr_escalated", ("first_responded_at",)),
    (SlaKind.NEXT_REPLY, "nr_due_by", "nr_escalated", ()),
    (SlaKind.RESOLUTION, "due_by", "is_escalated", ("resolved_at", "closed_at")),
)
"""(target, due date, escalation flag, the ``stats`` stamps that fulfil it, first found wins)."""


def _targets(raw: Mapping[str, Any], status: Status, stats: Mapping[str, Any]) -> tuple[SlaTarget, ...]:
    """Each target with a due date, and how it ended (see the module docstring)."""
    found = []
    done = status in (Status.SOLVED, Status.CLOSED)
    for kind, due_key, flag, stamps in SLA_TARGET_FIELDS:
        due = _maybe(raw.get(due_key))
        if due is None:
            continue
        if kind is SlaKind.RESOLUTION and not done:
            stamps = ()  # a reopened ticket keeps its old resolved_at: not a fulfilment
        stamp = next((stats[k] for k in stamps if stats.get(k)), None)
        fulfilled = utc_time(stamp) if stamp else None
        met: bool | None = None
        if raw.get(flag) is True:
            met = False
        elif fulfilled is not None:
            met = fulfilled <= due
        elif kind is SlaKind.RESOLUTION and done:
            met = True
        found.append(SlaTarget(kind=kind, due=due, met=met, fulfilled_at=fulfilled))
    return tuple(found)


def _agent_name(entry: Mapping[str, Any]) -> Any:
    contact = entry.get("contact")
    return contact.get("name") if isinstance(contact, Mapping) else None


def _name_of(names: Mapping[str, str], value: Any) -> str | None:
    return None if value is None else names.get(str(value), str(value))


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (0, value)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _maybe(value: Any) -> datetime | None:
    return None if value is None else utc_time(value)
