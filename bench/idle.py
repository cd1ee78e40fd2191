"""Idle cost of the daemon over N helpdesks: CPU per poll, share of a core, skipped polls, history rows.

For each N (``--n 100 250 500``): N skeleton-sized Zendesk simulators (300 tickets each, no activity)
in a process of their own (harness.py), a real ``backlog-watch run`` on the contract's rules with a
console notifier and SQLite on disk. After the warm-up (every helpdesk polled once: the cold syncs),
one idle round is measured, until N more polls have finished (or two cycles have passed): the
daemon's CPU (/proc) per poll finished (/metrics), the skipped polls (N per scheduled round expected:
the shortfall, or more if the scheduler's warnings or the daemon's skipped-polls counter say so) and
the KPI history rows per scope written meanwhile.

Time is scaled to fit the bench: ``--poll-every 30`` with ``evaluate_every`` half of it keeps the
contract's cycle (N polls and two periodic evaluations per ``poll_every: 2m``), four times faster; the
share of a core at 2m is then (CPU per poll x N) / 120 s, which holds whether or not the cycle kept up.
``--poll-every 120`` measures at 2m as is. Must reach: 500 helpdesks within 50% of one core, and a
per-poll cost that does not grow with N (linear total); history rows per scope bounded by time
buckets, whatever the poll rate: at most one per ``HISTORY_BUCKET`` seconds touched by the window (a
short window cannot show an hourly rate, but it shows whether rows follow evaluations or the clock).
An N is not run once a smaller one did not fit (the cost only grows with N), nor when its expected
time (the last N's, scaled) would pass ``--budget``: `make bench` keeps its time on a loaded machine.

Usage: python bench/idle.py [--n 100 250 500] [--tickets 300] [--poll-every 30] [--quick]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import Simulators
from live import Daemon, contract, report, wait_for

CONTRACT_POLL = 120.0
"""The issue's poll_every (2m): the share of a core is given at this rate."""
CORE_SHARE = 0.5
TARGET_N = 500
LINEAR_SLACK = 1.5
"""Per-poll cost at the largest N may be at most this times the smallest N's (noise, not a trend)."""
HISTORY_BUCKET = 60
"""History rows per scope: one a minute at most (60 an hour), however often helpdesks are polled."""


def config(helpdesks: list[dict[str, Any]], poll_every: float) -> dict[str, Any]:
    return {
        "helpdesks": [{**h, "poll_every": f"{poll_every:g}s"} for h in helpdesks],
        "evaluate_every": f"{poll_every / 2:g}s",
        "notifiers": [{"name": "console", "type": "console"}],
        **contract(["console"]),
    }


def fit(run: dict[str, Any]) -> bool:
    """Warmed up within the time given, and within half a core at 2m."""
    return bool(run["warm"]) and run["core_share_at_2m"] <= CORE_SHARE


