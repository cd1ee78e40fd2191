"""What a wall screen, a Prometheus scrape and a report cost on a large store.

Prints, for one run on a store of N tickets (a third solved, twelve groups, thirty tags):
  - /api/backlog: the wallboard's data (sparkline, flow and oldest ticket in SQL; KPIs from the history)
  - /metrics: the exposition (KPIs read from the history the last evaluation stored)
  - one evaluation's snapshot + KPIs, for comparison: what the daemon pays every evaluate_every
  - the daily and the weekly report, chart included
and the ratio of each to the evaluation (the figures to watch: this machine is shared and noisy).

With ``--stored``, over bench/evaluate.py's store instead (``--stored`` tickets, ``--open`` of them open,
three helpdesks; SQLite on disk), each in a child process of its own so its peak RSS (ru_maxrss) is its
alone, best of ``--rounds`` interleaved: one evaluation (snapshot + KPIs + history, on a copy of the
store), the wallboard's data (``wallboard.backlog``) and GET /api/backlog from the daemon's web server on
loopback, both before any evaluation (no KPI history: every card's figures from the store, as the total
across helpdesks always is). ``--compare SRC`` times the package found in SRC as well (e.g. ``git archive
main backlog_watch | tar -x -C SRC``), interleaved in the same rounds.

Usage: python bench/web.py [--tickets 100000]
       python bench/web.py --stored 1000000 [--open 100000] [--rounds 3] [--compare SRC]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from backlog_watch.kpis import kpis_by_scope
from backlog_watch.models import Priority, Sla, Status, Ticket
from backlog_watch.reports import prepare
from backlog_watch.store.history import History
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.web import wallboard
from backlog_watch.web.exporter import exposition, make_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.factories, from a checkout
from evaluate import NOW as STORED_NOW  # noqa: E402
from evaluate import fill  # noqa: E402
from live import child_figures, report  # noqa: E402

from tests.factories import NOW, ticket  # noqa: E402

CHILD = """
import asyncio, json, resource, sys, time
from datetime import datetime
import httpx
from backlog_watch.kpis import kpis_by_scope
from backlog_watch.store.history import History
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.web import wallboard
from backlog_watch.web.server import BoardCache, WebServer, WebState
path, kind, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
helpdesks = {"zendesk": 120.0, "freshdesk": 120.0, "jira": 120.0}
store = SqliteStore(path)

async def served():
    state = WebState(store, helpdesks, lambda: now, board_cache=BoardCache(seconds=0))
    server = WebServer("127.0.0.1", 0, state)
    url = await server.start()
    try:
        async with httpx.AsyncClient(timeout=600) as client:
            start = time.perf_counter()
            answer = await client.get(url + "/api/backlog")
            answer.raise_for_status()
            return time.perf_counter() - start, answer.json()
    finally:
        await server.stop()

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if kind == "evaluation":
    History(store).record(now, kpis_by_scope(store.snapshot(now, list(helpdesks)), now))
    seconds, total = time.perf_counter() - start, {}
elif kind == "wallboard":
    total = wallboard.backlog(store, helpdesks, now)["total"]
    seconds = time.perf_counter() - start
else:
    seconds, board = asyncio.run(served())
    total = board["total"]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
