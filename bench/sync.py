"""Cold sync of a large simulated Zendesk: the connector against bare httpx + json.loads.

Prints, for one run (ratios are the figures; this machine is shared and noisy):
  - bare: the export pages fetched with httpx and parsed with json.loads, tickets/s
  - connector: ZendeskConnector.fetch + normalize over the same pages, tickets/s, and its ratio to bare
  - sync: the full sync() into SQLite on disk, tickets/s, and its ratio to bare
  - the requests a poll makes when nothing changed (must be 1)
  - the 429s received during the cold sync under the simulator's enforced export limit (goal 0)

Usage: python bench/sync.py [--tickets 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path

import httpx

from backlog_watch.connector import normalize_page, sync
from backlog_watch.simulate import QUIET, SimClock, ZendeskSimulator
from backlog_watch.store import SqliteStore
from connectors.zendesk import ZendeskConnector

EXPORT = "/api/v2/incremental/tickets/cursor.json"


async def bare(sim: ZendeskSimulator) -> int:
    count, params = 0, {"start_time": "0", "per_page": "1000", "include": "slas"}
    async with httpx.AsyncClient(base_url=sim.url, auth=(f"{sim.email}/token", sim.token)) as client:
        while True:
            body = json.loads((await client.get(EXPORT, params=params)).content)
            count += len(body["tickets"])
            if body["end_of_stream"]:
                return count
            params = {"cursor": body["after_cursor"], "per_page": "1000", "include": "slas"}


def connector(sim: ZendeskSimulator, client: httpx.AsyncClient) -> ZendeskConnector:
    # The injected sleep moves the simulator's clock: a throttle wait costs no wall time.
    async def sleep(seconds: float) -> None:
        sim.clock.advance(seconds)

    return ZendeskConnector(sim.settings(), client, sleep=sleep, clock=sim.clock.timestamp)


async def fetch_and_normalize(sim: ZendeskSimulator) -> int:
    count = 0
    async with httpx.AsyncClient(base_url=sim.url) as client:
        zd = connector(sim, client)
        async for page in zd.fetch(None):
            tickets, _ = normalize_page(zd, page.records)
            count += len(tickets)
    return count


async def full_sync(sim: ZendeskSimulator, db: Path) -> tuple[int, int, int]:
    store = SqliteStore(db)
    async with httpx.AsyncClient(base_url=sim.url) as client:
        zd = connector(sim, client)
        result = await sync(zd, store)
        before = len(sim.requests)
        await sync(zd, store)
        idle_requests = len(sim.requests) - before
        rate_limited = zd.rate_limited
    store.close()
    return result.stored, idle_requests, rate_limited


async def timed(label: str, work, baseline: float | None = None):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = await work
    seconds = time.perf_counter() - start
    count = result if isinstance(result, int) else result[0]
    rate = count / seconds
    ratio = f"  ({rate / baseline:.2f}x bare)" if baseline else ""
    print(f"{label:<28} {count:>8} tickets in {seconds:6.2f}s = {rate:>9,.0f} tickets/s{ratio}")
    return result, rate


async def main(tickets: int) -> None:
    clock = SimClock()
    print(f"generating {tickets:,} tickets...", flush=True)
    sim = ZendeskSimulator(seed=11, tickets=tickets, clock=clock, activity=QUIET,
                           export_rate_limit=1_000_000, account_rate_limit=1_000_000)
    await sim.start()
    clock.advance(120)
    try:
        _, bare_rate = await timed("bare httpx + json.loads", bare(sim))
        await timed("connector fetch+normalize", fetch_and_normalize(sim), bare_rate)
        with tempfile.TemporaryDirectory() as tmp:
            (stored, idle, _), _ = await timed("sync() into SQLite on disk", full_sync(sim, Path(tmp) / "b.db"),
                                               bare_rate)
        print(f"requests in an idle poll: {idle} (must be 1)")
    finally:
        await sim.stop()

    limited = ZendeskSimulator(seed=12, tickets=min(tickets, 20_000), clock=SimClock(), activity=QUIET)
    await limited.start()
    limited.clock.advance(120)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stored, _, rate_limited = await full_sync(limited, Path(tmp) / "l.db")
        print(f"429s during a cold sync of {stored:,} tickets and an idle poll under the enforced limit "
              f"(10 export requests/min): {rate_limited} (goal 0)")
    finally:
        await limited.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().tickets))
