"""Replicas: which one polls which helpdesk and which one evaluates, as the daemon asks it.

Several ``backlog-watch run`` processes with the same ``store: postgresql://...`` share the work with
no other config. Each holds time-limited leases (store/leases.py): one per helpdesk it polls, and the
evaluator lease of the one replica that evaluates the rules, writes the alerts, queues notifications
and runs the deliverer (delivery stays with the evaluator: the replica that queues news is the one that
sends it, so the outbox has one sender and its order holds). Every ``tick`` (a third of the TTL) a
replica says it is alive, renews its leases, and takes or gives up helpdesks towards its fair share,
``ceil(helpdesks / live replicas)``: one that joins gets its share as the others shed their surplus at
their next tick; one that dies stops renewing and the others take its leases once they expire (the
TTL, ``cluster.lease_ttl``, 30 s by default). A hook for a helpdesk another replica holds, and an
evaluation a non-evaluator's poll calls for, are forwarded through the store to the holder, who takes
them at once (NOTIFY wakes its keeper) or at the latest at its next tick.

``SoloLeases`` is the one process of a SQLite store (and of ``once``): it holds everything, unfenced.
``PostgresLeases`` keeps real leases. The daemon only asks ``holds(lease)`` and ``fence(lease)``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backlog_watch.store.leases import (
    EVALUATOR,
    HELPDESK_PREFIX,
    Claim,
    Fence,
    ForwardedRequest,
    LeaseTable,
    SharesLeases,
    helpdesk_lease,
)

__all__ = [
    "EVALUATOR",
    "DEFAULT_TTL",
    "Changes",
    "Leases",
    "PostgresLeases",
    "SoloLeases",
    "default_replica_id",
    "helpdesk_lease",
    "leases_for",
]

log = logging.getLogger(__name__)

DEFAULT_TTL = 30.0
REPLICA_ENV = "BACKLOG_WATCH_REPLICA"


def default_replica_id() -> str:
    """``$BACKLOG_WATCH_REPLICA`` when set, else ``<hostname>-<pid>`` (unique while the process lives)."""
    return os.environ.get(REPLICA_ENV) or f"{socket.gethostname()}-{os.getpid()}"


def _kind(lease: str) -> str:
    return "evaluator" if lease == EVALUATOR else "helpdesk"


def _said(lease: str) -> str:
    """A lease as the log lines name it: ``helpdesk=<name>`` or ``evaluator``."""
    return EVALUATOR if lease == EVALUATOR else f"helpdesk={lease.removeprefix(HELPDESK_PREFIX)}"


@dataclass
class Changes:
    """What a tick changed: leases taken (with their tokens, and who held them before), lost, given up."""

    acquired: list[Claim] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


class Leases(Protocol):
    """The daemon's view of the leases of this replica."""

    replica: str
    interval: float | None
    """Seconds between ticks; None: nothing to keep (solo)."""

    def holds(self, lease: str) -> bool:
        """Whether this replica may do the lease's work now."""
        ...

    def fence(self, lease: str) -> Fence | None:
        """The fence the lease's writes carry (None: unfenced, solo or not held)."""
        ...

    def held(self, kind: str) -> int:
        """How many leases of a kind (``helpdesk`` or ``evaluator``) this replica holds."""
        ...

    def tick(self, busy: Callable[[str], bool] = lambda _: False) -> Changes:
        """Heartbeat, renew, rebalance; ``busy(helpdesk)`` says a poll runs (shed idle ones first)."""
        ...

    def lost(self, lease: str, token: int | None) -> None:
        """A fenced write found the lease gone: stop doing its work (until a tick takes it again)."""
        ...

    def forward(self, request: ForwardedRequest) -> None:
        """Leave work for the replica holding the lease it needs."""
        ...

    def take_requests(self) -> list[ForwardedRequest]:
        """The work forwarded to this replica for the leases it holds (removed from the store)."""
        ...

    async def listen(self, heard: Callable[[], None]) -> None:
        """Call ``heard()`` whenever some replica forwards work (then tick: it may be this one's), until
        cancelled."""
        ...

    def holders(self) -> dict[str, Any]:
        """Who holds what: ``{"helpdesks": {name: replica or None}, "evaluator": replica or None}``."""
        ...

    def leave(self) -> None:
        """Give every lease up at once (a clean stop: the others take over at their next tick)."""
        ...

    def start_renewing(self) -> None:
        """Renew the leases held from a thread of their own, every ``interval``, whatever the event loop
        does (a long page, a slow evaluation): only the ticks take, shed and lose leases."""
        ...

    def stop_renewing(self) -> None:
        """Stop that thread (and wait for the renewal in flight)."""
        ...


