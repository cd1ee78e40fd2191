"""FreshdeskSimulator: a faithful local Freshdesk (API v2), over real HTTP on loopback.

The backlog is the same seeded, evolving one as ZendeskSimulator's (it subclasses it: mutations, the
random walk, faults and the change index are shared); what differs is the face it shows, rendered by
``render_ticket`` and served by ``api.py`` with Freshdesk's semantics (design/helpdesk-apis.md):
the ticket list as a bare array ordered by ``updated_at`` with a ``Link: rel="next"`` header, the
300-page cap, the 30-day default window without ``updated_since``, deleted tickets only under
``filter=deleted``, numeric status/priority/source codes with the default custom statuses 6 "Waiting on
Customer" and 7 "Waiting on Third Party", SLA fields, ``include=stats``; Basic auth with the API key as
user; the per-minute account quota counted in credits (an include costs 2 more) with the
``X-RateLimit-*`` headers, and the ticket-list quota the headers do not show; Freshdesk's error bodies.

How the internal (Zendesk-shaped) ticket is shown: new/open -> 2, pending -> 3 (every third ticket 6,
"Waiting on Customer"), hold -> 7, solved -> 4, closed -> 5; deleted -> ``deleted: true`` (status 2);
priority null -> 1 (Freshdesk always has one); assignee -> ``responder_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from backlog_watch.sim.activity import Activity
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.generate import SLA_TARGETS, parse_time, zendesk_time
from backlog_watch.sim.zendesk import ZendeskSimulator

DEFAULT_WINDOW = timedelta(days=30)
"""Without ``updated_since`` the list shows only the tickets created in the last 30 days."""
_LAST = 2**63
STATUS_CODES = {"new": 2, "open": 2, "pending": 3, "hold": 7, "solved": 4, "closed": 5, "deleted": 2}
PRIORITY_CODES = {None: 1, "low": 1, "normal": 2, "high": 3, "urgent": 4}
SOURCE_CODES = {"email": 1, "web": 2, "voice": 3, "chat": 7, "mobile": 9, "api": 2}
STATUS_CHOICES = {
    "2": ["Open", "Being Processed"],
    "3": ["Pending", "Awaiting your Reply"],
    "4": ["Resolved", "This ticket has been Resolved"],
    "5": ["Closed", "This ticket has been Closed"],
    "6": ["Waiting on Customer", "Awaiting your Reply"],
    "7": ["Waiting on Third Party", "Being Processed"],
}


def render_ticket(ticket: Mapping[str, Any], now: datetime, *, stats: bool = False) -> dict[str, Any]:
    """The Freshdesk v2 view of an internal ticket; unreadable values are passed on as they are."""
    status = ticket.get("status")
    key = ticket.get("id")
    code: Any = STATUS_CODES.get(status, status) if isinstance(status, str) else status
    if status == "pending" and isinstance(key, int) and key % 3 == 0:
        code = 6
    priority = ticket.get("priority")
    via = ticket.get("via")
    channel = via.get("channel") if isinstance(via, Mapping) else None
    shown: dict[str, Any] = {
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "ticket_cc_emails": [],
        "fr_escalated": False,
        "spam": False,
        "email_config_id": None,
        "group_id": ticket.get("group_id"),
        "priority": PRIORITY_CODES.get(priority, priority),
        "requester_id": ticket.get("requester_id"),
        "responder_id": ticket.get("assignee_id"),
        "source": SOURCE_CODES.get(channel, 2),  # type: ignore[arg-type]
        "company_id": ticket.get("organization_id"),
        "status": code,
        "subject": ticket.get("subject"),
        "association_type": None,
        "support_email": None,
        "to_emails": None,
        "product_id": None,
        "id": key,
        "type": (ticket.get("type") or "").title() or None,
        "due_by": None,
        "fr_due_by": None,
        "is_escalated": False,
        "custom_fields": {},
        "created_at": ticket.get("created_at"),
        "updated_at": ticket.get("updated_at"),
        "associated_tickets_count": None,
        "tags": list(ticket.get("tags") or []),
        "description_text": ticket.get("description"),
        "nr_due_by": None,
        "nr_escalated": False,
    }
    if status == "deleted":
        shown["deleted"] = True
    shown.update(_sla(ticket, now))
    if stats:
        shown["stats"] = _stats(ticket)
    return shown


def _sla(ticket: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    created, updated = parse_time(ticket.get("created_at")), parse_time(ticket.get("updated_at"))
    if created is None or updated is None:
        return {}
    first, next_reply, resolution = SLA_TARGETS.get(ticket.get("priority") or "low", SLA_TARGETS["low"])
    status = ticket.get("status")
    fr_due, due = created + first, created + resolution
    nr_due = updated + next_reply if status == "open" else None
    unsolved = status in ("new", "open", "pending", "hold")
    return {
        "fr_due_by": zendesk_time(fr_due),
        "due_by": zendesk_time(due),
        "nr_due_by": zendesk_time(nr_due) if nr_due else None,
        "fr_escalated": status == "new" and now > fr_due,
        # The flag stays set once raised: a ticket resolved after its due_by keeps is_escalated.
        "is_escalated": now > due if unsolved else status in ("solved", "closed") and updated > due,
        "nr_escalated": nr_due is not None and now > nr_due,
    }


def _stats(ticket: Mapping[str, Any]) -> dict[str, Any]:
    status, updated = ticket.get("status"), ticket.get("updated_at")
    created = parse_time(ticket.get("created_at"))
    responded = zendesk_time(created + timedelta(minutes=20)) if created and status != "new" else None
    done = status in ("solved", "closed")
    return {
        "agent_responded_at": responded,
        "requester_responded_at": None,
        "first_responded_at": responded,
        "status_updated_at": updated,
        "reopened_at": None,
        "resolved_at": updated if done else None,
        "closed_at": updated if status == "closed" else None,
        "pending_since": updated if status == "pending" else None,
    }


class FreshdeskSimulator(ZendeskSimulator):
    """A local Freshdesk account with a seeded, evolving backlog."""

    def __init__(
        self,
        *,
        seed: int = 1,
        tickets: int = 300,
        clock: SimClock | None = None,
        api_key: str = "sim-api-key",
        domain: str = "acme",
        rate_limit: int = 400,
        list_rate_limit: int = 100,
        rate_window_seconds: float = 60,
        max_page: int = 300,
        updated_since_inclusive: bool = True,
        activity: Activity | None = None,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        """Limits per minute default to the Pro plan (400 credits, 100 ticket-list requests)."""
        self._listings: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        super().__init__(
            seed=seed,
            tickets=tickets,
            clock=clock,
            subdomain=domain,
            activity=activity,
            export_rate_limit=list_rate_limit,
            account_rate_limit=rate_limit,
            rate_window_seconds=rate_window_seconds,
            rate_clock=rate_clock,
        )
        self.api_key = api_key
        self.max_page = max_page
        self.updated_since_inclusive = updated_since_inclusive
        self.list_window = self.export_window

    def __repr__(self) -> str:
        return f"FreshdeskSimulator(url={self.url!r}, tickets={len(self._tickets)})"

    def build_app(self) -> web.Application:
        from backlog_watch.sim.freshdesk.api import build_app

        return build_app(self)

    def settings(self, name: str = "freshdesk", **extra: Any) -> dict[str, Any]:
        """A helpdesk block for this simulator (``url``, ``api_key``), ready for FreshdeskConnector."""
        return {"name": name, "type": "freshdesk", "url": self.url, "api_key": self.api_key} | extra

    def _set_changed(self, key: int, stamp: int) -> None:
        super()._set_changed(key, stamp)
        self._listings.clear()

    def listing(self, since: datetime | None, deleted: bool) -> list[dict[str, Any]]:
        """The tickets the list endpoint selects, in ``updated_at`` order (ties by id): changed since
        ``since`` (else created in the last 30 days), deleted ones only when ``deleted``. Cached until
        the next change, so paging through a large account costs a slice per page."""
        key = (since, deleted, self.clock.now() if since is None else None)
        if key not in self._listings:
            self._listings.clear()
            self._listings[key] = list(self._select(since, deleted))
        return self._listings[key]

    def _select(self, since: datetime | None, deleted: bool) -> Iterator[dict[str, Any]]:
        if since is None:
            oldest = self.clock.now() - DEFAULT_WINDOW
            rows = self.exportable(_LAST)
        else:
            stamp = int(since.timestamp()) - (1 if self.updated_since_inclusive else 0)
            rows = self.exportable(_LAST, (stamp, _LAST))
        for _, _, ticket in rows:
            if (ticket.get("status") == "deleted") != deleted:
                continue
            if since is None:
                created = parse_time(ticket.get("created_at"))
                if created is None or created < oldest:
                    continue
            yield ticket

    def vendor_truth(self) -> dict[str, dict[str, Any]]:
        """Every ticket as Freshdesk shows it now, deleted ones included (``deleted: true``), by id."""
        now = self.clock.now()
        return {str(key): render_ticket(t, now, stats=True) for key, t in self._tickets.items()}
