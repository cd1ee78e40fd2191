"""What a wall screen, a Prometheus scrape and a report cost on a large store.

Prints, for one run on a store of N tickets (a third solved, twelve groups, thirty tags):
  - /api/backlog: the wallboard's data (sparkline, flow and oldest ticket in SQL; KPIs from the history)
  - /metrics: the exposition (KPIs read from the history the last evaluation stored)
  - one evaluation's snapshot + KPIs, for comparison: what the daemon pays every evaluate_every
  - the daily and the weekly report, chart included
and the ratio of each to the evaluation (the figures to watch: this machine is shared and noisy).

Usage: python bench/web.py [--tickets 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from backlog_watch.kpis import kpis_by_scope
from backlog_watch.models import Priority, Sla, Status, Ticket
from backlog_watch.reports import prepare
from backlog_watch.store.history import History
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.web import wallboard
from backlog_watch.web.exporter import exposition, make_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.factories, from a checkout
from live import report  # noqa: E402

from tests.factories import NOW, ticket  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
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
