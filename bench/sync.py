"""Cold sync from process start to exit: ``backlog-watch once`` against bare httpx, zenpy and pycontribs jira.

Per connector, the simulator runs in a process of its own (bench/harness.py, rate limits lifted) and
every client is a process of its own, timed from start to exit, wall and CPU (``getrusage`` of the
children):
  - bare: httpx + ``json.loads`` over the same pages (bench/clients.py), the floor;
  - once: a real ``backlog-watch once`` on a fresh SQLite store, its config pointing at the simulator
    with the client-side export pacing lifted (the starter rules, a console notifier), from bytecode as
    an installed package runs (``compile_sources``);
  - zenpy (Zendesk) and pycontribs ``jira`` (Jira), installed from PyPI into ``.bench-venv/`` by this
    bench, each listing every ticket or issue of the same simulator.
Rounds are interleaved (bare, once, rival, bare, ...) and the medians kept; ratios within one run are
the figures (the machine is shared and noisy). "once vs bare" is bare's time over ours (1.0x: as fast
as the floor); "vs zenpy"/"vs jira" is the rival's time over ours (5x: five times faster).

Then, in this process over the same simulator, where a cold sync's CPU goes: page by page as ``sync``
takes them (fetched and decoded, normalized into the store's rows, gathered into writes of
``COMMIT_LEAST`` tickets), the CPU of each stage per ticket, then the deferred indexes, and how much of
it the cycle collector took: the floor a faster ``once`` has to get under, stage by stage.

Then, in this process, a cold sync of 20k tickets under the simulator's enforced limits (throttle waits
advance the simulated clock): the 429s it earned (goal 0) and the requests of an idle poll after it.

Usage: python bench/sync.py [--quick] [--rounds 3] [--only zendesk,freshdesk,jira]
From another bench: ``sys.path.insert(0, "bench"); from sync import figures; figures(quick=True)``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from harness import Simulators  # noqa: E402
from live import report  # noqa: E402

from backlog_watch.app import http_client  # noqa: E402
from backlog_watch.cli import collecting_seldom  # noqa: E402
from backlog_watch.config.loader import load_config  # noqa: E402
from backlog_watch.sim import QUIET, FreshdeskSimulator, JiraSimulator, SimClock, ZendeskSimulator  # noqa: E402
from backlog_watch.sources.connector import COMMIT_LEAST, available_connectors, stored_page, sync  # noqa: E402
from backlog_watch.store.sqlite import SqliteStore  # noqa: E402

TICKETS = {"zendesk": 100_000, "freshdesk": 50_000, "jira": 15_000}
QUICK = {"zendesk": 20_000, "freshdesk": 10_000, "jira": 5_000}
GOAL_VS_BARE = {"zendesk": 0.6, "freshdesk": 0.5, "jira": 0.5}
RIVALS: dict[str, tuple[str, float, str]] = {"zendesk": ("zenpy", 5.0, "wall"), "jira": ("jira", 3.0, "cpu")}
"""Kind -> (the PyPI client, how many times faster we must be, by which measure: as issue 12 measured)."""
RIVAL_PACKAGES = ("zenpy==2.0.57", "jira==3.10.5")
BENCH_VENV = ROOT / ".bench-venv"
PACING_LIFTED: dict[str, dict[str, int]] = {
    "zendesk": {"export_requests_per_minute": 1_000_000},
    "freshdesk": {"list_requests_per_minute": 1_000_000},
    "jira": {},
}
RULES = """
rules:
  - {name: backlog-size, type: threshold, metric: open_tickets, warn_above: 50, critical_above: 100}
  - {name: urgent-backlog, type: threshold, metric: open_tickets, where: {priority: urgent}, warn_above: 10}
  - {name: aging, type: aging, older_than: 7d}
  - {name: unassigned, type: threshold, metric: unassigned_tickets, warn_above: 20}
  - {name: days-to-clear, type: threshold, metric: days_to_clear, warn_above: 3}
  - {name: sla, type: sla, warn_within: 2h, critical_within: 30m}
"""


@dataclass(frozen=True)
class Run:
    """One client process: seconds of wall and of CPU (user + system), and the tickets it read."""

    wall: float
    cpu: float
    tickets: int


def timed(command: list[str], parse: Callable[[str], int], env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to its exit; its wall time and the CPU it (and its children) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, parse(done.stdout))


def once_changed(stdout: str) -> int:
    """The tickets changed, from once's closing line ("once: 1 helpdesks polled (0 failed), 412 tickets ...")."""
    line = next(x for x in stdout.splitlines() if x.startswith("once:"))
    return int(line.split(", ")[1].split()[0])


