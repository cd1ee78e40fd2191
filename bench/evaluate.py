"""Evaluation of every rule of the contract over a large store: against one raw SQLite scan of the same rows.

For 10k and 100k open tickets in a store of 1M tickets (the rest solved over two years), prints:
  - raw: one `SELECT *` of the rows the snapshot holds (open + solved in the window), fetchall, seconds
  - snapshot: store.snapshot (rows -> Ticket objects), seconds and ratio to raw
  - rules: every contract rule's evaluate() over that snapshot (business hours included), seconds, ratio
  - history: the KPIs per helpdesk and group that the daemon records, seconds, ratio
  - peak memory of one whole evaluation (tracemalloc), MB
Ratios are the figures (this machine is shared and noisy); run again to compare.

Usage: python bench/evaluate.py [--stored 1000000] [--open 10000 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import tempfile
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backlog_watch.config import load_config
from backlog_watch.kpis import kpis_by_scope
from backlog_watch.store.history import HistoryView
from backlog_watch.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "config" / "backlog-watch.example.yaml"
ENV = {k: "x" for k in ("ZENDESK_API_TOKEN", "FRESHDESK_API_KEY", "JIRA_API_TOKEN", "SLACK_BOT_TOKEN", "SMTP_PASSWORD")}
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HELPDESKS = ("zendesk", "freshdesk", "jira")
TAGS = [f"topic-{i}" for i in range(20)]
GROUPS = [f"Group {i}" for i in range(10)]
PRIORITIES = ("urgent", "high", "normal", "normal", "low", "none")


def rows(stored: int, open_count: int, rng: random.Random) -> list[tuple[object, ...]]:
    now = NOW.timestamp()
    found: list[tuple[object, ...]] = []
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
        found.append(
            (
                HELPDESKS[i % 3],
                str(i),
                status,
                rng.choice(PRIORITIES),
                "email",
                rng.choice(GROUPS),
                rng.choice((None, "Ada", "Grace", "Linus")),
                json.dumps(rng.sample(TAGS, 2)),
                f"Ticket {i}",
                created,
                solved or created,
                solved,
                sla,
                f"https://example.com/{i}",
            )
        )
    return found


def fill(store: SqliteStore, stored: int, open_count: int) -> None:
    """Rows straight into the store's file: the store offers no bulk insert of raw rows (only store/ speaks
    SQL in the package), and building a million Ticket objects would only slow the set-up, which is not timed."""
    rng = random.Random(1)
    with contextlib.closing(sqlite3.connect(store.path)) as db, db:
        db.executemany("INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows(stored, open_count, rng))


def raw_scan(store: SqliteStore, since: datetime) -> int:
    """The snapshot's two queries (open tickets; solved since), rows fetched as tuples and nothing more."""
    found = store.query("SELECT * FROM tickets WHERE status IN ('new','open','pending','on_hold')")
    found += store.query(
        "SELECT * FROM tickets WHERE solved_at >= ? AND status IN ('solved','closed')", (since.timestamp(),)
    )
    return len(found)


def evaluate(store: SqliteStore, config: object) -> tuple[float, float, float, int]:
    rules = config.effective_rules()  # type: ignore[attr-defined]
    window = max([timedelta(days=7), *(r.needs_solved() for r in rules)])
    t0 = time.perf_counter()
    snapshot = store.snapshot(NOW, list(HELPDESKS), window)
    t1 = time.perf_counter()
    snapshot = replace(snapshot, calendars=config.calendars(), history=HistoryView())  # type: ignore[attr-defined]
    findings = [f for rule in rules for f in rule.evaluate(snapshot, NOW)]
    t2 = time.perf_counter()
    kpis_by_scope(snapshot, NOW)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, len(findings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    config = load_config(CONTRACT, env=ENV)
    for open_count in args.open:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "bench.db")
            fill(store, args.stored, open_count)
            since = NOW - timedelta(days=8)  # the spike rule's window + baseline
            start = time.perf_counter()
            scanned = raw_scan(store, since)
            raw = time.perf_counter() - start
            snap, rules, history, findings = evaluate(store, config)
            tracemalloc.start()
            evaluate(store, config)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            store.close()
        print(f"{open_count:>7} open / {args.stored} stored ({scanned} rows in the snapshot, {findings} findings)")
        print(f"  raw scan   {raw:7.3f}s")
        print(f"  snapshot   {snap:7.3f}s  x{snap / raw:5.1f}")
        print(f"  rules      {rules:7.3f}s  x{rules / raw:5.1f}  (12 contract rules)")
        print(f"  history    {history:7.3f}s  x{history / raw:5.1f}  (KPIs per helpdesk and group)")
        print(f"  total      {snap + rules + history:7.3f}s  x{(snap + rules + history) / raw:5.1f}")
        print(f"  peak memory of one evaluation: {peak:.0f} MB")


if __name__ == "__main__":
    main()
