"""Evaluation of every rule of the contract over a large store, against one raw SQLite scan of the same rows.

For 10k and 100k open tickets in a store of 1M tickets (the rest solved over two years), prints:
  - raw: a SELECT of the columns of the rows an evaluation covers (open + solved in the window), fetchall
  - assess: `Daemon.assess()` as `run` calls it (the contract's 12 rules, advance, mute, plan, the writes:
    alerts, the outbox, the KPI history), notifiers configured but nothing sent; its ratio to raw
  - again: the same evaluation repeated with nothing changed (the per-tick cost); its ratio to raw
  - peak RSS (ru_maxrss) of a child process that opens the store, assembles the daemon from the contract
    and evaluates twice, as `once` does after its polls
Ratios are the figures (this machine is shared and noisy): each is the best of ``--rounds`` interleaved runs.

Usage: python bench/evaluate.py [--stored 1000000] [--open 10000 100000] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import pstats
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.config import load_config
from backlog_watch.config.models import Config
from backlog_watch.store.codec import TICKET_COLUMNS, evaluation_values
from backlog_watch.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "config" / "backlog-watch.example.yaml"
ENV = {k: "x" for k in ("ZENDESK_API_TOKEN", "FRESHDESK_API_KEY", "JIRA_API_TOKEN", "SLACK_BOT_TOKEN", "SMTP_PASSWORD")}
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HELPDESKS = ("zendesk", "freshdesk", "jira")
TAGS = [f"topic-{i}" for i in range(20)]
GROUPS = [f"Group {i}" for i in range(10)]
PRIORITIES = ("urgent", "high", "normal", "normal", "low", "none")
SOLVED_SINCE = NOW - timedelta(days=8)
"""The widest solved window of the contract's rules (the spike rule's window + baseline)."""


def rows(stored: int, open_count: int, rng: random.Random) -> Iterator[tuple[tuple[object, ...], list[str]]]:
    now = NOW.timestamp()
    for i in range(stored):
        is_open = i < open_count
        created = now - rng.uniform(0, 60 if is_open else 730) * 86400
        solved = None if is_open else min(now, created + rng.uniform(0.01, 10) * 86400)
        status = rng.choice(("new", "open", "open", "pending", "on_hold")) if is_open else "solved"
        sla = (
            json.dumps({"first_response_due": datetime.fromtimestamp(created + 8 * 3600, UTC).isoformat()})
            if is_open and rng.random() < 0.5
            else None
        )
        tags = rng.sample(TAGS, 2)
        row = (
            HELPDESKS[i % 3],
            str(i),
            status,
            rng.choice(PRIORITIES),
            "email",
            rng.choice(GROUPS),
            rng.choice((None, "Ada", "Grace", "Linus")),
            json.dumps(tags),
            f"Ticket {i}",
            created,
            solved or created,
            solved,
            sla,
            f"https://example.com/{i}",
            *evaluation_values(status, sla),
        )
        yield row, tags


def fill(path: Path, stored: int, open_count: int) -> None:
    """Rows straight into the store's file (the store has no bulk insert of raw rows, and building a million
    Ticket objects would only slow the set-up, which is not timed); the helpdesks are marked polled."""
    SqliteStore(path).close()  # create and migrate
    rng = random.Random(1)
    placeholders = ",".join("?" * len(TICKET_COLUMNS.split(",")))
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        batch: list[tuple[tuple[object, ...], list[str]]] = []
        for item in rows(stored, open_count, rng):
            batch.append(item)
            if len(batch) == 50_000:
                _insert(db, batch, placeholders)
                batch = []
        _insert(db, batch, placeholders)
        db.executemany(
            "INSERT INTO polls (helpdesk, last_success) VALUES (?, ?)", [(h, NOW.timestamp()) for h in HELPDESKS]
        )


def _insert(db: sqlite3.Connection, batch: list[tuple[tuple[object, ...], list[str]]], placeholders: str) -> None:
    db.executemany(f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ({placeholders})", [row for row, _ in batch])
    db.executemany("INSERT INTO ticket_tags VALUES (?, ?, ?)", [(r[0], r[1], t) for r, tags in batch for t in tags])


def raw_scan(path: Path) -> int:
    """The rows an evaluation covers, every column fetched as tuples and nothing more."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        found = db.execute("SELECT * FROM tickets WHERE status IN ('new','open','pending','on_hold')").fetchall()
        found += db.execute(
            "SELECT * FROM tickets WHERE solved_at >= ? AND status IN ('solved','closed')", (SOLVED_SINCE.timestamp(),)
        ).fetchall()
    return len(found)


