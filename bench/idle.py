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
per-poll cost that does not grow with N (linear total).

History rows per scope per hour, bounded by the thinning buckets whatever the poll rate: a live window
of a minute or two cannot show an hourly rate (and at 500 helpdesks may hold no evaluation at all), so
the hour is simulated: the daemon's history writer (``History.record``, SQLite on disk, thinning
included) records ``--history-scopes`` scopes as evaluations would over one hour of a simulated clock,
at two rates: one evaluation a second (the most the daemon runs: one per debounce tick, which any
poll rate past one changing poll a second reaches, e.g. 500 helpdesks at 2m) and one every 12 s (10
helpdesks at 2m, each poll changing something). The figure is the most rows any scope holds for that
hour; the bound is one per ``RECENT_BUCKET`` (5 minutes): 12. The live windows add their own check:
rows per scope at most one per 5-minute bucket the window touched (column history: rows/buckets).
An N is not run once a smaller one did not fit (the cost only grows with N), nor when its expected
time (the last N's, scaled) would pass ``--budget``: `make bench` keeps its time on a loaded machine.

Usage: python bench/idle.py [--n 100 250 500] [--tickets 300] [--poll-every 30] [--quick]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from harness import Simulators
from live import Daemon, contract, report, wait_for

from backlog_watch.store import open_store
from backlog_watch.store.history import History, scope_key
from backlog_watch.store.sqlite.history import RECENT_BUCKET

CONTRACT_POLL = 120.0
"""The issue's poll_every (2m): the share of a core is given at this rate."""
CORE_SHARE = 0.5
TARGET_N = 500
LINEAR_SLACK = 1.5
"""Per-poll cost at the largest N may be at most this times the smallest N's (noise, not a trend)."""
HISTORY_BUCKET = RECENT_BUCKET
"""History rows per scope: one per 5-minute bucket at most (12 an hour), however often helpdesks are polled."""
HISTORY_RATES = (1.0, 12.0)
"""Seconds between the evaluations of the simulated hour: the daemon's fastest (one per debounce tick)
and 10 helpdesks at 2m whose every poll changes something."""
KPIS = (
    "open_tickets", "unassigned_tickets", "pending_tickets", "on_hold_tickets", "age_avg_hours", "age_p50_hours",
    "age_p90_hours", "age_max_hours", "created_24h", "resolved_24h", "net_flow_24h", "resolved_per_day_7d",
    "days_to_clear", "workload_hours", "sla_breached", "sla_due_1h",
)  # fmt: skip
"""What one history row holds per scope (kpis.py's KPIs)."""


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
        "exit_s": None if exit_seconds is None else round(exit_seconds, 2),
        "total_s": round(time.monotonic() - started, 1),
    }


def history_hour(every: float, scopes: int, folder: Path) -> dict[str, Any]:
    """The history writer over one simulated hour, an evaluation every ``every`` seconds: the most rows
    a scope holds for that hour once it is over, and the seconds the writes took."""
    store = open_store(f"sqlite:///{folder / f'history-{every:g}.db'}")
    history = History(store)
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)  # an hour's start: the hour is [start, start + 1h)
    names = [((("helpdesk", f"desk{i:03}"),)) for i in range(scopes)]
    began = time.monotonic()
    try:
        for step in range(math.ceil(3600 / every) + 1):  # and the first evaluation of the next hour
            moment = start + timedelta(seconds=step * every)
            history.record(moment, {scope: dict.fromkeys(KPIS, float(step)) for scope in names})
        rows = history.rows(start, start + timedelta(seconds=3600 - 0.001))
        written = time.monotonic() - began
        per_scope = [len(rows.get(scope_key(scope), [])) for scope in names]
    finally:
        store.close()
    return {
        "every_s": every,
        "evaluations": math.ceil(3600 / every),
        "scopes": scopes,
        "rows_per_scope_hour": max(per_scope),
        "fewest_per_scope_hour": min(per_scope),
        "write_s": round(written, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 250, 500], help="helpdesk counts")
    parser.add_argument("--tickets", type=int, default=300, help="tickets per helpdesk")
    parser.add_argument("--poll-every", type=float, default=30.0, help="seconds (evaluate_every is half)")
    parser.add_argument("--warmup-timeout", type=float, default=150.0, help="seconds for the cold syncs")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds: an N expected to pass it is not run")
    parser.add_argument("--history-scopes", type=int, default=100, help="scopes of the simulated history hour")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 and 10 helpdesks, 10 s cycles")
    args = parser.parse_args()
    if args.quick:
        args.n, args.poll_every, args.history_scopes = [5, 10], 10.0, 20
    bound = int(3600 // HISTORY_BUCKET)
    with tempfile.TemporaryDirectory() as folder:
        hours = [history_hour(every, args.history_scopes, Path(folder)) for every in HISTORY_RATES]
    for hour in hours:
        print(
            f"history, one simulated hour at an evaluation every {hour['every_s']:g}s ({hour['evaluations']} of"
            f" them, {hour['scopes']} scopes): {hour['rows_per_scope_hour']} rows per scope (at most {bound}),"
            f" written in {hour['write_s']:g}s",
            flush=True,
        )
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
    hourly = ", ".join(f"{h['rows_per_scope_hour']} at an evaluation every {h['every_s']:g}s" for h in hours)
    hour_bounded = all(0 < h["rows_per_scope_hour"] <= bound for h in hours)
    if not results:
        history_row = (f"{hourly} (at most {bound}); no live figure", hour_bounded)
        report(
            "idle",
            {"idle": ("no figure (no answer from the daemon)", False), "history": history_row},
            {"runs": [], "history_hours": hours},
        )
        return
    fitting = [r["n"] for r in results if fit(r)]
    growth = results[-1]["cpu_ms_per_poll"] / results[0]["cpu_ms_per_poll"] if results[0]["polls"] else math.inf
    live_bounded = all(r["history_rows"] <= r["history_buckets"] for r in results)
    live = ", ".join(f"{r['history_rows']}/{r['history_buckets']} at {r['n']}" for r in results)
    fits = max(fitting, default=0)
    print(f"must reach: {TARGET_N} helpdesks within {CORE_SHARE:.0%} of a core at 2m (fits now: {fits});")
    first, last = results[0]["n"], results[-1]["n"]
    print(f"  per-poll cost flat in N (x{growth:.2f} from N={first} to N={last}, at most x{LINEAR_SLACK});")
    print(f"  history rows per scope at most one per {HISTORY_BUCKET}s bucket: {bound} an hour ({hourly});")
    print("  live windows: rows per scope / buckets touched (column history), at most 1 per bucket.")
    per_poll = ", ".join(f"{r['cpu_ms_per_poll']:g} ms/poll at {r['n']}" for r in results)
    shares = ", ".join(f"{r['core_share_at_2m']:.0%} at {r['n']}" for r in results)
    report(
        "idle",
        {
            "idle": (f"{fits} fit ({shares} of a core; {per_poll})", fits >= TARGET_N and growth <= LINEAR_SLACK),
            "history": (
                f"{hourly} (at most {bound}); live rows/5-min buckets {live}",
                hour_bounded and live_bounded,
            ),
        },
        {"runs": results, "fits_half_core": fits, "per_poll_growth": round(growth, 2), "history_hours": hours},
    )


if __name__ == "__main__":
    main()
