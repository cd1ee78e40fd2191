"""Zendesk Support: the cursor-based incremental ticket export, SLAs, group and assignee names.

``fetch`` polls ``/api/v2/incremental/tickets/cursor.json`` (``start_time`` first, then the stored
``after_cursor``), completes each page with SLAs (sideloaded, else ``show_many`` for the tickets not
deleted) and learns the names of new groups and assignees, then yields the page. ``fetch_ids`` reads
the tickets a hook names with ``show_many`` (the export hides the last minute). ``normalize`` is
pure: it reads the raw ticket and the name maps learnt so far, nothing else.

Mappings (defaults; ``status_map`` / ``priority_map`` override them by the vendor's value):

- status: new, open, pending, solved, closed, deleted as is; ``hold`` -> on_hold.
- priority: urgent, high, normal, low as is; null -> none (``priority_map`` key ``none``).
- channel (``via.channel``): web, web_form, web_widget -> web (a form on a web page);
  email, mail -> email; chat, native_messaging -> chat; voice, phone -> phone; api, web_service -> api
  ("Web service" is Zendesk's label for the API); anything else (mobile, mobile_sdk, sms, rule,
  sample_ticket, social channels, integer channel ids) -> other.
- SLA (``slas.policy_metrics``, stage ``active``, earliest ``breach_at`` per field):
  first_reply_time -> first_response_due; next_reply_time, periodic_update_time,
  pausable_update_time -> next_reply_due (an update owed to the requester);
  total_resolution_time, agent_work_time, requester_wait_time -> resolution_due.
  ``breached``: an active metric with a negative remaining time; ``paused``: paused metrics, no active.
- SLA outcomes (``Sla.targets``, every stage, solved tickets too): an active metric is breached when its
  remaining time is negative, else undecided; an achieved resolution metric was met when the ticket was
  solved by its ``breach_at`` (fulfilled at the solve time); an achieved reply metric keeps its
  ``breach_at`` but ``include=slas`` does not say when the reply came, so its outcome stays unknown.
- solved_at: the export has no solve time, so a solved or closed ticket uses its updated_at.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
import msgspec
from pydantic import Field, SecretStr

from backlog_watch import (
    Channel,
    Cursor,
    HelpdeskSettings,
    HttpConnector,
    NameCache,
    Page,
    PaginationError,
    PendingSla,
    Priority,
    RequestError,
    SlaKind,
    SlaRow,
    SlaTargetRow,
    Status,
    StoredTicket,
    basic_auth,
    chunked,
    ids_of,
    inverted,
    json_object,
    mapped,
    names_by_id,
    optional_time,
    positive_id,
    stored_row,
    typed_json,
    utc_time,
    wire_record,
)

log = logging.getLogger(__name__)

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
TICKETS_SHOW_MANY_PATH = "/api/v2/tickets/show_many.json"
GROUPS_PATH = "/api/v2/groups.json"
USERS_SHOW_MANY_PATH = "/api/v2/users/show_many.json"
SHOW_MANY_LIMIT = 100
EXPORT_LAG = 61.0
"""Seconds until a change shows in the export: it hides the last minute (one more for the second's edge)."""

STATUSES: Mapping[str, Status] = {
    "new": Status.NEW,
    "open": Status.OPEN,
    "pending": Status.PENDING,
    "hold": Status.ON_HOLD,
    "solved": Status.SOLVED,
    "closed": Status.CLOSED,
    "deleted": Status.DELETED,
}
PRIORITIES: Mapping[str, Priority] = {
    "urgent": Priority.URGENT,
    "high": Priority.HIGH,
    "normal": Priority.NORMAL,
    "low": Priority.LOW,
}
CHANNELS: Mapping[str, Channel] = inverted(
    {
        Channel.WEB: ("web", "web_form", "web_widget"),
        Channel.EMAIL: ("email", "mail"),
        Channel.CHAT: ("chat", "native_messaging"),
        Channel.PHONE: ("voice", "phone"),
        Channel.API: ("api", "web_service"),
    }
)
SLA_FIELDS: Mapping[str, str] = inverted(
    {
        "first_response_due": ("first_reply_time",),
        "next_reply_due": ("next_reply_time", "periodic_update_time", "pausable_update_time"),
        "resolution_due": ("total_resolution_time", "agent_work_time", "requester_wait_time"),
    }
)
SOLVED = frozenset({Status.SOLVED, Status.CLOSED})
SLA_KINDS: Mapping[str, SlaKind] = {
    "first_response_due": SlaKind.FIRST_RESPONSE,
    "next_reply_due": SlaKind.NEXT_REPLY,
    "resolution_due": SlaKind.RESOLUTION,
}


# ---- the wire: what normalize reads of a ticket, decoded straight from the page ---------------------
# Values stay Any where the vendor's type varies (ids, times, channel ids) and ``_ticket`` checks them;
# nested objects are typed so that only the fields read are built (a ticket's via.source, custom
# fields, description and the rest are skipped by the decoder).


class ZendeskVia(msgspec.Struct, gc=False):
    channel: Any = None


class ZendeskMetric(msgspec.Struct, gc=False):
    """One of ``slas.policy_metrics``: the remaining time is in whichever of days, hours, minutes is given."""

    metric: Any = None
    stage: Any = None
    breach_at: Any = None
    days: Any = None
    hours: Any = None
    minutes: Any = None


class ZendeskSlas(msgspec.Struct, gc=False):
    policy_metrics: list[ZendeskMetric] | None = None


class ZendeskTicket(msgspec.Struct, gc=False):
    """A ticket as the export, ``show_many`` and the fixtures give it: the fields ``_ticket`` reads."""

    id: Any
    status: Any
    created_at: Any
    updated_at: Any = None
    subject: Any = None
    priority: Any = None
    via: ZendeskVia | None = None
    group_id: Any = None
    assignee_id: Any = None
    tags: Any = None
    slas: ZendeskSlas | None | msgspec.UnsetType = msgspec.UNSET
    """UNSET: the answer left SLAs out (the export may not sideload them); None: the ticket has none."""


class ZendeskTickets(msgspec.Struct, gc=False):
    """An export page (with its cursor) or a ``show_many`` answer (tickets only)."""

    tickets: list[ZendeskTicket]
    after_cursor: Any = None
    end_of_stream: Any = None


TICKETS = msgspec.json.Decoder(ZendeskTickets)


class ZendeskSettings(HelpdeskSettings):
    """A Zendesk helpdesk block: API-token auth, where the export starts, what to complete pages with."""

    type: Literal["zendesk"] = "zendesk"
    email: str
    token: SecretStr
    start_time: int = Field(default=0, ge=0)
    """Unix seconds of the first export; 0 takes all history, so long-open tickets are in the backlog."""
    per_page: int = Field(default=1000, ge=1, le=1000)
    fetch_slas: bool = True
    resolve_names: bool = True
    export_requests_per_minute: int = Field(default=10, ge=1)
    """The export's own limit (10/min, 30 with High Volume): Zendesk's rate headers are account-wide and
    do not show it, so the connector keeps under it by itself instead of earning 429s."""


class ZendeskConnector(HttpConnector):
    """Zendesk Support through the cursor-based incremental ticket export."""

    kind: ClassVar[str] = "zendesk"
    Settings: ClassVar[type[HelpdeskSettings]] = ZendeskSettings
    listing_path: ClassVar[str | None] = EXPORT_PATH
    settings: ZendeskSettings
    listing_lag: ClassVar[float] = EXPORT_LAG
    wire_record: type[Any] | None = ZendeskTicket

    def setup(self) -> None:
        self.groups = NameCache()
        self.users = NameCache()
        # Unconfirmed whether the export accepts include=slas: we ask, and stop asking if refused.
        self._sideload_slas = self.settings.fetch_slas

    # ---- HttpConnector hooks ------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return basic_auth(f"{self.settings.email}/token", self.settings.token)

    def request_rate(self, path: str) -> tuple[int, float] | None:
        return (self.settings.export_requests_per_minute, 60.0) if path == EXPORT_PATH else None

    def error_text(self, response: httpx.Response) -> str:
        """Zendesk says ``{"error": "RecordNotFound", "description": "Not found"}`` or nests them."""
        body = self.error_body(response)
        if body is None:
            return super().error_text(response)
        error = body.get("error")
        pair = (
            [error.get("title"), error.get("message")]
            if isinstance(error, Mapping)
            else [error, body.get("description")]
        )
        parts = [str(p) for p in pair if p]
        return ": ".join(parts) if parts else super().error_text(response)

    # ---- fetch --------------------------------------------------------------------------------

    async def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        """Yield export pages from ``since`` (or ``start_time``), each completed with SLAs and names."""
        self.groups.new_poll()
        self.users.new_poll()
        cursor = since
        while True:
            body = await self._export_page(cursor)
            tickets = await self._with_slas(body.tickets)
            await self._learn_names(tickets)
            after = body.after_cursor or None
            done = body.end_of_stream is True
            yield Page(records=tickets, cursor=after, done=done)
            if done:
                return
            if after is None:
                raise PaginationError(
                    "an export page has neither after_cursor nor end_of_stream", helpdesk=self.helpdesk
                )
            cursor = after

    async def fetch_ids(self, ids: Sequence[str]) -> list[Any]:
        """The tickets ``ids`` as ``show_many`` reads them now (SLAs included, names learnt): no export
        lag. A deleted ticket is not returned, so it is simply absent."""
        self.groups.new_poll()
        self.users.new_poll()
        tickets: list[Any] = []
        for chunk in chunked(ids, SHOW_MANY_LIMIT):
            params = {"ids": ",".join(chunk), **({"include": "slas"} if self.settings.fetch_slas else {})}
            response = await self.request("GET", TICKETS_SHOW_MANY_PATH, params=params)
            tickets += self._tickets(response).tickets
        await self._learn_names(tickets)
        return tickets

    def _export_params(self, cursor: Cursor | None) -> dict[str, str | int]:
        params: dict[str, str | int] = {"cursor": cursor} if cursor else {"start_time": self.settings.start_time}
        params["per_page"] = self.settings.per_page
        if self._sideload_slas:
            params["include"] = "slas"
        return params

    async def _export_page(self, cursor: Cursor | None) -> ZendeskTickets:
        try:
            response = await self.request("GET", EXPORT_PATH, params=self._export_params(cursor))
        except RequestError as exc:
            if not self._sideload_slas or exc.status not in (400, 422):
                raise
            log.warning(
                "export refused include=slas (%s): using show_many for SLAs",
                exc,
                extra={"helpdesk": self.helpdesk},
            )
            self._sideload_slas = False
            response = await self.request("GET", EXPORT_PATH, params=self._export_params(cursor))
        return self._tickets(response)

    def _tickets(self, response: httpx.Response) -> ZendeskTickets:
        return typed_json(response, TICKETS, self.helpdesk, self._lenient)

    def _lenient(self, response: httpx.Response) -> ZendeskTickets:
        """A page with a ticket of an unexpected shape, record by record (that one is normalize's to skip)."""
        body = json_object(response, self.helpdesk)
        return ZendeskTickets(
            tickets=[wire_record(t, ZendeskTicket) for t in _tickets_of(body, "tickets", self.helpdesk)],
            after_cursor=body.get("after_cursor"),
            end_of_stream=body.get("end_of_stream"),
        )

    async def _with_slas(self, tickets: list[ZendeskTicket]) -> list[ZendeskTicket]:
        """The page with ``slas`` added to the tickets the export left without (new records): the open
        ones, and the solved ones too, whose achieved metrics are what the weekly SLA attainment counts."""
        if not self.settings.fetch_slas:
            return tickets
        wanted = [
            str(t.id)
            for t in tickets
            if isinstance(t, ZendeskTicket) and t.slas is msgspec.UNSET and t.id is not None and self._wants_sla(t)
        ]
        slas: dict[str, ZendeskSlas | None] = {}
        for chunk in chunked(wanted, SHOW_MANY_LIMIT):
            params = {"ids": ",".join(chunk), "include": "slas"}
            try:
                response = await self.request("GET", TICKETS_SHOW_MANY_PATH, params=params)
            except RequestError as exc:
                # SLAs complete a ticket, they are not the ticket: store the page without them.
                log.warning("show_many refused (%s): page stored without SLAs", exc, extra={"helpdesk": self.helpdesk})
                break
            for ticket in self._tickets(response).tickets:
                if isinstance(ticket, ZendeskTicket) and not isinstance(ticket.slas, msgspec.UnsetType):
                    slas[str(ticket.id)] = ticket.slas
        if not slas:
            return tickets
        return [
            msgspec.structs.replace(t, slas=slas[str(t.id)])
            if isinstance(t, ZendeskTicket) and str(t.id) in slas
            else t
            for t in tickets
        ]

    def _wants_sla(self, raw: ZendeskTicket) -> bool:
        try:
            return self._status(raw.status) is not Status.DELETED
        except ValueError:  # normalize() reports it; here it only means "no SLA to ask for"
            return False

    async def _learn_names(self, tickets: Sequence[Any]) -> None:
        """Ask for names the page needs and the maps lack: groups once per poll, each user once per poll.

        Users are asked by id (show_many), so a later page's new assignees are still resolved; the
        group list is all-or-nothing, so it is refreshed at most once per poll.
        """
        if not self.settings.resolve_names:
            return
        await self.groups.reload_for(ids_of(tickets, "group_id"), self._all_groups)
        await self.users.add(ids_of(tickets, "assignee_id"), self._users)

    async def _all_groups(self) -> dict[str, str]:
        names: dict[str, str] = {}
        async for response in self.pages_of(GROUPS_PATH, params={"per_page": 100}, next_url=self._next_page):
            names.update(names_by_id(json_object(response, self.helpdesk).get("groups")))
        return names

    def _next_page(self, response: httpx.Response) -> str | None:
        """Zendesk's offset lists say where the next page is in the body's ``next_page``."""
        return json_object(response, self.helpdesk).get("next_page") or None

    async def _users(self, ids: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for chunk in chunked(ids, SHOW_MANY_LIMIT):
            response = await self.request("GET", USERS_SHOW_MANY_PATH, params={"ids": ",".join(chunk)})
            names.update(names_by_id(json_object(response, self.helpdesk).get("users")))
        return names

    # ---- normalize ----------------------------------------------------------------------------

    def _row(self, raw: ZendeskTicket) -> StoredTicket:
        ticket_id = positive_id(raw.id, "a Zendesk ticket id")
        status = self._status(raw.status)
        created_at = utc_time(raw.created_at)
        updated_at = utc_time(raw.updated_at) if raw.updated_at is not None else created_at
        solved_at = updated_at if status in SOLVED else None
        return stored_row(
            helpdesk=self.helpdesk,
            id=str(ticket_id),
            subject=str(raw.subject or ""),
            status=status,
            priority=self._priority(raw.priority),
            channel=_channel(raw.via),
            group=self.groups.name_of(raw.group_id),
            assignee=self.users.name_of(raw.assignee_id),
            tags=tuple(map(str, raw.tags or ())),
            created_at=created_at,
            updated_at=updated_at,
            solved_at=solved_at,
            sla=_sla(raw.slas, solved_at),
            url=f"{self.settings.url}/agent/tickets/{ticket_id}",
        )

    def _status(self, value: Any) -> Status:
        if not isinstance(value, str):
            raise ValueError(f"status {value!r} is not a string")
        status = mapped(value, self.settings.status_map, STATUSES)
        if status is None:
            raise ValueError(f"unknown status {value!r} (map it with status_map)")
        return status

    def _priority(self, value: Any) -> Priority:
        key = "none" if value is None else value
        if not isinstance(key, str):
            raise ValueError(f"priority {value!r} is not a string")
        priority = mapped(key, self.settings.priority_map, PRIORITIES)
        if priority is None and value is None:
            return Priority.NONE
        if priority is None:
            raise ValueError(f"unknown priority {value!r} (map it with priority_map)")
        return priority

    async def assign(self, ticket_id: str, agent_email: str) -> str:
        """The agent found by email (users/search), then PUT the ticket's ``assignee_id``."""
        response = await self.request("GET", "/api/v2/users/search.json", params={"query": f"email:{agent_email}"})
        users = response.json().get("users") or []
        agent = next(
            (
                u
                for u in users
                if str(u.get("email", "")).lower() == agent_email.lower() and u.get("role") in ("agent", "admin")
            ),
            None,
        )
        if agent is None:
            raise RequestError(f"no Zendesk agent has the email {agent_email}", helpdesk=self.helpdesk, status=404)
        await self.request("PUT", f"/api/v2/tickets/{ticket_id}.json", json={"ticket": {"assignee_id": agent["id"]}})
        return str(agent.get("name") or agent_email)


# ---- pure helpers ------------------------------------------------------------------------------


def _tickets_of(body: Mapping[str, Any], key: str, helpdesk: str) -> list[Mapping[str, Any]]:
    # Non-object entries are passed on: normalize() turns them into counted MalformedRecords.
    records = body.get(key)
    if not isinstance(records, list):
        raise PaginationError(f"the response has no {key!r} list", helpdesk=helpdesk)
    return records


def _channel(via: ZendeskVia | None) -> Channel:
    channel = via.channel if via is not None else None
    if isinstance(channel, str):
        return CHANNELS.get(channel.lower(), Channel.OTHER)
    return Channel.OTHER  # integer channel ids and missing via: the id table is not documented to us


def _sla(slas: ZendeskSlas | None | msgspec.UnsetType, solved_at: datetime | None) -> SlaRow | None:
    """The pending targets of the active metrics (what the sla rule reads of an open ticket) and every
    metric as a target with its outcome, in the vendor's order: one pass over the metrics."""
    metrics = slas.policy_metrics if isinstance(slas, ZendeskSlas) else None
    if not metrics:
        return None
    pending = PendingSla()
    targets = []
    for metric in metrics:
        stage = metric.stage
        field = SLA_FIELDS.get(metric.metric) if isinstance(metric.metric, str) else None
        due = optional_time(metric.breach_at) if field is not None or stage == "active" else None
        overdue = stage == "active" and _overdue(metric)
        if stage == "paused":
            pending.paused()
        elif stage == "active":
            pending.running(field, due, breached=overdue)
        if field is None:
            continue
        kind = SLA_KINDS[field]
        met: bool | None = False if overdue else None
        fulfilled = None
        if stage == "achieved" and kind is SlaKind.RESOLUTION and solved_at is not None:
            fulfilled = solved_at
            met = solved_at <= due if due is not None else None
        targets.append(SlaTargetRow(kind=kind, due=due, met=met, fulfilled_at=fulfilled))
    return pending.row(tuple(targets))


def _overdue(metric: ZendeskMetric) -> bool:
    return any(isinstance(left, int) and left < 0 for left in (metric.days, metric.hours, metric.minutes))
