"""The SQL of leases (store/leases.py) in PostgreSQL: claims, renewals, heartbeats, forwarded work, and
the fencing check every fenced write transaction makes first.

Every moment is the database's ``now()``: replicas whose clocks disagree still agree on who holds
what. A token comes from the ``lease_tokens`` sequence whenever a lease changes hands (or is taken
again after it lapsed), so it only grows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import psycopg

from backlog_watch.store.leases import Claim, Fence, ForwardedRequest, LeaseLost
from backlog_watch.store.postgres.schema import Db

log = logging.getLogger(__name__)

_LATER = "now() + make_interval(secs => %s)"
CHANNEL = "backlog_watch_requests"
"""Where a forwarded request is announced (NOTIFY), so its lease's holder takes it at once."""
FORGET_AFTER = 3600.0
"""Seconds after which a dead replica's heartbeat row and a request nobody took are deleted."""


def check_fence(db: Db, fence: Fence | None) -> None:
    """Inside a write transaction, before its writes: the lease must still be ``fence.holder``'s with
    ``fence.token`` and unexpired. The row is then held (FOR SHARE) until the transaction ends, so
    no replica can take the lease before these writes commit."""
    if fence is None:
        return
    row = db.execute(
        "SELECT 1 FROM leases WHERE name = %s AND holder = %s AND token = %s AND expires_at > now() FOR SHARE",
        (fence.lease, fence.holder, fence.token),
    ).fetchone()
    if row is None:
        raise LeaseLost(
            f"lease {fence.lease} (token {fence.token}) is no longer held by {fence.holder}: nothing was written",
            lease=fence.lease,
            token=fence.token,
        )


class PostgresLeaseTable:
    """The lease rows as replica ``replica`` sees them (a ``LeaseTable``); each call one transaction."""

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[Db]], replica: str, ttl: float, url: str = ""
    ) -> None:
        self._transaction = transaction
        self.replica = replica
        self.ttl = ttl
        self._url = url
        """The store's URL, for the connection that listens (it holds the password: never shown)."""

    def heartbeat(self) -> int:
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO replicas (id, expires_at) VALUES (%s, {_LATER}) "
                "ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
                (self.replica, self.ttl),
            )
            db.execute("DELETE FROM replicas WHERE expires_at < now() - make_interval(secs => %s)", (FORGET_AFTER,))
            db.execute(
                "DELETE FROM poll_requests WHERE requested_at < now() - make_interval(secs => %s)", (FORGET_AFTER,)
            )
            row = db.execute("SELECT count(*) FROM replicas WHERE expires_at > now()").fetchone()
        return int(row[0]) if row is not None else 1

    def claim(self, lease: str) -> Claim | None:
        with self._transaction() as db:
            db.execute("INSERT INTO leases (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (lease,))
            row = db.execute(
                "SELECT holder, expires_at > now(), released FROM leases WHERE name = %s FOR UPDATE SKIP LOCKED",
                (lease,),
            ).fetchone()
            if row is None:  # a write under it is committing (or its writer is paused): next tick
                return None
            holder, live, released = row
            if live and holder != self.replica:
                return None
            taken = db.execute(
                f"UPDATE leases SET holder = %s, token = nextval('lease_tokens'), expires_at = {_LATER}, "
                "acquired_at = now(), released = false WHERE name = %s RETURNING token",
                (self.replica, self.ttl, lease),
            ).fetchone()
            assert taken is not None
        previous = holder if holder is not None and holder != self.replica else None
        return Claim(lease, int(taken[0]), previous, takeover=previous is not None and not released)

    def renew(self, leases: Sequence[str]) -> dict[str, int]:
        if not leases:
            return {}
        with self._transaction() as db:
            rows = db.execute(
                f"UPDATE leases SET expires_at = {_LATER} WHERE holder = %s AND name = ANY(%s) AND expires_at > now() "
                "RETURNING name, token",
                (self.ttl, self.replica, list(leases)),
            ).fetchall()
        return {str(name): int(token) for name, token in rows}

    def release(self, leases: Sequence[str]) -> None:
        if not leases:
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE leases SET expires_at = now(), released = true WHERE holder = %s AND name = ANY(%s) "
                "AND expires_at > now()",
                (self.replica, list(leases)),
            )

    def leave(self) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE leases SET expires_at = now(), released = true WHERE holder = %s AND expires_at > now()",
                (self.replica,),
            )
            db.execute("DELETE FROM replicas WHERE id = %s", (self.replica,))

    def holders(self) -> dict[str, str]:
        with self._transaction() as db:
            rows = db.execute("SELECT name, holder FROM leases WHERE expires_at > now() ORDER BY name").fetchall()
        return {str(name): str(holder) for name, holder in rows}

    def forward(self, request: ForwardedRequest) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO poll_requests (kind, helpdesk, ticket_ids, requested_by) VALUES (%s, %s, %s, %s)",
                (request.kind, request.helpdesk, json.dumps(list(request.ticket_ids)), self.replica),
            )
            db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, request.kind))  # sent at the commit

    def take_requests(self, helpdesks: Sequence[str], evaluator: bool) -> list[ForwardedRequest]:
        with self._transaction() as db:
            rows = db.execute(
                "DELETE FROM poll_requests WHERE (kind = 'poll' AND helpdesk = ANY(%s)) OR (kind = 'evaluate' AND %s) "
                "RETURNING id, kind, helpdesk, ticket_ids",
                (list(helpdesks), evaluator),
            ).fetchall()
        return [ForwardedRequest(str(kind), str(h), tuple(json.loads(ids))) for _, kind, h, ids in sorted(rows)]

    async def listen(self, heard: Callable[[], None]) -> None:
        """Call ``heard()`` whenever a replica forwards work, and once each time listening starts, until
        cancelled. A connection lost is opened again a TTL later; meanwhile the ticks still take the
        requests, only later."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=10) as db:
                    await db.execute(f"LISTEN {CHANNEL}")
                    heard()  # what was announced while not listening yet is taken now
                    async for _ in db.notifies():
                        heard()
            except psycopg.Error as exc:  # the reason may quote the URL: only its kind is told
                log.debug("not listening for forwarded work (%s): the ticks take it", type(exc).__name__)
            await asyncio.sleep(self.ttl)