def measure(count: int, tickets: int, poll_every: float, warmup_timeout: float) -> dict[str, Any]:
    """One N: warm up (the cold syncs), then the CPU until N more polls have finished (one idle round)."""
    started = time.monotonic()
    with (
        Simulators("zendesk", count=count, tickets=tickets) as sims,
        tempfile.TemporaryDirectory() as folder,
        Daemon(config(sims.helpdesks, poll_every), Path(folder)) as daemon,
    ):
        scheduled = time.monotonic()  # the first round starts as the daemon says it listens
        warm = wait_for(lambda: sum(1 for n in daemon.polls().values() if n) == count, warmup_timeout, step=1)
        warmup = time.monotonic() - scheduled
        cpu, polls, warnings, skipped = (
            daemon.cpu(),
            sum(daemon.polls().values()),
            daemon.skip_warnings(),
            daemon.skipped(),
        )
        since, wall = time.monotonic(), time.time()
        # One idle round: N more polls, however long the daemon takes (a saturated one finishes fewer).
        wait_for(lambda: sum(daemon.polls().values()) >= polls + count, 2 * poll_every + 30, step=0.5)
        seconds = time.monotonic() - since
        cpu = daemon.cpu() - cpu
        polled = sum(daemon.polls().values()) - polls
        warnings = daemon.skip_warnings() - warnings
        skipped = daemon.skipped() - skipped
        rounds = math.floor((time.monotonic() - scheduled) / poll_every) - math.floor((since - scheduled) / poll_every)
        rows = max(daemon.history_rows(wall).values(), default=0)
        buckets = int(time.time() // HISTORY_BUCKET - wall // HISTORY_BUCKET) + 1
        exit_seconds = daemon.stop()
    per_poll = cpu / polled if polled else math.inf
    return {
        "n": count,
        "warm": warm,
        "warmup_s": round(warmup, 1),
        "window_s": round(seconds, 1),
        "cpu_s": round(cpu, 2),
        "polls": polled,
        "skipped": max(rounds * count - polled, warnings, skipped, 0),
        "cpu_ms_per_poll": round(per_poll * 1000, 1),
        "core_share_at_poll_every": round(cpu / seconds, 3),
        "core_share_at_2m": round(per_poll * count / CONTRACT_POLL, 3),
        "history_rows": rows,
        "history_buckets": buckets,
        "history_rows_per_scope_hour": round(rows * 3600 / seconds, 1),
        "exit_s": None if exit_seconds is None else round(exit_seconds, 2),
        "total_s": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 250, 500], help="helpdesk counts")
    parser.add_argument("--tickets", type=int, default=300, help="tickets per helpdesk")
    parser.add_argument("--poll-every", type=float, default=30.0, help="seconds (evaluate_every is half)")
    parser.add_argument("--warmup-timeout", type=float, default=150.0, help="seconds for the cold syncs")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds: an N expected to pass it is not run")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 and 10 helpdesks, 10 s cycles")
    args = parser.parse_args()
    if args.quick:
        args.n, args.poll_every = [5, 10], 10.0
    print(f"idle daemon, {args.tickets} tickets per helpdesk, poll_every {args.poll_every:g}s (scaled to 2m)")
    heads = ("warm-up", "polls", "skipped", "CPU ms/poll", "core@run", "core@2m", "history", "exit")
    print(f"{'N':>5} " + " ".join(f"{head:>{max(len(head), 7)}}" for head in heads))
    results = []
    started = time.monotonic()
    for count in args.n:
        if results and not fit(results[-1]):
            print(f"{count:>5} not run: {results[-1]['n']} helpdesks already do not fit (the cost grows with N)")
            continue
        expected = results[-1]["total_s"] * count / results[-1]["n"] if results else 0.0
        if time.monotonic() - started + expected > args.budget:
            print(f"{count:>5} not run: about {expected:.0f}s more would pass the {args.budget:g}s budget")
            continue
        try:
            found = measure(count, args.tickets, args.poll_every, args.warmup_timeout)
        except httpx.TimeoutException:
            print(f"{count:>5} no figure: the daemon left /metrics unanswered for 5 minutes")
            break
        results.append(found)
        print(
            f"{count:>5} {found['warmup_s']:>7.0f}s {found['polls']:>6} {found['skipped']:>7}"
            f" {found['cpu_ms_per_poll']:>11.1f} {found['core_share_at_poll_every']:>8.0%}"
            f" {found['core_share_at_2m']:>8.0%} {found['history_rows']:>3}/{found['history_buckets']:<3}"
            f" {'killed' if found['exit_s'] is None else format(found['exit_s'], '.1f') + 's':>7}",
            flush=True,
        )
    if not results:
        report("idle", {"idle": ("no figure (no answer from the daemon)", False)}, {"runs": []})
        return
    fitting = [r["n"] for r in results if fit(r)]
    growth = results[-1]["cpu_ms_per_poll"] / results[0]["cpu_ms_per_poll"] if results[0]["polls"] else math.inf
    bounded = all(0 < r["history_rows"] <= r["history_buckets"] for r in results)
    history = ", ".join(f"{r['history_rows']} in {r['window_s']:g}s at {r['n']}" for r in results)
    fits = max(fitting, default=0)
    print(f"must reach: {TARGET_N} helpdesks within {CORE_SHARE:.0%} of a core at 2m (fits now: {fits});")
    first, last = results[0]["n"], results[-1]["n"]
    print(f"  per-poll cost flat in N (x{growth:.2f} from N={first} to N={last}, at most x{LINEAR_SLACK});")
    print(f"  history rows per scope at most one per {HISTORY_BUCKET}s bucket (column history: rows/buckets).")
    per_poll = ", ".join(f"{r['cpu_ms_per_poll']:g} ms/poll at {r['n']}" for r in results)
    shares = ", ".join(f"{r['core_share_at_2m']:.0%} at {r['n']}" for r in results)
    report(
        "idle",
        {
            "idle": (f"{fits} fit ({shares} of a core; {per_poll})", fits >= TARGET_N and growth <= LINEAR_SLACK),
            "history": (f"{history} (one per {HISTORY_BUCKET}s bucket at most)", bounded),
        },
        {"runs": results, "fits_half_core": fits, "per_poll_growth": round(growth, 2)},
    )


if __name__ == "__main__":
    main()