def once_config(helpdesk: dict[str, Any], store: Path) -> str:
    """A config for ``once``: the simulator's helpdesk, pacing lifted, the starter rules, console alerts."""
    block = helpdesk | PACING_LIFTED[helpdesk["type"]]
    return (
        f"store: sqlite:///{store}\n"
        f"helpdesks:\n  - {json.dumps(block)}\n"
        "notifiers:\n  - {name: console, type: console}\n"
        "defaults: {notify: [console]}\n" + RULES
    )


def bench_python() -> str:
    """The interpreter of ``.bench-venv/`` with zenpy and jira, created on first use."""
    python = BENCH_VENV / "bin" / "python"
    probe = [str(python), "-c", "import zenpy, jira, httpx"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    print(f"installing {', '.join(RIVAL_PACKAGES)} into {BENCH_VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *RIVAL_PACKAGES, "httpx"], check=True)
    return str(python)


def compile_sources() -> None:
    """Bytecode for our packages, as ``pip install`` writes it for an installed backlog-watch (the
    container's) and wrote it for httpx, zenpy and jira, which the other clients import. The checkout is
    installed editable, and under PYTHONDONTWRITEBYTECODE (this machine sets it) every ``once`` timed
    compiled each of our modules again: 0.15-0.3 s of CPU a process, which no user pays. Into the
    checkout's ``__pycache__`` folders, which git ignores."""
    sources = [ROOT / "backlog_watch", ROOT / "connectors", ROOT / "tests" / "plugin_example"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, sources)], check=True, capture_output=True)


STAGES = ("fetch", "normalize", "encode", "write", "indexes")
"""fetch: the request and decoding its body; normalize: vendor records to the rows the store writes
(``stored_page``: a bundled connector's ``_row``, no Ticket); encode: what is left of ``encode_tickets``
(nothing for those rows; a Ticket's row, for a connector without ``_row``), in the sync's thread;
write: the SQL, one transaction per ``COMMIT_LEAST`` tickets with the cursor of its last page; indexes:
the ones a cold sync defers, built at the first read."""