class SoloLeases:
    """The one process of a store nobody shares: it holds everything and fences nothing."""

    interval: float | None = None

    def __init__(self, replica: str, helpdesks: Sequence[str]) -> None:
        self.replica = replica
        self.helpdesks = list(helpdesks)

    def holds(self, lease: str) -> bool:
        return True

    def fence(self, lease: str) -> Fence | None:
        return None

    def held(self, kind: str) -> int:
        return 1 if kind == "evaluator" else len(self.helpdesks)

    def tick(self, busy: Callable[[str], bool] = lambda _: False) -> Changes:
        return Changes()

    def lost(self, lease: str, token: int | None) -> None:
        return None

    def forward(self, request: ForwardedRequest) -> None:
        raise AssertionError("a solo replica holds every lease: nothing is forwarded")

    def take_requests(self) -> list[ForwardedRequest]:
        return []

    async def listen(self, heard: Callable[[], None]) -> None:
        await asyncio.Event().wait()  # nothing is ever forwarded to a solo replica

    def holders(self) -> dict[str, Any]:
        return {"helpdesks": dict.fromkeys(self.helpdesks, self.replica), "evaluator": self.replica}

    def leave(self) -> None:
        return None

    def start_renewing(self) -> None:
        return None

    def stop_renewing(self) -> None:
        return None


