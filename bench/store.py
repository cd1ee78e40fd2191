"""A 100k-ticket cold sync into each store: what the store's writes cost, SQLite on disk vs PostgreSQL.

The tickets are built in memory first (varied statuses, tags, groups, SLAs), so the figure is the
store alone: ``commit_page`` of pages of 1,000 (Zendesk's export page) with their cursor, each page
one transaction. Then a second pass over the same tickets (a re-sync: every ticket seen again, one
in ten changed), and the evaluator's widest read: every KPI per helpdesk and group over the snapshot.
Ratios within one run are the figures (the machine is shared and noisy).

Then the SQLite cold sync's CPU in its writing thread, alone and beside a thread running Python (what a
sync's event loop is while the writer writes: it reads and builds the next pages). A driver call that
hands the GIL over once per row (``executemany``) pays a contended hand-over per row there; the store's
multi-row INSERTs (store/sqlite/batch.py) keep the two figures close.

PostgreSQL: a throwaway database on the server at ``$BACKLOG_WATCH_BENCH_POSTGRES`` (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end.

Usage: python bench/store.py [--tickets 100000] [--page 1000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from backlog_watch.models import ALL_TICKETS, Priority, Sla, Status, Ticket
from backlog_watch.store import Store
from backlog_watch.store.postgres import PostgresStore
from backlog_watch.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SERVER = os.environ.get("BACKLOG_WATCH_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED, Status.SOLVED)


def backlog(count: int) -> list[Ticket]:
    tickets = []
    for n in range(count):
        status = STATUSES[n % len(STATUSES)]
        created = NOW - timedelta(minutes=7 * n % 500_000)
        solved = created + timedelta(hours=n % 90) if status in (Status.SOLVED, Status.CLOSED) else None
        tickets.append(
            Ticket(
                helpdesk="zendesk",
                id=str(n),
                subject=f"Ticket {n}: printer on fire again",
                status=status,
                priority=list(Priority)[n % len(Priority)],
                group=f"Group {n % 12}",
                assignee=f"agent{n % 40}" if n % 5 else None,
                tags=("vip", f"tag{n % 30}") if n % 3 else (),
                created_at=created,
                updated_at=solved or created,
                solved_at=solved,
                sla=Sla(resolution_due=created + timedelta(days=1)) if n % 4 == 0 else Sla(),
                url=f"https://acme.zendesk.com/agent/tickets/{n}",
            )
        )
    return tickets


def touched(t: Ticket) -> Ticket:
    return t.model_copy(update={"updated_at": t.updated_at + timedelta(minutes=5), "assignee": "agent-new"})


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def sync_into(store: Store, tickets: list[Ticket], page: int) -> float:
    def pages() -> None:
        for start in range(0, len(tickets), page):
            store.commit_page("zendesk", tickets[start : start + page], f"cursor-{start}")

    return timed(pages)


def measure(store: Store, tickets: list[Ticket], page: int) -> dict[str, float]:
    try:
        cold = sync_into(store, tickets, page)
        again = sync_into(store, [touched(t) if int(t.id) % 10 == 0 else t for t in tickets], page)
        query = store.snapshot(NOW, ["zendesk"]).query
        read = timed(lambda: query.kpis(ALL_TICKETS, ("helpdesk", "group"), {}))
        assert store.count_tickets() == len(tickets)
    finally:
        store.close()
    return {"cold": cold, "again": again, "snapshot": read}


def writer_cpu(tickets: list[Ticket], page: int, folder: Path, *, busy: bool) -> float:
    """CPU seconds of this thread for a SQLite cold sync of ``tickets`` (encoded first, as a sync does),
    with (``busy``) a thread running Python beside it all along."""
    store = SqliteStore(folder / f"writer-{busy}.db")
    encoded = store.encode_tickets(tickets)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(200))

    beside = threading.Thread(target=spin)
    if busy:
        beside.start()
    try:
        start = time.thread_time()
        for first in range(0, len(encoded), page):
            store.commit_page("zendesk", encoded[first : first + page], f"cursor-{first}")
        return time.thread_time() - start
    finally:
        stop.set()
        if busy:
            beside.join()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    tickets = backlog(args.tickets)
    name = f"bw_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as folder:
            sqlite = measure(SqliteStore(Path(folder) / "bench.db"), tickets, args.page)
            alone = writer_cpu(tickets, 5_000, Path(folder), busy=False)
            beside = writer_cpu(tickets, 5_000, Path(folder), busy=True)
        postgres = measure(PostgresStore(urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}"))), tickets, args.page)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    n = args.tickets
    print(f"{n:,} tickets in pages of {args.page:,} (one transaction per page, with its cursor)")
    print(f"{'':<22}{'SQLite':>12}{'PostgreSQL':>14}{'PG/SQLite':>11}")
    for key, label in (("cold", "cold sync"), ("again", "re-sync (1 in 10)"), ("snapshot", "KPIs per group")):
        print(f"{label:<22}{sqlite[key]:>11.2f}s{postgres[key]:>13.2f}s{postgres[key] / sqlite[key]:>10.2f}x")
    for key, label in (("cold", "cold sync"), ("again", "re-sync")):
        print(f"{label + ' tickets/s':<22}{n / sqlite[key]:>12,.0f}{n / postgres[key]:>14,.0f}")
    print(
        f"SQLite cold sync in transactions of 5,000, the writing thread's CPU: alone {alone:.2f} s, beside a "
        f"thread running Python {beside:.2f} s ({beside / alone:.2f}x)"
    )


if __name__ == "__main__":
    main()
