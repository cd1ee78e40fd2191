"""The PostgreSQL store: the shared one (``postgresql://user:password@host/db``), for replicas.

store.py holds the pool, transactions, tickets, cursors, polls and alerts; queues.py the outbox,
notification log and silences SQL; history.py the KPI history SQL; schema.py the migrations.
Needs the ``postgres`` extra (psycopg 3 and psycopg_pool).
"""

from __future__ import annotations

from backlog_watch.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
