"""Replicas sharing one PostgreSQL store at scale: CPU per replica, poll start delay, PostgreSQL load.

For each N (``--n 200 1000``) and R (``--replicas 1 2 4``): N helpdesks polled every ``--poll-every``
(the issue's 2m) by R real ``backlog-watch run`` processes on this machine (tests/helpers/replicas.py)
sharing a throwaway PostgreSQL database, on the contract's rules with a console notifier. The helpdesks
are N names over ``--sims`` Zendesk simulators in one process of their own (bench/harness.py), as a
service provider's desks on one API; each name has its own tickets in the store. After the warm-up
(every helpdesk polled once: the cold syncs; the leases shared out), a window of ``--window`` seconds
(one poll cycle by default) is measured:

- CPU seconds per replica per minute (/proc), the mean over the replicas and the busiest one;
- p95 of the delay between a poll's due time and its start, from the replicas'
  ``backlog_watch_poll_start_delay_seconds`` histograms (window deltas, summed over replicas);
- PostgreSQL transactions per second (``pg_stat_database.xact_commit`` delta), and per poll: the
  transactions and the rows written (``pg_stat_user_tables`` inserts + updates + deletes), with the rows
  and bytes the store holds per helpdesk (docs/scaling.md quotes them);
- polls finished in the window against the schedule's N x window / poll_every;
- over the whole run, ``lease lost`` log lines (lease thrash) and the lease keeper's lateness (the
  latest tick, from its ``the lease keeper ran ...s late`` warnings: the event loop held up past a tick).

The goal (issue 13) is near-linear: 4 replicas hold 4x the helpdesks of one at the same per-replica CPU;
the ``linear`` row compares the CPU per replica per helpdesk it polls at the largest R with R = 1. It takes
about (warm-up + window) per run, ~25 minutes in all at 2m: not in `make bench`'s default set, run it with
``python bench/run.py --only scale`` or directly. ``--quick``: 20 and 50 helpdesks, 1 and 2 replicas, 10s.

Usage: python bench/scale.py [--n 200 1000] [--replicas 1 2 4] [--poll-every 120] [--window S] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
from harness import Simulators
from live import contract, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.postgres import throwaway_database  # noqa: E402
from tests.helpers.replicas import Cluster, Replica, wait_for  # noqa: E402

DELAY = "backlog_watch_poll_start_delay_seconds"
POLLS = "backlog_watch_poll_duration_seconds_count"
EVALUATIONS = "backlog_watch_evaluations_total"
LINEAR_SLACK = 1.5
"""CPU per replica per helpdesk held at the largest R may be at most this times R = 1's (near-linear)."""
P95_TARGET = 5.0
"""Seconds: a poll due every 2m that starts more than this late, at p95, means the replicas do not keep up."""


