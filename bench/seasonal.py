"""What a seasonal baseline (`baseline: hour_of_week`) costs, against the same rule on calendar time.

A store of ``--stored`` tickets (bench/evaluate.py's fill: ``--open`` of them open, the rest solved over two
years, three helpdesks, two of 20 tags each), grouped by [helpdesk, tag] (60 scopes). Per rule, the best of
``--rounds`` measures on a fresh snapshot (no answer cached):
  - spike: the contract's inflow-spike (1h against 7d) and the same against the same hour of 4 past weeks
  - flatline: 5 minutes without a ticket (most scopes are that quiet, so the seasonal one asks each of them
    for its own stretch of 4 past weeks: its worst case), plain and seasonal
The figures are the ratios seasonal / calendar time (this machine is shared and noisy).

Usage: python bench/seasonal.py [--stored 200000] [--open 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from backlog_watch.rules import Rule
from backlog_watch.rules.base import RuleBase
from backlog_watch.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import HELPDESKS, NOW, fill  # noqa: E402
from live import report  # noqa: E402

SCOPES = {"group_by": ["helpdesk", "tag"]}
SPIKE = {"name": "spike", "type": "spike", "window": "1h", "baseline": "7d", "factor": 3, "min_count": 10, **SCOPES}
FLATLINE = {"name": "flatline", "type": "flatline", "window": "5m", **SCOPES}
SEASONAL = {"baseline": "hour_of_week", "weeks": 4}
PAIRS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "spike": (SPIKE, {**SPIKE, **SEASONAL}),
    "flatline": (FLATLINE, {**FLATLINE, **SEASONAL}),
}


def best(store: SqliteStore, rule: RuleBase, rounds: int) -> tuple[float, int]:
    """Seconds of the fastest measure over a fresh snapshot, and how many scopes it fired for."""
    timings, fired = [], 0
    for _ in range(rounds):
        snapshot = replace(store.snapshot(NOW, list(HELPDESKS), timedelta(days=8)), timezone=ZoneInfo("Europe/Paris"))
        start = time.perf_counter()
        fired = sum(1 for m in rule.measure(snapshot, NOW) if m.level is not None)
        timings.append(time.perf_counter() - start)
    return min(timings), fired


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        fill(path, args.stored, args.open)
        store = SqliteStore(path)
        try:
            for name, (plain, seasonal) in PAIRS.items():
                calendar_s, calendar_fired = best(store, TypeAdapter(Rule).validate_python(plain), args.rounds)
                weekly_s, weekly_fired = best(store, TypeAdapter(Rule).validate_python(seasonal), args.rounds)
                figures[name] = {
                    "calendar_ms": calendar_s * 1000,
                    "seasonal_ms": weekly_s * 1000,
                    "ratio": weekly_s / calendar_s,
                    "calendar_fired": calendar_fired,
                    "seasonal_fired": weekly_fired,
                }
        finally:
            store.close()
    print(f"store of {args.stored} tickets, {args.open} open; 60 scopes; best of {args.rounds} rounds")
    print(f"{'rule':>9} {'calendar':>10} {'seasonal':>10} {'ratio':>7} {'fired':>7}")
    for name, f in figures.items():
        print(
            f"{name:>9} {f['calendar_ms']:>8.1f}ms {f['seasonal_ms']:>8.1f}ms {f['ratio']:>6.1f}x "
            f"{f['calendar_fired']:>3.0f}/{f['seasonal_fired']:<3.0f}"
        )
    spike, flatline = figures["spike"], figures["flatline"]
    report(
        "seasonal",
        {
            "seasonal": (
                f"spike {spike['ratio']:.1f}x, flatline {flatline['ratio']:.1f}x the calendar-time rule "
                f"({args.stored:,} stored, 60 scopes)",
                None,
            )
        },
        {"stored": args.stored, "open": args.open, "rules": figures},
    )


if __name__ == "__main__":
    main()
