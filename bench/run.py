"""Every bench, one after the other, and ONE table of issue 12's figures: what `make bench` runs.

Each bench is its own process (``python bench/NAME.py ...``, flags below) and prints what it likes;
run.py streams that to stderr and reads the bench's LAST stdout line, which by convention is

    BENCH-JSON {"bench": "idle", "rows": {"idle": {"measured": "500 fit (...)", "met": true}}, ...}

``rows`` fills the table's rows (ROWS below, by key: sync.py gives ``sync`` and ``sync-libraries``,
evaluate.py ``evaluate`` and ``rss``, idle.py ``idle`` and ``history``, storm.py ``storm``, hook.py
``hook``, web.py ``web``): ``measured`` is the figure in words, as it should read in the table
("0.62x (Freshdesk 0.55x, Jira 0.51x)"); ``met`` is true, false, or null when the row has no must-reach. Any other
keys are the bench's own figures, kept in ``bench-results.json`` when ``--json`` names a file. A row
no bench reported (a bench that does not print the line yet, or failed) reads "n/a". Benches that
share helpers print the line with ``live.report(name, rows, figures)``; others print it themselves.

Usage: python bench/run.py [--quick] [--only idle,storm] [--json FILE]
(under 15 minutes on the shared 2-core machine; ``--quick`` is a smoke run of a few minutes). The
optional benches (scale.py: replicas on PostgreSQL, ~25 minutes; report.py: the reports over a 1M
store, ~5 minutes) run only when ``--only`` names them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

BENCH = Path(__file__).resolve().parent
MARK = "BENCH-JSON "


class Bench(NamedTuple):
    name: str
    full: list[str]
    quick: list[str]
    timeout: float
    default: bool = True
    """In `make bench`'s set; an optional one (longer than it can afford) runs only when --only names it."""


BENCHES = [
    Bench("sync", ["--rounds", "1"], ["--quick", "--no-rivals"], 900),
    Bench("evaluate", ["--stored", "1000000", "--open", "100000"], ["--stored", "20000", "--open", "2000"], 420),
    Bench(
        "web",
        ["--stored", "1000000", "--open", "100000", "--rounds", "1"],
        ["--stored", "20000", "--open", "2000", "--rounds", "1"],
        420,
    ),
    Bench("idle", ["--n", "100", "500"], ["--quick"], 600),
    Bench("storm", [], ["--quick"], 240),
    Bench("hook", [], ["--quick"], 240),
    Bench("changelog", ["--tickets", "20000"], ["--tickets", "2000", "--rounds", "1", "--repeat", "1"], 300),
    Bench("scale", [], ["--quick"], 2400, default=False),
    Bench("report", ["--rounds", "1"], ["--quick"], 900, default=False),
]

ROWS = {
    "idle": (
        "Idle helpdesks (300 tickets each) at poll_every 2m within 50% of one core",
        "~100",
        ">= 500, cost linear in helpdesks",
    ),
    "evaluate": ("Evaluation, contract's 12 rules, 100k open / 1M stored, vs a raw scan", "8x", "<= 2x"),
    "rss": ("Peak RSS, run over a 1M-ticket store with 100k open", "353 MB", "<= 150 MB"),
    "sync": ("once cold sync, 100k Zendesk, vs bare httpx + json.loads", "0.15x", ">= 0.6x (FD, Jira >= 0.5x)"),
    "sync-libraries": ("Same vs zenpy / pycontribs jira", "2.5x / ~1x", ">= 5x / >= 3x"),
    "hook": ("Change -> Slack with a Zendesk hook naming the ticket", "105.8 s", "<= 5 s"),
    "storm": ("300-alert storm: polls skipped; SIGTERM to exit", "301; > 30 s", "0; <= 5 s"),
    "history": ("History rows per scope per hour at any poll rate", "one per poll", "bounded by time buckets"),
    "web": ("Wallboard / GET /api/backlog, 100k open / 1M stored: seconds, peak RSS (no target)", "84 s, 308 MB", "-"),
    "changelog": ("Ticket change log: re-sync with vs without it; per 1k changed (issue 16)", "-", "-"),
}
OPTIONAL_ROWS = {
    "scale": ("Replicas on PostgreSQL, 1000 helpdesks at 2m: CPU per replica (issue 13)", "-", "near-linear"),
    "scale-delay": ("Same: p95 delay from a poll's due time to its start", "-", "<= 5 s"),
    "report": ("Daily / weekly report, 100k open / 1M stored: seconds / peak RSS (no target)", "-", "-"),
}
"""Rows of the optional benches (bench/scale.py, bench/report.py), shown when one ran."""


def run_bench(bench: Bench, quick: bool) -> tuple[dict[str, Any] | None, float, str]:
    """Run one bench, its output streamed to stderr; (its BENCH-JSON or None, seconds, how it ended)."""
    command = [sys.executable, str(BENCH / f"{bench.name}.py"), *(bench.quick if quick else bench.full)]
    print(f"\n== {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=BENCH.parent) as process:
        watchdog = threading.Timer(bench.timeout, process.kill)
        watchdog.start()
        assert process.stdout is not None
        for line in process.stdout:
            sys.stderr.write(line)
            last = line.strip() or last
        code = process.wait()
        watchdog.cancel()
    seconds = time.monotonic() - started
    if seconds >= bench.timeout:
        return None, seconds, f"killed after {bench.timeout:g}s"
    found = json.loads(last[len(MARK) :]) if last.startswith(MARK) else None
    return found, seconds, "ok" if code == 0 else f"exit {code}"


def table(results: dict[str, dict[str, Any]]) -> str:
    """The issue's table with the measured column and whether each must-reach is met."""
    measured: dict[str, dict[str, Any]] = {}
    for found in results.values():
        measured.update(found.get("rows", {}))
    lines = ["| Figure | Now | Must reach | Measured | met? |", "|---|---|---|---|---|"]
    shown = ROWS | {key: row for key, row in OPTIONAL_ROWS.items() if key in measured}
    for key, (figure, now, target) in shown.items():
        row = measured.get(key)
        met = "n/a" if row is None else {True: "yes", False: "NO", None: "-"}[row["met"]]
        lines.append(f"| {figure} | {now} | {target} | {row['measured'] if row else 'n/a'} | {met} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of the plumbing")
    parser.add_argument("--only", help="comma-separated bench names (default: all)")
    parser.add_argument("--json", type=Path, help="also write every bench's BENCH-JSON to this file")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if (b.default if args.only is None else b.name in args.only.split(","))]
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    timings, failed = [], []
    for bench in chosen:
        found, seconds, how = run_bench(bench, args.quick)
        timings.append(f"{bench.name} {seconds:.0f}s" + ("" if how == "ok" else f" ({how})"))
        if how != "ok":
            failed.append(bench.name)
        if found is not None:
            results[bench.name] = found
    print(table(results))
    print(f"\n{'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f}s: " + ", ".join(timings))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
