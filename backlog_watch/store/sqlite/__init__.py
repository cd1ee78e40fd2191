"""The SQLite store: the embedded default (``sqlite:///path``), one file on disk in WAL mode.

store.py holds the connection, transactions, tickets, cursors, polls and alerts; queues.py the outbox,
notification log and silences SQL; history.py the KPI history SQL.
"""

from __future__ import annotations

from backlog_watch.store.sqlite.store import SqliteStore, copy_file

__all__ = ["SqliteStore", "copy_file"]