shown = {k: total.get(k) for k in ("open_tickets", "sla_breached", "sla_due_1h", "age_p90_hours")}
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "base_mb": before / 1024, "total": shown}))
"""
KINDS = ("evaluation", "wallboard", "/api/backlog")


def tickets(count: int) -> list[Ticket]:
    made = []
    for i in range(count):
        solved = i % 3 == 0
        made.append(
            ticket(
                id=str(i),
                age=timedelta(hours=i % 2000),
                group=f"G{i % 12}",
                tags=(f"t{i % 30}",),
                priority=list(Priority)[i % 5],
                status=Status.SOLVED if solved else Status.OPEN,
                solved_at=NOW - timedelta(hours=(i % 2000) / 2) if solved else None,
                sla=Sla(first_response_due=NOW + timedelta(minutes=i % 600 - 300)) if i % 4 == 0 else Sla(),
            )
        )
    return made


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_child(path: Path, kind: str, source: Path | None) -> dict[str, Any]:
    """One figure in a child process (``source``: another checkout's package, first on the path)."""
    return child_figures(CHILD, path, [kind, STORED_NOW.isoformat()], source)


def stored_store(args: argparse.Namespace) -> None:
    """The wallboard and /api/backlog against one evaluation over bench/evaluate.py's large store."""
    with tempfile.TemporaryDirectory() as folder:
        board_path, evaluated_path = Path(folder) / "board.db", Path(folder) / "evaluated.db"
        started = time.monotonic()
        fill(board_path, args.stored, args.open)
        shutil.copy(board_path, evaluated_path)
        print(f"store: {args.stored} tickets, {args.open} open, built in {time.monotonic() - started:.0f}s", flush=True)
        versions = {"this": None, **({"compared": args.compare.resolve()} if args.compare else {})}
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {(v, k): [] for v in versions for k in KINDS}
        for _ in range(args.rounds):
            for version, kind in runs:
                path = evaluated_path if kind == "evaluation" else board_path
                runs[(version, kind)].append(run_child(path, kind, versions[version]))
    best = {key: min(found, key=lambda r: r["seconds"]) for key, found in runs.items()}
    peak = {key: max(r["peak_mb"] for r in found) for key, found in runs.items()}
    for (version, kind), found in best.items():
        evaluation = best[(version, "evaluation")]["seconds"]
        seconds = found["seconds"]
        print(
            f"{version:>8} {kind:>12}: {seconds:.2f}s (best of {args.rounds}; {seconds / evaluation:.2f} x an"
            f" evaluation), peak RSS {peak[(version, kind)]:.0f} MB (before it: {found['base_mb']:.0f} MB)"
            + (f"; total card {found['total']}" if found["total"] else ""),
            flush=True,
        )
    this = {kind: best[("this", kind)] for kind in KINDS}
    measured = ", ".join(f"{kind} {this[kind]['seconds']:.2f}s / {peak[('this', kind)]:.0f} MB" for kind in KINDS)
    report(
        "web",
        {"web": (f"{measured} ({args.open // 1000}k open / {args.stored // 1000}k stored)", None)},
        {
            "stored": args.stored,
            "open": args.open,
            **{f"{v}_{k}_s": round(r["seconds"], 3) for (v, k), r in best.items()},
            **{f"{v}_{k}_peak_mb": round(mb, 1) for (v, k), mb in peak.items()},
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--stored", type=int, help="bench/evaluate.py's store of this many tickets, in child processes")
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="a folder holding another backlog_watch package to time too")
    args = parser.parse_args()
    if args.stored:
        stored_store(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "bench.db")
        store.commit_page("zendesk", tickets(args.tickets), None)
        evaluation = timed(lambda: History(store).record(NOW, kpis_by_scope(store.snapshot(NOW, ["zendesk"]), NOW)))
        registry, _ = make_registry(store, ["zendesk"], lambda: NOW)
        figures = {
            "/api/backlog": timed(lambda: wallboard.backlog(store, {"zendesk": 120}, NOW)),
            "/metrics": timed(lambda: exposition(registry)),
            "daily report": timed(lambda: prepare(store, "daily", NOW, ZoneInfo("Europe/Paris"))),
            "weekly report": timed(lambda: prepare(store, "weekly", NOW, ZoneInfo("Europe/Paris"))),
        }
        store.close()
    print(f"{args.tickets} tickets; one evaluation (snapshot + KPIs + history): {evaluation:.2f}s")
    for name, seconds in figures.items():
        print(f"  {name:<14} {seconds:7.3f}s  ({seconds / evaluation:.2f} x an evaluation)")
    ratios = {name: round(seconds / evaluation, 2) for name, seconds in figures.items()}
    shown = ", ".join(f"{name} {ratio:g}x" for name, ratio in ratios.items())
    report(
        "web",
        {"web": (f"{shown} an evaluation", None)},
        {"tickets": args.tickets, "evaluation_s": round(evaluation, 3), "of_an_evaluation": ratios},
    )


if __name__ == "__main__":
    main()