class PostgresLeases:
    """Leases kept in a shared store's lease table, renewed every ``ttl / 3``.

    What this replica holds is also bounded by its own monotonic clock: a lease not renewed within
    the TTL is not used (a replica cut off from the database stops working before another takes over),
    and the database's fence check guards every write whatever this object believes.

    The ticks run on the daemon's event loop; ``start_renewing`` adds a thread that renews (and says
    the replica is alive) between them, so a loop held up past the TTL loses no lease. It renews only
    while the loop ticked within ``stall_limit`` seconds (ten TTLs): a replica whose loop is wedged
    for good lets its leases go, as a paused (SIGSTOP) or dead one does.
    """

    def __init__(
        self, table: LeaseTable, helpdesks: Sequence[str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table = table
        self.replica = table.replica
        self.ttl = table.ttl
        self.interval: float | None = table.ttl / 3
        self.helpdesks = list(helpdesks)
        self.clock = clock
        self._held: dict[str, tuple[int, float]] = {}
        """lease -> (token, monotonic moment until which it may be used)."""
        self.live = 1
        """Live replicas at the last tick."""
        self.stall_limit = 10 * self.ttl
        self._lock = threading.Lock()
        """Guards ``_held`` between the ticks (event loop) and the renewing thread."""
        self._ticked = clock()
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()

    # -- what the daemon asks ------------------------------------------------------------------------

    def holds(self, lease: str) -> bool:
        held = self._held.get(lease)
        return held is not None and held[1] > self.clock()

    def fence(self, lease: str) -> Fence | None:
        held = self._held.get(lease)
        if held is None or held[1] <= self.clock():
            return None
        return Fence(lease, self.replica, held[0])

    def held(self, kind: str) -> int:
        return sum(1 for lease in self._held if _kind(lease) == kind)

    def share(self) -> int:
        """The most helpdesks this replica takes: ceil(helpdesks / live replicas)."""
        return math.ceil(len(self.helpdesks) / max(1, self.live))

    # -- the tick ------------------------------------------------------------------------------------

    def tick(self, busy: Callable[[str], bool] = lambda _: False) -> Changes:
        changes = Changes()
        started = self._ticked = self.clock()
        self.live = self.table.heartbeat()
        renewed = self.table.renew(list(self._held))
        with self._lock:
            for lease in list(self._held):
                if lease in renewed:
                    self._held[lease] = (renewed[lease], max(self._held[lease][1], started + self.ttl))
                else:
                    self._forget(lease, changes)
        mine = [h for h in self.helpdesks if helpdesk_lease(h) in self._held]
        surplus = len(mine) - self.share()
        if surplus > 0:
            shed = sorted(mine, key=lambda h: (busy(h), h), reverse=True)[-surplus:]  # idle ones first
            leases = [helpdesk_lease(h) for h in shed]
            with self._lock:
                for lease in leases:
                    del self._held[lease]
            self.table.release(leases)
            for lease in leases:
                changes.released.append(lease)
                log.info("lease released %s (its share is %d of %d)", _said(lease), self.share(), len(self.helpdesks))
        wanted = [helpdesk_lease(h) for h in self.helpdesks if helpdesk_lease(h) not in self._held]
        if EVALUATOR not in self._held:
            wanted.insert(0, EVALUATOR)
        room = self.share() - len(mine) + max(0, surplus)
        if wanted and (room > 0 or EVALUATOR in wanted):
            taken = self.table.holders()
            for lease in wanted:
                if lease != EVALUATOR and room <= 0:
                    break
                if taken.get(lease, self.replica) != self.replica:
                    continue
                claim = self.table.claim(lease)
                if claim is None:
                    continue
                with self._lock:
                    self._held[lease] = (claim.token, started + self.ttl)
                changes.acquired.append(claim)
                room -= lease != EVALUATOR
                was = f" (taken over from {claim.previous})" if claim.takeover else ""
                was = was or (f" (handed over by {claim.previous})" if claim.previous else "")
                log.info("lease acquired %s token=%d%s", _said(lease), claim.token, was)
        return changes

    def _forget(self, lease: str, changes: Changes) -> None:
        del self._held[lease]  # the caller holds the lock
        changes.lost.append(lease)
        log.info("lease lost %s", _said(lease))

    def lost(self, lease: str, token: int | None) -> None:
        with self._lock:
            held = self._held.get(lease)
            gone = held is not None and (token is None or held[0] == token)
            if gone:
                del self._held[lease]
        if gone:
            log.info("lease lost %s", _said(lease))

    # -- renewing between the ticks ------------------------------------------------------------------

    def renew(self) -> bool:
        """Say this replica is alive and extend the leases held (none is taken, shed or lost here:
        one not renewed is left to the next tick). False, renewing nothing, when the ticks stalled
        past ``stall_limit``."""
        started = self.clock()
        if started - self._ticked > self.stall_limit:
            return False
        with self._lock:
            held = dict(self._held)
        if not held:
            return True
        self.table.heartbeat()
        renewed = self.table.renew(list(held))
        with self._lock:
            for lease, token in renewed.items():
                now_held = self._held.get(lease)
                if now_held is not None and now_held[0] == token == held[lease][0]:
                    self._held[lease] = (token, max(now_held[1], started + self.ttl))
        return True

    def start_renewing(self) -> None:
        if self._renewer is not None or self.interval is None:
            return
        self._stop_renewing.clear()
        self._renewer = threading.Thread(target=self._renew_forever, name=f"leases-{self.replica}", daemon=True)
        self._renewer.start()

    def _renew_forever(self) -> None:
        assert self.interval is not None
        while not self._stop_renewing.wait(self.interval):
            try:
                self.renew()
            except Exception as exc:  # the store failing: the ticks report it, the next turn tries again
                log.debug("the leases could not be renewed between ticks: %s", type(exc).__name__)

    def stop_renewing(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            self._stop_renewing.set()
            renewer.join()

    # -- forwarding, views, leaving ------------------------------------------------------------------

    def forward(self, request: ForwardedRequest) -> None:
        self.table.forward(request)

    def take_requests(self) -> list[ForwardedRequest]:
        mine = [h for h in self.helpdesks if self.holds(helpdesk_lease(h))]
        evaluator = self.holds(EVALUATOR)
        if not mine and not evaluator:
            return []
        return self.table.take_requests(mine, evaluator)

    async def listen(self, heard: Callable[[], None]) -> None:
        await self.table.listen(heard)

    def holders(self) -> dict[str, Any]:
        taken = self.table.holders()
        return {
            "helpdesks": {h: taken.get(helpdesk_lease(h)) for h in self.helpdesks},
            "evaluator": taken.get(EVALUATOR),
        }

    def leave(self) -> None:
        self.stop_renewing()
        with self._lock:
            self._held.clear()
        self.table.leave()
        log.info("leases released: replica %s is leaving", self.replica)


def leases_for(
    store: object, helpdesks: Sequence[str], *, replica: str | None = None, ttl: float = DEFAULT_TTL, shared: bool
) -> Leases:
    """Real leases for a ``shared`` run on a store replicas share (PostgreSQL); otherwise solo."""
    replica = replica or default_replica_id()
    if shared and isinstance(store, SharesLeases):
        return PostgresLeases(store.lease_table(replica, ttl), helpdesks)
    return SoloLeases(replica, helpdesks)