def contract(path: Path) -> Config:
    config = load_config(CONTRACT, env=ENV)
    return config.model_copy(update={"store": f"sqlite:///{path}"})


async def assess_twice(path: Path, profile: cProfile.Profile | None = None) -> tuple[float, float, int]:
    """Seconds of the first evaluation and of the same one repeated; the alerts it left."""
    async with assemble(contract(path), clock=lambda: NOW) as parts:
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            if profile is not None and not timings:
                # assess() runs its work in a worker thread, which cProfile does not follow: the work itself
                evaluation = profile.runcall(parts.daemon._assess, threading.Event())
            else:
                evaluation = await parts.daemon.assess()
            timings.append(time.perf_counter() - start)
        return timings[0], timings[1], sum(1 for a in evaluation.alerts.values() if a.is_firing)


def child(path: Path) -> None:
    """The peak RSS of a process that evaluates the store as `once` does (printed in MB)."""
    asyncio.run(assess_twice(path))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def reset(path: Path) -> None:
    """Back to the store as filled: no alerts, no outbox, no history (the first evaluation writes them)."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for table in ("alerts", "outbox", "history", "notification_log"):
            db.execute(f"DELETE FROM {table}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top hotspots of the first evaluation")
    parser.add_argument("--sort", default="tottime", help="the profile's order (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    table = []
    for open_count in args.open:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.db"
            fill(path, args.stored, open_count)
            raws, firsts, agains = [], [], []
            for _ in range(args.rounds):
                start = time.perf_counter()
                scanned = raw_scan(path)
                raws.append(time.perf_counter() - start)
                reset(path)
                first, again, firing = asyncio.run(assess_twice(path))
                firsts.append(first)
                agains.append(again)
            # through a shell that forks it: a process forked from this one (grown by the fill) would count our
            # pages in its own ru_maxrss, which survives exec
            child_run = [sys.executable, __file__, "--child", str(path)]
            spawned = subprocess.run(
                ["sh", "-c", '"$@"; exit $?', "sh", *child_run], capture_output=True, text=True, check=True
            )
            rss = float(spawned.stdout)
            if args.profile:
                reset(path)
                profile = cProfile.Profile()
                asyncio.run(assess_twice(path, profile))
                pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        raw = min(raws)
        table.append((open_count, scanned, firing, raw, min(firsts), min(agains), rss))
    print(f"store of {args.stored} tickets; best of {args.rounds} rounds; 12 contract rules; writes included")
    heads = ("open", "rows", "firing", "raw scan", "assess", "ratio", "again", "ratio", "peak RSS")
    print(" ".join(f"{h:>9}" for h in heads))
    for open_count, scanned, firing, raw, first, again, rss in table:
        print(
            f"{open_count:>9} {scanned:>9} {firing:>9} {raw:>8.3f}s {first:>8.3f}s {first / raw:>8.2f}x "
            f"{again:>8.3f}s {again / raw:>8.2f}x {rss:>6.0f} MB"
        )
    open_count, _, _, raw, first, again, rss = max(table)  # the largest backlog is the figure
    report(
        "evaluate",
        {
            "evaluate": (f"{first / raw:.2f}x ({open_count:,} open; per tick {again / raw:.2f}x)", first / raw <= 2),
            "rss": (f"{rss:.0f} MB", rss <= 150),
        },
        {
            "stored": args.stored,
            "runs": [
                dict(zip(("open", "rows", "firing", "raw", "assess", "again", "rss"), r, strict=True)) for r in table
            ],
        },
    )


if __name__ == "__main__":
    main()