def histogram(replicas: list[Replica]) -> dict[float, float]:
    """The poll start delay histogram summed over ``replicas``: upper bound -> cumulative count."""
    summed: dict[float, float] = defaultdict(float)
    for replica in replicas:
        for labels, value in replica.metrics().get(f"{DELAY}_bucket", {}).items():
            summed[float(labels.split('"')[1])] += value
    return dict(summed)


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile of the observations between two readings of a cumulative histogram (linear within
    its bucket, as Prometheus's histogram_quantile); None without observations."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


def polls(replicas: list[Replica]) -> float:
    return sum(sum(replica.metrics().get(POLLS, {}).values()) for replica in replicas)


def evaluations(replicas: list[Replica]) -> float:
    return sum(sum(replica.metrics().get(EVALUATIONS, {}).values()) for replica in replicas)


def pg_counters(url: str) -> tuple[int, int]:
    """(transactions committed, rows written: inserted + updated + deleted) in the database so far."""
    with psycopg.connect(url, autocommit=True) as db:
        xacts = db.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
        written = "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        rows = db.execute(written).fetchone()
    assert xacts is not None and rows is not None
    return int(xacts[0]), int(rows[0])


def pg_writes(url: str) -> dict[str, int]:
    """table -> rows written to it so far (inserted + updated + deleted)."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables").fetchall()
    return {str(name): int(count) for name, count in rows}


def pg_size(url: str) -> tuple[int, int]:
    """(ticket rows, bytes of every table with its indexes) the store holds."""
    with psycopg.connect(url, autocommit=True) as db:
        tickets = db.execute("SELECT count(*) FROM tickets").fetchone()
        size = db.execute("SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_stat_user_tables").fetchone()
    assert tickets is not None and size is not None
    return int(tickets[0]), int(size[0])


def balanced(cluster: Cluster, replicas: int) -> bool:
    """Every helpdesk has a holder and none holds more than its fair share (plus one)."""
    held = cluster.holders()
    if None in held.values():
        return False
    counts = defaultdict(int)
    for name, holder in held.items():
        if name != "evaluator":
            counts[holder] += 1
    return max(counts.values(), default=0) <= math.ceil(len(cluster.names) / replicas) + 1


def measure(
    url: str, count: int, replicas: int, sims: Simulators, poll_every: float, window: float, warmup: float
) -> dict[str, Any]:
    started = time.monotonic()
    helpdesks = [
        {**sims.helpdesks[i % len(sims.helpdesks)], "name": f"desk-{i:04d}", "poll_every": f"{poll_every:g}s"}
        for i in range(count)
    ]
    with tempfile.TemporaryDirectory() as folder:
        rules = contract(["console"])
        with Cluster(
            url,
            helpdesks,
            Path(folder),
            replicas=replicas,
            lease_ttl=30,
            rules=rules["rules"],
            defaults=rules["defaults"],
            evaluate_every=f"{poll_every / 2:g}s",
            extra={"business_hours": rules["business_hours"]},
            http_timeout=300,  # /metrics waits while an evaluation of every helpdesk holds the event loop
            start_timeout=600,  # a replica building a thousand helpdesks' clients on a loaded machine
        ) as cluster:
            warm = wait_for(lambda: len(cluster.last_polls()) >= count, warmup, step=1)
            warm = warm and wait_for(lambda: balanced(cluster, replicas), warmup, step=1)
            warmup_s = time.monotonic() - started
            members = cluster.replicas
            cpu = {r.id: r.cpu() for r in members}
            delays, done, evaluated = histogram(members), polls(members), evaluations(members)
            xacts, written = pg_counters(url)
            tables = pg_writes(url)
            since = time.monotonic()
            time.sleep(window)  # the window measured: the replicas run on their own meanwhile
            seconds = time.monotonic() - since
            cpu = {r.id: r.cpu() - cpu[r.id] for r in members}
            delay_p95 = quantile(delays, histogram(members), 0.95)
            done = polls(members) - done
            evaluated = evaluations(members) - evaluated
            xacts_after, written_after = pg_counters(url)
            tables = {name: count - tables.get(name, 0) for name, count in pg_writes(url).items()}
            held = cluster.holders()
            tickets, size = pg_size(url)
            said = [entry.get("message", "") for r in members for entry in r.log()]
    lost = sum(1 for message in said if message.startswith("lease lost"))
    late = [float(m.split()[4].rstrip("s")) for m in said if m.startswith("the lease keeper ran")]
    per_minute = {rid: value * 60 / seconds for rid, value in cpu.items()}
    held_by = defaultdict(int)
    for name, holder in held.items():
        if name != "evaluator" and holder is not None:
            held_by[holder] += 1
    evaluator = held.get("evaluator")
    pollers = [v for rid, v in per_minute.items() if rid != evaluator]
    return {
        "n": count,
        "replicas": replicas,
        "cpu_s_per_min_evaluator": round(per_minute.get(evaluator or "", 0.0), 2),
        "cpu_s_per_min_pollers": round(sum(pollers) / len(pollers), 2) if pollers else None,
        "warm": warm,
        "warmup_s": round(warmup_s, 1),
        "window_s": round(seconds, 1),
        "cpu_s_per_min_mean": round(sum(per_minute.values()) / len(per_minute), 2),
        "cpu_s_per_min_max": round(max(per_minute.values()), 2),
        "cpu_s_per_min": {rid: round(v, 2) for rid, v in per_minute.items()},
        "held": dict(held_by),
        "evaluator": evaluator,
        "poll_delay_p95_s": None if delay_p95 is None else round(delay_p95, 3),
        "polls": int(done),
        "polls_expected": round(count * seconds / poll_every),
        "evaluations": int(evaluated),
        "pg_tps": round((xacts_after - xacts) / seconds, 1),
        "pg_xacts_per_poll": round((xacts_after - xacts) / done, 2) if done else None,
        "pg_rows_written_per_poll": round((written_after - written) / done, 2) if done else None,
        "pg_rows_written_per_poll_by_table": {
            name: round(rows / done, 2) for name, rows in sorted(tables.items()) if rows and done
        },
        "tickets_per_helpdesk": round(tickets / count, 1),
        "store_bytes_per_helpdesk": round(size / count),
        "total_s": round(time.monotonic() - started, 1),
        "leases_lost": lost,
        "keeper_late_ticks": len(late),
        "keeper_late_max_s": max(late, default=0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[200, 1000], help="helpdesk counts")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4], help="replica counts")
    parser.add_argument("--poll-every", type=float, default=120.0, help="seconds (evaluate_every is half)")
    parser.add_argument("--window", type=float, default=None, help="seconds measured (default: one poll_every)")
    parser.add_argument("--sims", type=int, default=10, help="Zendesk simulators the helpdesk names share")
    parser.add_argument("--tickets", type=int, default=30, help="tickets per simulator (so per helpdesk)")
    parser.add_argument("--warmup", type=float, default=300.0, help="seconds for the cold syncs and the leases")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 and 50 helpdesks, 1 and 2 replicas")
    args = parser.parse_args()
    if args.quick:
        args.n, args.replicas, args.poll_every, args.sims, args.warmup = [20, 50], [1, 2], 10.0, 2, 120.0
    window = args.window or args.poll_every
    print(f"replicas on PostgreSQL: poll_every {args.poll_every:g}s, window {window:g}s, {args.tickets} tickets each")
    heads = (
        "CPU s/min",
        "evaluator",
        "others",
        "p95 delay",
        "polls",
        "PG tps",
        "xact/poll",
        "rows/poll",
        "lost",
        "late",
        "warm-up",
    )
    print(f"{'N':>5} {'R':>2} " + " ".join(f"{head:>9}" for head in heads), flush=True)
    results = []
    with (
        Simulators("zendesk", count=args.sims, tickets=args.tickets) as sims,
        throwaway_database() as url,
    ):
        for count in args.n:
            for replicas in args.replicas:
                with psycopg.connect(url, autocommit=True) as db:  # each run from an empty store
                    db.execute("DROP SCHEMA public CASCADE")
                    db.execute("CREATE SCHEMA public")
                found = measure(url, count, replicas, sims, args.poll_every, window, args.warmup)
                results.append(found)
                p95 = "-" if found["poll_delay_p95_s"] is None else f"{found['poll_delay_p95_s']:.2f}s"
                print(
                    f"{count:>5} {replicas:>2} {found['cpu_s_per_min_mean']:>9.2f}"
                    f" {found['cpu_s_per_min_evaluator']:>9.2f} {found['cpu_s_per_min_pollers'] or 0:>9.2f}"
                    f" {p95:>9} {found['polls']:>4}/{found['polls_expected']:<4} {found['pg_tps']:>9.1f}"
                    f" {found['pg_xacts_per_poll'] or 0:>9.2f} {found['pg_rows_written_per_poll'] or 0:>9.1f}"
                    f" {found['leases_lost']:>9} {found['keeper_late_max_s']:>8.1f}s"
                    f" {found['warmup_s']:>8.0f}s{'' if found['warm'] else ' (not warm)'}",
                    flush=True,
                )
    largest = max(args.n)
    runs = {r["replicas"]: r for r in results if r["n"] == largest}
    one, most = runs.get(min(runs)), runs.get(max(runs))
    assert one is not None and most is not None

    def per_helpdesk(run: dict[str, Any]) -> float:
        return float(run["cpu_s_per_min_mean"]) * run["replicas"] / run["n"]

    growth = per_helpdesk(most) / per_helpdesk(one) if per_helpdesk(one) else math.inf
    pollers = most["cpu_s_per_min_pollers"]
    polling = ""
    if pollers:  # CPU per helpdesk held by a replica that polls only, against R=1's (which also evaluates)
        ratio = pollers * most["replicas"] / one["cpu_s_per_min_mean"]
        polling = f"; the pollers (not evaluating) {pollers:.2f} each, x{ratio:.2f} of R=1 per helpdesk"
    p95s = [r["poll_delay_p95_s"] for r in results if r["poll_delay_p95_s"] is not None]
    worst = max(p95s, default=math.inf)
    print(
        f"near-linear: CPU per replica per helpdesk at N={largest}, R={most['replicas']} is x{growth:.2f} of R=1"
        f" (at most x{LINEAR_SLACK}){polling}; p95 poll start delay at most {worst:.2f}s (target {P95_TARGET:g}s)"
    )
    report(
        "scale",
        {
            "scale": (
                f"N={largest}: {one['cpu_s_per_min_mean']:.2f} CPU s/min on 1 replica, "
                f"{most['cpu_s_per_min_mean']:.2f} each on {most['replicas']}"
                f" (x{growth:.2f} per helpdesk held{polling})",
                growth <= LINEAR_SLACK,
            ),
            "scale-delay": (f"p95 poll start delay at most {worst:.2f}s", worst <= P95_TARGET),
        },
        {"runs": results, "linear_growth": round(growth, 2), "poll_every": args.poll_every, "window": window},
    )


if __name__ == "__main__":
    main()
