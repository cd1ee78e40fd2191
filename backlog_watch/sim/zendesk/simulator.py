"""ZendeskSimulator: a faithful local Zendesk Support, over real HTTP on loopback.

It serves what ``connectors/zendesk.py`` asks for, with Zendesk's semantics (see
``design/helpdesk-apis.md``): the cursor-based incremental ticket export (the one-minute rule, the
opaque ``"{ts}.0||{id}|"`` cursor, ``end_of_stream`` pages that still carry an ``after_cursor``,
deleted tickets as ``status: "deleted"``, ``include=slas``), ``tickets/show_many``, ``tickets/{id}``,
``groups``, ``users/show_many``, ``slas/policies``; Basic ``{email}/token:{token}`` auth; the
account and incremental-export rate limits with their headers; Zendesk's error bodies.

The backlog is generated from ``seed`` (``sim/generate.py``) and lives on a ``SimClock``: tests move the
clock and mutate tickets (``create_ticket``, ``update_ticket``, ``solve_ticket``, ``delete_ticket``,
``evolve``), then compare what a connector stored with ``ground_truth()``. Faults on demand:
``fail_next``, ``rate_limit_next``, ``inject_malformed``; every request is logged in ``requests``.

From the command line (``backlog-watch simulate zendesk``) use ``backlog_watch.sim.serve_zendesk``::

    async def serve_zendesk(port: int = 0, *, seed: int = 1, tickets: int = 300, speed: float = 60.0,
                            host: str = "127.0.0.1", email: str = "ops@example.com",
                            token: str = "sim-token", subdomain: str = "acme", tick: float = 1.0,
                            out: Callable[[str], None] = print) -> None

which serves until cancelled, evolving the backlog as simulated time (real time x ``speed``) passes,
and prints the URL and the credentials to put in a helpdesk block.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from backlog_watch.sim.activity import Activity, plan
from backlog_watch.sim.clock import SimClock
from backlog_watch.sim.generate import (
    CLOSE_AFTER,
    OPEN_STATUSES,
    PRIORITY_LADDER,
    Account,
    TicketFactory,
    make_account,
    parse_time,
    zendesk_time,
)
from backlog_watch.sim.server import FaultQueue, LoopbackServer, RateWindow, SimRequest


class ZendeskSimulator(LoopbackServer):
    """A local Zendesk Support account with a seeded, evolving backlog."""

    def __init__(
        self,
        *,
        seed: int = 1,
        tickets: int = 300,
        clock: SimClock | None = None,
        email: str = "ops@example.com",
        token: str = "sim-token",
        subdomain: str = "acme",
        export_rate_limit: int = 10,
        account_rate_limit: int = 700,
        rate_window_seconds: float = 60,
        export_includes_slas: bool = True,
        activity: Activity | None = None,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        """``rate_clock`` (Unix seconds) times the rate-limit windows; by default the sim clock, so a
        test's injected sleep that advances the clock also waits a 429 out."""
        super().__init__()
        self.clock = clock or SimClock()
        self.email = email
        self.token = token
        self.export_includes_slas = export_includes_slas
        self.activity = activity or Activity()
        self.rng = random.Random(seed)
        now = self.clock.now()
        self.account: Account = make_account(self.rng, subdomain, now)
        self.factory = TicketFactory(self.rng, self.account)
        self._tickets: dict[int, dict[str, Any]] = {}
        self._changed: dict[int, int] = {}
        self._order: list[tuple[int, int]] = []
        """(generated_timestamp, id) of every ticket, sorted: the export's order, kept as tickets change."""
        for ticket in self.factory.history(tickets, now):
            self._tickets[ticket["id"]] = ticket
            self._set_changed(ticket["id"], ticket["generated_timestamp"])
        self._next_id = len(self._tickets) + 1
        self.faults = FaultQueue()
        self.can_write = True
        """False: the credentials may read but not write (writes answer 403, as for a light agent)."""
        self.requests: list[SimRequest] = []
        rate_now = rate_clock or self.clock.timestamp
        self.export_window = RateWindow(export_rate_limit, rate_window_seconds, rate_now)
        self.account_window = RateWindow(account_rate_limit, rate_window_seconds, rate_now)

    def __repr__(self) -> str:
        return f"ZendeskSimulator(url={self.url!r}, tickets={len(self._tickets)})"

    def build_app(self) -> web.Application:
        from backlog_watch.sim.zendesk.api import build_app  # the HTTP layer needs this class

        return build_app(self)

    @property
    def subdomain(self) -> str:
        return self.account.subdomain

    def settings(self, name: str = "zendesk", **extra: Any) -> dict[str, Any]:
        """A helpdesk block for this simulator (``url``, ``email``, ``token``), ready for ZendeskConnector."""
        return {
            "name": name,
            "type": "zendesk",
            "url": self.url,
            "email": self.email,
            "token": self.token,
        } | extra

    # ---- reading the backlog -------------------------------------------------------------------

    def ground_truth(self) -> dict[int, dict[str, Any]]:
        """Every ticket as the export will give it once the minute has passed (deleted ones included)."""
        return copy.deepcopy(self._tickets)

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._get(ticket_id))

    def lookup(self, ticket_id: int) -> Mapping[str, Any] | None:
        """The stored ticket itself (not a copy: read it, do not change it), or None."""
        return self._tickets.get(ticket_id)

    def open_ids(self) -> set[int]:
        """Ids of the backlog: new, open, pending and hold tickets."""
        return {
            key for key, t in self._tickets.items() if isinstance(t.get("status"), str) and t["status"] in OPEN_STATUSES
        }

    def changed_at(self, ticket_id: int) -> int:
        """The ticket's ``generated_timestamp``: when the export last saw it change."""
        return self._changed[ticket_id]

    def exportable(self, horizon: int, after: tuple[int, int] = (-1, -1)) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """(generated_timestamp, id, ticket) of the tickets changed after ``after`` and by ``horizon``, in
        export order; lazily, from a sorted index, so a page of a large account costs a page."""
        start = bisect.bisect_right(self._order, after)
        for changed, key in itertools.islice(self._order, start, None):
            if changed > horizon:
                return
            yield changed, key, self._tickets[key]

    def _set_changed(self, key: int, stamp: int) -> None:
        previous = self._changed.get(key)
        if previous is not None:
            del self._order[bisect.bisect_left(self._order, (previous, key))]
        self._changed[key] = stamp
        bisect.insort(self._order, (stamp, key))

    def _get(self, ticket_id: int) -> dict[str, Any]:
        try:
            return self._tickets[ticket_id]
        except KeyError:
            raise KeyError(f"no ticket {ticket_id} in the simulated account") from None

    # ---- mutations -----------------------------------------------------------------------------

    def _touch(self, key: int) -> None:
        now = self.clock.now()
        stamp = int(now.timestamp())
        ticket = self._tickets[key]
        ticket["updated_at"] = zendesk_time(now)
        ticket["generated_timestamp"] = stamp
        self._set_changed(key, stamp)

    def create_ticket(self, **fields: Any) -> dict[str, Any]:
        """A new ticket created now (status new unless ``fields`` say otherwise); returns a copy."""
        key = self._next_id
        self._next_id += 1
        status = fields.pop("status", "new")
        ticket = self.factory.new_ticket(key, self.clock.now())
        self._tickets[key] = ticket
        self._set_changed(key, ticket["generated_timestamp"])
        return self.update_ticket(key, status=status, **fields)

    def update_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """Change fields (a new ``status`` brings its custom status and, past new, an assignee); now."""
        ticket = self._get(ticket_id)
        if "status" in fields and fields["status"] != ticket.get("status"):
            self.factory.set_status(ticket, fields["status"])
        ticket.update({k: v for k, v in fields.items() if k != "status"})
        if "subject" in fields:
            ticket["raw_subject"] = fields["subject"]
        self._touch(ticket_id)
        return copy.deepcopy(ticket)

    def solve_ticket(self, ticket_id: int) -> dict[str, Any]:
        return self.update_ticket(ticket_id, status="solved")

    def delete_ticket(self, ticket_id: int) -> dict[str, Any]:
        """Soft-delete: the export reports the ticket with ``status: "deleted"``."""
        return self.update_ticket(ticket_id, status="deleted")

    def inject_malformed(self, ticket: Mapping[str, Any] | int) -> int:
        """Make a ticket unreadable (``created_at: "not a date"``, ``status: 42``), or add ``ticket`` as
        given (a dict, stored raw; an ``id`` is assigned when it has no integer one). Returns its id."""
        if isinstance(ticket, int):
            self._get(ticket).update(created_at="not a date", status=42)
            self._touch(ticket)
            return ticket
        raw = dict(ticket)
        given = raw.get("id")
        key = given if isinstance(given, int) and not isinstance(given, bool) and given > 0 else self._next_id
        raw.setdefault("id", key)
        self._next_id = max(self._next_id, key + 1)
        self._tickets[key] = raw
        raw["generated_timestamp"] = stamp = int(self.clock.timestamp())
        self._set_changed(key, stamp)
        return key

    # ---- faults --------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status``."""
        self.faults.fail_next(n, status)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After: retry_after``."""
        self.faults.rate_limit_next(n, retry_after)

    def reset_rate_limits(self) -> None:
        self.export_window.reset()
        self.account_window.reset()

    # ---- the random walk -----------------------------------------------------------------------

    def evolve(self, seconds: float | timedelta) -> list[tuple[str, int]]:
        """Play ``seconds`` of helpdesk life and return what happened, as (event, ticket id).

        A manual clock is advanced event by event to the end of the stretch; a flowing clock (``speed``)
        is not touched: the time has passed already and every event is stamped now.
        """
        span = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        start = self.clock.now()
        happened: list[tuple[str, int]] = []
        for offset, kind in plan(self.rng, span, self.activity):
            if self.clock.manual:
                self.clock.set(start + timedelta(seconds=offset))
            ticket_id = self._play(kind)
            if ticket_id is not None:
                happened.append((kind, ticket_id))
        if self.clock.manual:
            self.clock.set(start + timedelta(seconds=span))
        happened.extend(("closed", key) for key in self._close_old_solved())
        return happened

    def _pick(self, statuses: set[str], where: Callable[[dict[str, Any]], bool] = lambda t: True) -> int | None:
        candidates = [k for k, t in self._tickets.items() if t.get("status") in statuses and where(t)]
        return self.rng.choice(candidates) if candidates else None

    def _play(self, kind: str) -> int | None:
        if kind == "arrivals":
            return int(self.create_ticket()["id"])
        if kind == "assignments":
            key = self._pick({"new", "open"}, lambda t: t.get("assignee_id") is None)
            if key is not None:
                ticket = self._tickets[key]
                self.factory.assign(ticket)
                self.update_ticket(key, status="open")
            return key
        if kind == "replies":
            key = self._pick({"open", "pending", "hold"})
            if key is not None:
                current = self._tickets[key]["status"]
                after = self.rng.choices(("pending", "hold", "open"), weights=(7, 1, 2))[0]
                self.update_ticket(key, status=after if current == "open" else "open")
            return key
        if kind == "solves":
            key = self._pick({"open", "pending", "hold"})
            if key is not None:
                self.solve_ticket(key)
            return key
        if kind == "escalations":
            key = self._pick(set(OPEN_STATUSES), lambda t: t.get("priority") != "urgent")
            if key is not None:
                ticket = self._tickets[key]
                rank = PRIORITY_LADDER.index(ticket["priority"]) if ticket.get("priority") in PRIORITY_LADDER else 0
                tags = list(ticket.get("tags") or [])
                self.update_ticket(
                    key,
                    priority=PRIORITY_LADDER[min(rank + 1, 3)],
                    tags=tags + ["escalated"] if "escalated" not in tags else tags,
                )
            return key
        if kind == "deletions":
            key = self._pick({"new"})
            if key is not None:
                self.delete_ticket(key)
            return key
        raise ValueError(f"unknown activity {kind!r}")

    def _close_old_solved(self) -> list[int]:
        now = self.clock.now()
        closed = []
        for key, ticket in self._tickets.items():
            solved_at = parse_time(ticket.get("updated_at"))
            if ticket.get("status") == "solved" and solved_at is not None and now - solved_at >= CLOSE_AFTER:
                self.update_ticket(key, status="closed")
                closed.append(key)
        return closed

    def now(self) -> datetime:
        return self.clock.now()
