"""One evaluation over N helpdesks, as bench/scale.py's evaluator runs it, on SQLite and on PostgreSQL.

The store holds what bench/scale.py's replicas hold after their warm-up: N helpdesks, each a copy of
the tickets of one of ``--sims`` Zendesk simulators (30 tickets each, synced once through the real
connector, then copied under N names), every helpdesk polled. The daemon is the contract's (12 rules, a
console notifier, nothing polled); what is timed is ``Daemon.assess()``: the first evaluation (every
alert new), then ``--again`` more with nothing changed (the steady state of a busy evaluator), and the
CPU the process used meanwhile (the PostgreSQL server's is not counted). ``--profile`` prints the
hotspots of one steady-state evaluation; ``--statements`` counts the statements it sends.

Usage: python bench/evaluator.py [--n 200 1000] [--stores sqlite postgresql] [--again 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import Simulators
from live import contract

from backlog_watch.app import assemble
from backlog_watch.config.models import Config
from backlog_watch.sources.connector import sync

ROOT = Path(__file__).resolve().parent.parent


def config(store: str, helpdesks: list[dict[str, Any]]) -> Config:
    rules = contract(["console"])
    return Config.model_validate(
        {
            "store": store,
            "timezone": "UTC",
            "helpdesks": helpdesks,
            "notifiers": [{"name": "console", "type": "console"}],
            "defaults": rules["defaults"],
            "rules": rules["rules"],
            "business_hours": rules["business_hours"],
        }
    )


async def fill(url: str, sims: Simulators, count: int) -> None:
    """Sync each simulator once, then store its tickets under the names it serves (desk-i: simulator i % sims)."""
    names = [f"desk-{i:04d}" for i in range(count)]
    seeds = [{**h, "name": f"seed-{i}"} for i, h in enumerate(sims.helpdesks)]
    async with assemble(config(url, seeds)) as parts:
        for connector in parts.connectors.values():
            await sync(connector, parts.store)
        store = parts.store
        seeded = [store.tickets([f"seed-{i}"], open_only=False) for i in range(len(seeds))]
        now = datetime.now(UTC)
        for i, name in enumerate(names):
            tickets = [t.model_copy(update={"helpdesk": name}) for t in seeded[i % len(seeds)]]
            store.commit_page(name, tickets, "0")
            store.record_poll(name, now)


@contextmanager
def counted(store: Any) -> Iterator[Counter[str]]:
    """Count the statements ``store.query`` runs (the evaluation's reads go through it), by their first words."""
    seen: Counter[str] = Counter()
    query = store.query

    def counting(sql: str, args: Any = ()) -> Any:
        seen[" ".join(sql.split()[:6])] += 1
        return query(sql, args)

    store.query = counting
    try:
        yield seen
    finally:
        store.query = query


async def evaluate(
    url: str, helpdesks: list[dict[str, Any]], again: int, profile: bool, statements: bool
) -> dict[str, Any]:
    async with assemble(config(url, helpdesks)) as parts:
        daemon = parts.daemon
        cpu, wall = time.process_time(), time.perf_counter()
        first = await daemon.assess()
        timings = [(time.process_time() - cpu, time.perf_counter() - wall)]
        with contextlib.redirect_stdout(io.StringIO()):  # the console takes the first notifications
            await daemon.deliver()  # the outbox is empty again, as in a running evaluator
        for _ in range(again):
            cpu, wall = time.process_time(), time.perf_counter()
            await daemon.assess()
            timings.append((time.process_time() - cpu, time.perf_counter() - wall))
        if statements:
            with counted(daemon.store) as seen:
                await daemon.assess()
            print(f"  statements through store.query: {sum(seen.values())}")
            for text, n in seen.most_common(12):
                print(f"    {n:>6}  {text}")
        if profile:
            found = cProfile.Profile()
            found.runcall(daemon._assess, threading.Event())  # the worker thread's work, where cProfile sees it
            stats = pstats.Stats(found).sort_stats("cumulative")
            stats.print_stats(45)
            stats.print_callers("_reading|_transaction")
        firing = sum(1 for a in first.alerts.values() if a.is_firing)
    steady = timings[1:] or timings
    return {
        "first_cpu": timings[0][0],
        "first_wall": timings[0][1],
        "again_cpu": min(c for c, _ in steady),
        "again_wall": min(w for _, w in steady),
        "alerts": len(first.alerts),
        "firing": firing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--sims", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=30)
    parser.add_argument("--again", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--statements", action="store_true")
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.helpers.postgres import throwaway_database

    heads = ("store", "N", "alerts", "firing", "first cpu", "wall", "again cpu", "wall")
    print(" ".join(f"{head:>10}" for head in heads))
    with Simulators("zendesk", count=args.sims, tickets=args.tickets) as sims:
        for kind in args.stores:
            for count in args.n:
                helpdesks = [{**sims.helpdesks[i % len(sims.helpdesks)], "name": f"desk-{i:04d}"} for i in range(count)]
                with (
                    tempfile.TemporaryDirectory() as folder,
                    throwaway_database() if kind == "postgresql" else _nothing(f"sqlite:///{folder}/bench.db") as url,
                ):
                    asyncio.run(fill(url, sims, count))
                    found = asyncio.run(evaluate(url, helpdesks, args.again, args.profile, args.statements))
                print(
                    f"{kind:>10} {count:>10} {found['alerts']:>10} {found['firing']:>10} {found['first_cpu']:>9.2f}s"
                    f" {found['first_wall']:>9.2f}s {found['again_cpu']:>9.2f}s {found['again_wall']:>9.2f}s",
                    flush=True,
                )


@contextmanager
def _nothing(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
