"""The daily and the weekly report over a large store: seconds and peak RSS of building each.

The store is bench/evaluate.py's (``--stored`` tickets, ``--open`` of them open, the rest solved over two
years; SQLite on disk). Each report is built in a child process of its own (``reports.prepare``: the
data, its renderings and the chart), so its peak RSS (ru_maxrss) is the report's alone; the figure is
the best of ``--rounds`` runs, daily and weekly interleaved. Before the reports read store aggregates,
they built one Ticket per open ticket (100k of them in the default store): ``--compare SRC`` times the
package found in SRC as well (e.g. ``git archive main backlog_watch | tar -x -C SRC``), interleaved with
this checkout's in the same rounds, so the two are compared within one run.

Usage: python bench/report.py [--stored 1000000] [--open 100000] [--rounds 3] [--compare SRC] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from evaluate import NOW, fill
from live import child_figures, report

CHILD = """
import json, resource, sys, time
from zoneinfo import ZoneInfo
from datetime import datetime
from backlog_watch.reports import prepare
from backlog_watch.reports.chart import backlog_chart  # matplotlib loaded before the clock starts
from backlog_watch.store.sqlite import SqliteStore
store = SqliteStore(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
prepared = prepare(store, sys.argv[2], datetime.fromisoformat(sys.argv[3]), ZoneInfo("Europe/Paris"))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
found = {"seconds": seconds, "peak_mb": peak / 1024, "base_mb": before / 1024, "open": prepared.report.open_tickets}
print(json.dumps(found))
"""


def build_once(path: Path, kind: str, source: Path | None) -> dict[str, float]:
    """One report in a child process (``source``: another checkout's package, first on the path)."""
    return child_figures(CHILD, path, [kind, NOW.isoformat()], source)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="a folder holding another backlog_watch package to time too")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20k stored, 2k open, one round")
    args = parser.parse_args()
    if args.quick:
        args.stored, args.open, args.rounds = 20_000, 2_000, 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.db"
        started = time.monotonic()
        fill(path, args.stored, args.open)
        print(f"store: {args.stored} tickets, {args.open} open, built in {time.monotonic() - started:.0f}s", flush=True)
        versions = {"this": None, **({"compared": args.compare.resolve()} if args.compare else {})}
        runs: dict[tuple[str, str], list[dict[str, float]]] = {
            (version, kind): [] for version in versions for kind in ("daily", "weekly")
        }
        for _ in range(args.rounds):
            for version, kind in runs:
                runs[(version, kind)].append(build_once(path, kind, versions[version]))
    best = {key: min(found, key=lambda r: r["seconds"]) for key, found in runs.items()}
    peak = {key: max(r["peak_mb"] for r in found) for key, found in runs.items()}
    for (version, kind), found in best.items():
        print(
            f"{version:>8} {kind:>6} report: {found['seconds']:.2f}s (best of {args.rounds}), peak RSS"
            f" {peak[(version, kind)]:.0f} MB (the process before it: {found['base_mb']:.0f} MB);"
            f" open {found['open']:.0f}",
            flush=True,
        )
    measured = ", ".join(
        f"{kind} {best[('this', kind)]['seconds']:.2f}s / {peak[('this', kind)]:.0f} MB" for kind in ("daily", "weekly")
    )
    report(
        "report",
        {"report": (f"{measured} ({args.open // 1000}k open / {args.stored // 1000}k stored)", None)},
        {
            "stored": args.stored,
            "open": args.open,
            **{f"{version}_{kind}_s": round(found["seconds"], 3) for (version, kind), found in best.items()},
            **{f"{version}_{kind}_peak_mb": round(mb, 1) for (version, kind), mb in peak.items()},
        },
    )


if __name__ == "__main__":
    main()
