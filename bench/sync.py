"""Cold sync of a large simulated helpdesk, for each connector: the connector against bare httpx + json.loads.

Prints, per connector (zendesk, freshdesk, jira), for one run (ratios are the figures; this machine is
shared and noisy):
  - bare: the same listing pages fetched with httpx and parsed with json.loads, tickets/s
  - connector: fetch + normalize over the same pages, tickets/s, and its ratio to bare
  - sync: the full sync() into SQLite on disk, tickets/s, and its ratio to bare
  - the requests a poll makes when nothing changed (the minimum is 1; Jira re-reads the issues updated
    within ``overlap`` of the last one seen, because JQL has minute precision and its index lags, so
    its minimum is one page per 100 such issues: the generated 100,000-issue history has ~320 in its
    last five minutes, hence 4 there)
  - the 429s received during a cold sync under the simulator's enforced limits (goal 0: the connector
    throttles before the limit instead of bouncing off it)

Throttle waits are simulated: the connectors' injected sleep advances the simulator's clock.

Usage: python bench/sync.py [--tickets 100000] [--only zendesk,freshdesk,jira]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from backlog_watch.sim import QUIET, FreshdeskSimulator, JiraSimulator, SimClock, ZendeskSimulator
from backlog_watch.sources.connector import available_connectors, normalize_page, sync
from backlog_watch.store.sqlite import SqliteStore

UNLIMITED = 10**9


async def bare_zendesk(sim: Any) -> int:
    count, params = 0, {"start_time": "0", "per_page": "1000", "include": "slas"}
    async with httpx.AsyncClient(base_url=sim.url, auth=(f"{sim.email}/token", sim.token)) as client:
        while True:
            body = json.loads((await client.get("/api/v2/incremental/tickets/cursor.json", params=params)).content)
            count += len(body["tickets"])
            if body["end_of_stream"]:
                return count
            params = {"cursor": body["after_cursor"], "per_page": "1000", "include": "slas"}


async def bare_freshdesk(sim: Any) -> int:
    """Pages of 100 with stats; at page 300 the window restarts from the last updated_at (overlap counted)."""
    count, since = 0, "2000-01-01T00:00:00Z"
    async with httpx.AsyncClient(base_url=sim.url, auth=(sim.api_key, "X")) as client:
        while True:
            url: str | None = "/api/v2/tickets"
            params: dict[str, Any] | None = {
                "updated_since": since,
                "order_by": "updated_at",
                "order_type": "asc",
                "per_page": 100,
                "include": "stats",
            }
            for _ in range(300):
                response = await client.get(url, params=params)  # type: ignore[arg-type]
                tickets = json.loads(response.content)
                count += len(tickets)
                url, params = response.links.get("next", {}).get("url"), None
                if url is None:
                    return count
                since = tickets[-1]["updated_at"]


async def bare_jira(sim: Any) -> int:
    fields = "summary,status,priority,assignee,created,updated,resolutiondate,labels,components," + ",".join(
        sim.fields.values()
    )
    params = {"jql": f"project = {sim.project} ORDER BY updated ASC", "fields": fields, "maxResults": 100}
    count = 0
    async with httpx.AsyncClient(base_url=sim.url, auth=(sim.email, sim.token)) as client:
        while True:
            body = json.loads((await client.get("/rest/api/3/search/jql", params=params)).content)
            count += len(body["issues"])
            if body.get("isLast", True):
                return count
            params["nextPageToken"] = body["nextPageToken"]


KINDS: dict[str, tuple[Callable[..., Any], dict[str, int], Callable[[Any], Awaitable[int]]]] = {
    "zendesk": (ZendeskSimulator, {"export_rate_limit": UNLIMITED, "account_rate_limit": UNLIMITED}, bare_zendesk),
    "freshdesk": (FreshdeskSimulator, {"rate_limit": UNLIMITED, "list_rate_limit": UNLIMITED}, bare_freshdesk),
    "jira": (JiraSimulator, {"rate_limit": UNLIMITED}, bare_jira),
}


def connector(kind: str, sim: Any, client: httpx.AsyncClient) -> Any:
    async def sleep(seconds: float) -> None:  # a throttle wait moves the simulated clock, not the wall's
        sim.clock.advance(seconds)

    factory = available_connectors()[kind]
    return factory(sim.settings(kind), client, sleep=sleep, clock=sim.clock.timestamp)  # type: ignore[call-arg]


async def fetch_and_normalize(kind: str, sim: Any) -> int:
    count = 0
    async with httpx.AsyncClient() as client:
        built = connector(kind, sim, client)
        async for page in built.fetch(None):
            tickets, _ = normalize_page(built, page.records)
            count += len(tickets)
    return count


async def full_sync(kind: str, sim: Any, db: Path) -> tuple[int, int, int]:
    store = SqliteStore(db)
    async with httpx.AsyncClient() as client:
        built = connector(kind, sim, client)
        result = await sync(built, store)
        sim.clock.advance(120)
        before = len(sim.requests)
        await sync(built, store)
        idle_requests = len(sim.requests) - before
        rate_limited = built.rate_limited
    store.close()
    return result.stored, idle_requests, rate_limited


async def timed(label: str, work: Awaitable[Any], baseline: float | None = None) -> tuple[Any, float]:
    start = time.perf_counter()
    result = await work
    seconds = time.perf_counter() - start
    count = result if isinstance(result, int) else result[0]
    rate = count / seconds
    ratio = f"  ({rate / baseline:.2f}x bare)" if baseline else ""
    print(f"  {label:<28} {count:>8} tickets in {seconds:6.2f}s = {rate:>9,.0f} tickets/s{ratio}", flush=True)
    return result, rate


async def bench(kind: str, tickets: int) -> None:
    simulator, unlimited, bare = KINDS[kind]
    print(f"{kind}: generating {tickets:,} tickets...", flush=True)
    sim = simulator(seed=11, tickets=tickets, clock=SimClock(), activity=QUIET, **unlimited)
    sim.clock.advance(120)
    await sim.start()
    try:
        await bare(sim)  # warm-up: the simulator's first pass builds its caches; time the second
        _, bare_rate = await timed("bare httpx + json.loads", bare(sim))
        await timed("connector fetch+normalize", fetch_and_normalize(kind, sim), bare_rate)
        with tempfile.TemporaryDirectory() as tmp:
            (_, idle, _), _ = await timed(
                "sync() into SQLite on disk", full_sync(kind, sim, Path(tmp) / "b.db"), bare_rate
            )
        print(f"  requests in an idle poll: {idle} (minimum 1)")
    finally:
        await sim.stop()

    limited = simulator(seed=12, tickets=min(tickets, 20_000), clock=SimClock(), activity=QUIET)
    limited.clock.advance(120)
    await limited.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stored, _, rate_limited = await full_sync(kind, limited, Path(tmp) / "l.db")
        print(
            f"  429s during a cold sync of {stored:,} tickets and an idle poll under the simulator's enforced "
            f"limits: {rate_limited} (goal 0)",
            flush=True,
        )
    finally:
        await limited.stop()


async def main(tickets: int, only: list[str]) -> None:
    for kind in only:
        await bench(kind, tickets)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--only", default=",".join(KINDS), help="comma-separated connector kinds")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.tickets, [k for k in arguments.only.split(",") if k]))