class CollectorClock:
    """The CPU the cycle collector takes while it is installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> CollectorClock:
        gc.callbacks.append(self._phase)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._phase)

    def _phase(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


async def stage_costs(helpdesk: dict[str, Any], folder: Path) -> dict[str, float]:
    """Seconds of CPU per stage (STAGES) of a cold sync into a fresh SQLite store, in this process, each
    page taken as ``sync`` takes it (normalized, encoded, its tickets gathered into writes of
    ``COMMIT_LEAST``), under the collector thresholds ``once`` runs with; ``gc``: the collector's share
    of them; ``tickets``: how many were stored."""
    config = folder / "stages.yaml"
    config.write_text(once_config(helpdesk, folder / "stages.db"))
    settings = load_config(config).helpdesks[0]
    store = SqliteStore(folder / "stages.db")
    spent = dict.fromkeys(STAGES, 0.0)
    tickets = 0
    waiting: list[Any] = []
    cursor = None
    with collecting_seldom(), CollectorClock() as collector:
        async with http_client(settings.url, 60) as client:
            connector = available_connectors()[settings.type](settings, client)
            pages = aiter(connector.fetch(None))
            while True:
                start = time.process_time()
                page = await anext(pages, None)
                spent["fetch"] += time.process_time() - start
                if page is None:
                    break
                start = time.process_time()
                normalized, _ = stored_page(connector, page.records)
                spent["normalize"] += time.process_time() - start
                start = time.process_time()
                waiting += store.encode_tickets(normalized)
                spent["encode"] += time.process_time() - start
                cursor = page.cursor if page.cursor is not None else cursor
                tickets += len(normalized)
                del page, normalized
                if len(waiting) >= COMMIT_LEAST:
                    start = time.process_time()
                    store.commit_page(settings.name, waiting, cursor)
                    spent["write"] += time.process_time() - start
                    waiting = []
            start = time.process_time()
            store.commit_page(settings.name, waiting, cursor)
            spent["write"] += time.process_time() - start
        start = time.process_time()
        store.cursor(settings.name)  # the first read builds the indexes the cold sync deferred
        spent["indexes"] = time.process_time() - start
    store.close()
    return spent | {"gc": collector.seconds, "tickets": tickets}


def cold_syncs(
    kind: str, tickets: int, rounds: int, rival_python: str | None
) -> tuple[dict[str, Run], dict[str, float]]:
    """The median runs of bare, once and the rival (if any) over ``rounds`` interleaved rounds, and the
    stage costs of a cold sync from the same simulator (``stage_costs``)."""
    clients = BENCH / "clients.py"
    with Simulators(kind, tickets=tickets, unlimited=True) as sims, tempfile.TemporaryDirectory() as tmp:
        helpdesk = sims.helpdesks[0]
        config = Path(tmp) / "once.yaml"
        commands: dict[str, tuple[list[str], Callable[[str], int]]] = {
            "bare": ([sys.executable, str(clients), f"bare-{kind}", json.dumps(helpdesk)], int),
            "once": ([sys.executable, "-m", "backlog_watch", "once", "--config", str(config)], once_changed),
        }
        if kind in RIVALS and rival_python is not None:
            commands["rival"] = ([rival_python, str(clients), RIVALS[kind][0], json.dumps(helpdesk)], int)
        timed(*commands["bare"])  # warm-up: the simulator builds its caches on the first pass
        runs: dict[str, list[Run]] = {name: [] for name in commands}
        for round_ in range(rounds):
            for name, (command, parse) in commands.items():
                if name == "once":
                    store = Path(tmp) / f"once-{round_}.db"
                    config.write_text(once_config(helpdesk, store))
                runs[name].append(timed(command, parse, env=os.environ | {"NO_COLOR": "1"}))
        stages = asyncio.run(stage_costs(helpdesk, Path(tmp)))
    return {name: _median(found) for name, found in runs.items()}, stages


def _median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs), runs[0].tickets)


# -- under the simulator's real limits, in process (throttle waits advance the simulated clock) --------

SIMULATORS: dict[str, Callable[..., Any]] = {
    "zendesk": ZendeskSimulator,
    "freshdesk": FreshdeskSimulator,
    "jira": JiraSimulator,
}


async def limited_sync(kind: str, tickets: int) -> tuple[int, int, int]:
    """A cold sync and an idle poll under enforced limits: (tickets stored, idle-poll requests, 429s)."""
    sim = SIMULATORS[kind](seed=12, tickets=tickets, clock=SimClock(), activity=QUIET)
    sim.clock.advance(120)
    await sim.start()

    async def sleep(seconds: float) -> None:  # a throttle wait moves the simulated clock, not the wall's
        sim.clock.advance(seconds)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "limited.db")
            async with httpx.AsyncClient() as client:
                factory = available_connectors()[kind]
                built = factory(sim.settings(kind), client, sleep=sleep, clock=sim.clock.timestamp)  # type: ignore[call-arg]
                result = await sync(built, store)
                sim.clock.advance(120)
                before = len(sim.requests)
                await sync(built, store)
                idle = len(sim.requests) - before
            store.close()
    finally:
        await sim.stop()
    return result.stored, idle, built.rate_limited


# -- the figures and the table -----------------------------------------------------------------------


def figures(
    kinds: tuple[str, ...] = tuple(TICKETS), *, quick: bool = False, rounds: int = 3, rivals: bool = True
) -> dict[str, dict[str, float]]:
    """Per kind: tickets, bare/once/rival wall and CPU seconds, the ratios, the goals, the limited run's
    429s and idle-poll requests. ``quick``: fewer tickets and one round (for the ``make bench`` table)."""
    rival_python = bench_python() if rivals and any(k in RIVALS for k in kinds) else None
    compile_sources()
    found: dict[str, dict[str, float]] = {}
    for kind in kinds:
        count = (QUICK if quick else TICKETS)[kind]
        print(f"{kind}: {count:,} tickets, simulator out of process ...", flush=True)
        runs, stages = cold_syncs(kind, count, 1 if quick else rounds, rival_python)
        row: dict[str, float] = {"tickets": count, "goal_vs_bare": GOAL_VS_BARE[kind]}
        row |= {f"stage_{name}_cpu": seconds for name, seconds in stages.items() if name != "tickets"}
        row["stage_tickets"] = stages["tickets"]
        for name, run in runs.items():
            row |= {f"{name}_wall": run.wall, f"{name}_cpu": run.cpu, f"{name}_tickets": run.tickets}
        for measure in ("wall", "cpu"):
            row[f"once_vs_bare_{measure}"] = row[f"bare_{measure}"] / row[f"once_{measure}"]
            if "rival" in runs:
                row[f"once_vs_rival_{measure}"] = row[f"rival_{measure}"] / row[f"once_{measure}"]
        if "rival" in runs:
            row["goal_vs_rival"] = RIVALS[kind][1]
        stored, idle, rate_limited = asyncio.run(limited_sync(kind, min(count, 20_000)))
        row |= {"limited_tickets": stored, "limited_429s": rate_limited, "idle_requests": idle}
        found[kind] = row
        print_kind(kind, row)
    return found


def print_kind(kind: str, row: dict[str, float]) -> None:
    goal = row["goal_vs_bare"]
    print(f"  {'client':<24}{'tickets':>9}{'wall s':>9}{'cpu s':>8}   ours vs it: wall   cpu")
    bare = f"{row['bare_tickets']:>9,.0f}{row['bare_wall']:>9.2f}{row['bare_cpu']:>8.2f}"
    print(f"  {'bare httpx + json.loads':<24}{bare}")
    ok = "met" if min(row["once_vs_bare_wall"], row["once_vs_bare_cpu"]) >= goal else "NOT MET"
    print(
        f"  {'backlog-watch once':<24}{row['once_tickets']:>9,.0f}{row['once_wall']:>9.2f}{row['once_cpu']:>8.2f}"
        f"   {row['once_vs_bare_wall']:>14.2f}x {row['once_vs_bare_cpu']:.2f}x  (goal >= {goal}x of bare: {ok})"
    )
    if "rival_wall" in row:
        name, times, measure = RIVALS[kind]
        ok = "met" if row[f"once_vs_rival_{measure}"] >= times else "NOT MET"
        print(
            f"  {name + ' (PyPI)':<24}{row['rival_tickets']:>9,.0f}{row['rival_wall']:>9.2f}{row['rival_cpu']:>8.2f}"
            f"   {row['once_vs_rival_wall']:>14.2f}x {row['once_vs_rival_cpu']:.2f}x  "
            f"(goal: {times:g}x faster by {measure}: {ok})"
        )
    per = 1e6 / row["stage_tickets"]
    spent = ", ".join(f"{name} {row[f'stage_{name}_cpu'] * per:.1f}" for name in STAGES)
    together = sum(row[f"stage_{name}_cpu"] for name in STAGES) * per
    bare_per, once_per = (row[f"{name}_cpu"] * 1e6 / row[f"{name}_tickets"] for name in ("bare", "once"))
    print(
        f"  where the CPU goes, us per ticket (in this process): {spent} (together {together:.1f}, before a "
        f"process starts, reads its config or evaluates); the cycle collector {row['stage_gc_cpu'] * per:.1f} "
        f"of them. Whole processes: bare {bare_per:.1f}, once {once_per:.1f}, once at the goal {bare_per / goal:.1f}"
    )
    print(
        f"  under enforced limits: {row['limited_429s']:.0f} 429s in a cold sync of {row['limited_tickets']:,.0f} "
        f"tickets (goal 0); an idle poll after it: {row['idle_requests']:.0f} requests",
        flush=True,
    )


def table_rows(found: dict[str, dict[str, float]]) -> dict[str, tuple[str, bool | None]]:
    """The rows of ``make bench``'s table: ours against bare (the slower of wall and CPU is the figure),
    and against the libraries (zenpy by wall, jira by CPU, as the issue measured them)."""
    rows: dict[str, tuple[str, bool | None]] = {}
    bare = [
        (kind, min(row["once_vs_bare_wall"], row["once_vs_bare_cpu"]), row["goal_vs_bare"])
        for kind, row in found.items()
    ]
    if bare:
        words = ", ".join(f"{kind} {ratio:.2f}x" for kind, ratio, _ in bare)
        rows["sync"] = (words, all(ratio >= goal for _, ratio, goal in bare))
    rivals = [(kind, row) for kind, row in found.items() if "once_vs_rival_wall" in row]
    if rivals:
        measured = [(kind, row[f"once_vs_rival_{RIVALS[kind][2]}"], RIVALS[kind]) for kind, row in rivals]
        words = " / ".join(f"{name} {ratio:.2f}x by {measure}" for _, ratio, (name, _, measure) in measured)
        rows["sync-libraries"] = (words, all(ratio >= times for _, ratio, (_, times, _) in measured))
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tickets, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(TICKETS), help="comma-separated connector kinds")
    parser.add_argument("--no-rivals", action="store_true", help="skip zenpy and jira (no .bench-venv)")
    arguments = parser.parse_args()
    kinds = tuple(k for k in arguments.only.split(",") if k)
    found = figures(kinds, quick=arguments.quick, rounds=arguments.rounds, rivals=not arguments.no_rivals)
    report("sync", table_rows(found), {"kinds": found})
