"""What the ticket change log (store/changelog.py) costs the ticket write path, SQLite on disk and PostgreSQL.

The same pages go into a store with the log and into one whose write path skips the log's step (the step
replaced by a no-op in this process: the rest of the write path is the same code): a cold sync of
``--tickets`` (a first sight writes no log row), then re-syncs in which one ticket in ten changes a
tracked field (a row each, two at a ticket's first change: the state it left) and the rest come back
unchanged (no row). Figures: seconds with and without the log (ratio), and per 1,000 tickets changed the
rows written, their bytes (table and indexes) and the milliseconds the log adds. Ratios within one run
are the figures (the machine is shared and noisy). bench/store.py builds the tickets (``backlog``) and
changes them (``touched``).

PostgreSQL: a throwaway database on ``$BACKLOG_WATCH_BENCH_POSTGRES`` (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end; ``--no-postgres`` skips it.

Usage: python bench/changelog.py [--tickets 20000] [--page 1000] [--rounds 3] [--repeat 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from live import report
from store import SERVER, backlog, timed, touched

from backlog_watch.models import Ticket
from backlog_watch.store import SqlStore
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.postgres import changelog as pg_changelog
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.store.sqlite import changelog as sqlite_changelog


@dataclass
class Run:
    cold: float
    again: float
    rows: int
    changed: int
    size: int


@contextmanager
def without_log() -> Iterator[None]:
    """The write paths' change-log step made a no-op, for the 'without' side."""
    saved = sqlite_changelog.record, pg_changelog.record
    sqlite_changelog.record = lambda *_: None  # type: ignore[assignment]
    pg_changelog.record = lambda *_: None  # type: ignore[assignment]
    try:
        yield
    finally:
        sqlite_changelog.record, pg_changelog.record = saved


def pages(store: SqlStore, tickets: list[Ticket], page: int) -> float:
    def write() -> None:
        for start in range(0, len(tickets), page):
            store.commit_page("zendesk", tickets[start : start + page], f"cursor-{start}")

    return timed(write)


def size_of(store: SqlStore) -> int:
    """Bytes of the log's table and its indexes."""
    if store.dialect == "sqlite":
        rows = store.query("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'ticket_changes%'")
    else:
        rows = store.query("SELECT pg_total_relation_size('ticket_changes')")
    return int(rows[0][0] or 0)  # type: ignore[call-overload]


def measure(open_store: Callable[[], SqlStore], tickets: list[Ticket], page: int, rounds: int) -> Run:
    store = open_store()
    try:
        cold = pages(store, tickets, page)
        again, changed, current = 0.0, 0, tickets
        for round_ in range(rounds):
            current = [touched(t) if (int(t.id) + round_) % 10 == 0 else t for t in current]
            changed += sum(1 for t in current if (int(t.id) + round_) % 10 == 0)
            again += pages(store, current, page)
        rows = int(store.query("SELECT count(*) FROM ticket_changes")[0][0])  # type: ignore[call-overload]
        return Run(cold, again, rows, changed, size_of(store))
    finally:
        store.close()


def best(runs: list[Run]) -> Run:
    """The fastest of each timing (the least disturbed by the shared machine); the counts are the same."""
    return Run(min(r.cold for r in runs), min(r.again for r in runs), runs[-1].rows, runs[-1].changed, runs[-1].size)


def side_by_side(name: str, open_store: Callable[[str, int], SqlStore], args: argparse.Namespace) -> dict[str, Any]:
    tickets = backlog(args.tickets)
    bares, logs = [], []
    for n in range(args.repeat):  # alternated, so a busy spell of the machine weighs on both sides
        with without_log():
            bares.append(measure(lambda n=n: open_store("bare", n), tickets, args.page, args.rounds))
        logs.append(measure(lambda n=n: open_store("log", n), tickets, args.page, args.rounds))
    bare, logged = best(bares), best(logs)
    change_rows = logged.rows  # the cold sync wrote none: every row is a change's (or the state it left)
    per_k = 1000 / logged.changed
    figures = {
        "cold_ratio": logged.cold / bare.cold,
        "resync_ratio": logged.again / bare.again,
        "rows_per_1k_changed": change_rows * per_k,
        "bytes_per_1k_changed": logged.size / logged.rows * change_rows * per_k,
        "ms_per_1k_changed": (logged.again - bare.again) * 1000 * per_k,
        "bytes_per_row": logged.size / logged.rows,
    }
    print(
        f"{name}: {args.tickets:,} tickets, pages of {args.page:,}, {args.rounds} re-sync(s), 1 in 10 changed each "
        f"(best of {args.repeat})"
    )
    print(f"  cold sync   {bare.cold:7.2f}s without the log, {logged.cold:7.2f}s with ({figures['cold_ratio']:.2f}x)")
    print(
        f"  re-syncs    {bare.again:7.2f}s without the log, {logged.again:7.2f}s with ({figures['resync_ratio']:.2f}x)"
    )
    print(
        f"  per 1k tickets changed: {figures['rows_per_1k_changed']:.0f} rows, "
        f"{figures['bytes_per_1k_changed'] / 1024:.0f} KiB, {figures['ms_per_1k_changed']:+.0f} ms"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternated (the best counts)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        figures["sqlite"] = side_by_side("SQLite", lambda s, n: SqliteStore(Path(folder) / f"{s}{n}.db"), args)
    if not args.no_postgres:
        name = f"bw_bench_{os.getpid()}_{secrets.token_hex(3)}"
        databases = [f"{name}_{side}{n}" for side in ("bare", "log") for n in range(args.repeat)]
        with psycopg.connect(SERVER, autocommit=True) as admin:
            for database in databases:
                admin.execute(f'CREATE DATABASE "{database}"')
        try:

            def open_pg(side: str, n: int) -> SqlStore:
                return PostgresStore(urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}_{side}{n}")))

            figures["postgresql"] = side_by_side("PostgreSQL", open_pg, args)
        finally:
            with psycopg.connect(SERVER, autocommit=True) as admin:
                for database in databases:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    lite = figures["sqlite"]
    shown = (
        f"SQLite re-sync {lite['resync_ratio']:.2f}x, cold {lite['cold_ratio']:.2f}x; per 1k changed "
        f"{lite['rows_per_1k_changed']:.0f} rows, {lite['bytes_per_1k_changed'] / 1024:.0f} KiB"
    )
    if "postgresql" in figures:
        shown += f"; PostgreSQL re-sync {figures['postgresql']['resync_ratio']:.2f}x"
    report("changelog", {"changelog": (shown, None)}, figures)


if __name__ == "__main__":
    main()
