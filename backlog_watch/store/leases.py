"""Leases and fencing, as the store keeps them: what lets several replicas share one PostgreSQL store.

A lease is a row (name, holder, token, expiry): ``helpdesk:<name>`` for the polls of one helpdesk,
``evaluator`` for the rules, the alerts and delivery. Expiry is by the database's clock, never a
replica's. The token is taken from a sequence each time the holder changes, so it only grows.

A write made on behalf of a lease is *fenced*: ``fenced(Fence(...))`` around the work (a poll, an
evaluation, a delivery round) and every write transaction of a store that shares itself first checks,
in that same transaction, that the lease is still this replica's with that token and unexpired, and
holds the row (``FOR SHARE``) until it commits, so no other replica can take the lease in between.
A replica that wakes up after losing its lease (a GC pause, SIGSTOP, a partition) gets ``LeaseLost``
and writes nothing. The fence travels in a context variable, so asyncio tasks started by the work
inherit it and the ``Store`` protocol needs no token argument. SQLite (one process owns the file)
ignores fences.

The daemon's side (who takes how many leases, renewal, rebalancing) is backlog_watch/cluster.py; the
SQL is postgres/leases.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from backlog_watch.errors import LeaseLost

__all__ = [
    "EVALUATOR",
    "Claim",
    "Fence",
    "ForwardedRequest",
    "LeaseLost",
    "LeaseTable",
    "SharesLeases",
    "current_fence",
    "fenced",
    "helpdesk_lease",
]

EVALUATOR = "evaluator"
"""The lease of the one replica that evaluates, writes alerts, and queues and sends notifications."""
HELPDESK_PREFIX = "helpdesk:"


def helpdesk_lease(helpdesk: str) -> str:
    """The lease of one helpdesk's polls."""
    return HELPDESK_PREFIX + helpdesk


@dataclass(frozen=True)
class Fence:
    """A lease as held when some work began: that work's writes must find it unchanged."""

    lease: str
    holder: str
    token: int


_FENCE: ContextVar[Fence | None] = ContextVar("backlog_watch_fence", default=None)


@contextmanager
def fenced(fence: Fence | None) -> Iterator[None]:
    """Fence the writes made inside (and by the tasks started inside) with ``fence``; None: unfenced,
    even inside another fenced block (an evaluation requested by a poll is not the poll's)."""
    token = _FENCE.set(fence)
    try:
        yield
    finally:
        _FENCE.reset(token)


def current_fence() -> Fence | None:
    """The fence the writes made now must pass (None: none)."""
    return _FENCE.get()


@dataclass(frozen=True)
class Claim:
    """A lease this replica holds after a claim: its token, the replica that held it before when that
    was another, and whether that one lost it by expiry (a takeover) rather than handing it over."""

    lease: str
    token: int
    previous: str | None = None
    takeover: bool = False


@dataclass(frozen=True)
class ForwardedRequest:
    """Work a replica asked of the lease holder through the store: ``poll`` a helpdesk (reading
    ``ticket_ids`` when a hook named some), or ``evaluate``."""

    kind: str
    helpdesk: str
    ticket_ids: tuple[str, ...] = ()


class LeaseTable(Protocol):
    """The lease rows of a shared store, as one replica (``replica``) sees them. Each call is one
    transaction and expiry is the database's clock."""

    replica: str
    ttl: float

    def heartbeat(self) -> int:
        """Say this replica is alive for ``ttl`` more seconds; the number of live replicas."""
        ...

    def claim(self, lease: str) -> Claim | None:
        """Take the lease, under a new token, if it is free (never held, expired or released) or held
        under this replica's id (a process restarted with the same id: what the old one began must not
        pass the fence); None when another replica holds it. Leases held are renewed, not claimed."""
        ...

    def renew(self, leases: Sequence[str]) -> dict[str, int]:
        """Extend those of ``leases`` still this replica's and unexpired; lease -> token of those."""
        ...

    def release(self, leases: Sequence[str]) -> None:
        """Give the leases up now (they expire at once), so another replica takes them at its next tick."""
        ...

    def leave(self) -> None:
        """Release every lease of this replica and its heartbeat (a clean stop)."""
        ...

    def holders(self) -> dict[str, str]:
        """Every lease held now (unexpired): lease -> replica."""
        ...

    def forward(self, request: ForwardedRequest) -> None:
        """Leave work for the holder of the lease it needs (it takes it at its next tick)."""
        ...

    def take_requests(self, helpdesks: Sequence[str], evaluator: bool) -> list[ForwardedRequest]:
        """Remove and return the requests for these helpdesks (and ``evaluate`` when ``evaluator``)."""
        ...

    async def listen(self, heard: Callable[[], None]) -> None:
        """Call ``heard()`` whenever work is forwarded (to any replica), and once each time listening
        (re)starts, until cancelled."""
        ...


@runtime_checkable
class SharesLeases(Protocol):
    """A store shared by replicas: it keeps leases and fences its writes (PostgresStore)."""

    def lease_table(self, replica: str, ttl: float) -> LeaseTable: ...
